"""Finds the old names in a program: what binds them and where they are used.

A program is a list of units parsed with libcst: one for a `.py` file, one
per code cell of a notebook, so that an alias bound in one cell is followed
into the next. Aliases are resolved by name over the whole program (imports
anywhere, `alias = module.path` assignments outside functions), not by
scope: a local variable reusing an alias's name is taken for the alias.

Only the parse tree is used, no libcst metadata: the passes number the
statements themselves, and tell stored names from loaded ones, so that the
cost stays close to libcst's parse.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Protocol, Sequence, TypeVar

import libcst as cst

from tfgradtools.migrate import _names

ROOTS = (
  _names.TENSORFLOW,
  _names.PROBABILITY,
  _names.TFGRADTOOLS,
  _names.NUMPY,
)
MODULES = (*ROOTS, _names.EAGER, _names.MATH, *_names.NEW_MODULES.values())
# Where a statement stands in the program: (unit, statement number). Every
# pass numbers the statements the same way, in the order they are written.
Order = tuple[int, int]
# Node types by class, not isinstance: libcst's base classes are ABCs, whose
# checks would be most of a pass's cost.
_STATEMENTS = frozenset(
  [
    cst.SimpleStatementLine,
    *(
      t
      for t in vars(cst).values()
      if isinstance(t, type) and issubclass(t, cst.BaseCompoundStatement)
    ),
  ]
)
_EXPRESSIONS = frozenset(
  t
  for t in vars(cst).values()
  if isinstance(t, type) and issubclass(t, cst.BaseExpression)
)


class Kind(enum.Enum):
  """What a use of a bound name is, as far as the migration goes."""

  GRADIENT = 'gradient'  # a gradient function: to tfgradtools
  RENAMED = 'renamed'  # a name with a TF2 equivalent: rewritten
  CALL = 'call'  # a call with a TF2 equivalent: rewritten
  REPORT = 'report'  # no equivalent: left in place and reported
  OTHER = 'other'  # anything else (`tf.constant`): left alone
  ALIAS = 'alias'  # the value of an `alias = module.path` binding


class Fate(enum.Enum):
  """What happens to a binding statement."""

  KEEP = 'keep'
  REMOVE = 'remove'
  REBIND = 'rebind'  # binds the same name to tfgradtools instead
  SUBMODULE = 'submodule'  # `import tensorflow.contrib.x` → `tensorflow`


def normalise(path: str) -> str:
  """`path` with an old module's other spelling replaced by its usual one."""
  for old, new in _names.OLD_SPELLINGS.items():
    if path == old or path.startswith(old + '.'):
      return new + path[len(old) :]
  return path


def old_module(path: str, tfp: bool) -> str | None:
  """`EAGER` or `MATH` if `path` is that module or inside it."""
  for module in (_names.EAGER, _names.MATH) if tfp else (_names.EAGER,):
    if path == module or path.startswith(module + '.'):
      return module
  return None


def ruled_module(path: str, tfp: bool) -> str | None:
  """The module whose rules apply to `path`: `old_module`'s, or
  `TENSORFLOW` (`NUMPY`) for a TF 1.x (removed NumPy) name this command
  rewrites."""
  module = old_module(path, tfp)
  if module is not None:
    return module
  for root in (_names.TENSORFLOW, _names.NUMPY):
    if (
      path.startswith(root + '.')
      and _names.lookup(root, path[len(root) + 1 :])[1] is not None
    ):
      return root
  return None


class _Bound(Protocol):
  """What binds a name: the path it binds, and where."""

  @property
  def path(self) -> str: ...

  @property
  def order(self) -> Order: ...


_B = TypeVar('_B', bound=_Bound)


def in_force(candidates: Sequence[_B], order: Order) -> _B | None:
  """Which of the bindings of one name (with `.path` and `.order`) a use at
  `order` means: the last one before it, or the first if none is; None if
  they bind different things (a name reused for something else)."""
  if len({b.path for b in candidates}) != 1:
    return None
  before = [b for b in candidates if b.order <= order]
  return before[-1] if before else candidates[0]


def call_arguments(
  rule: _names.Call, call: cst.Call
) -> list[tuple[str, cst.Arg]] | None:
  """The arguments of `call` under their new keywords, for `rule`'s new
  function (in the old order), or None if the call cannot be rewritten."""
  renames = dict(rule.keywords)
  arguments: list[tuple[str, cst.Arg]] = []
  for index, arg in enumerate(call.args):
    if arg.star or (arg.keyword is None and index >= len(rule.parameters)):
      return None
    name = (
      rule.parameters[index] if arg.keyword is None else (arg.keyword.value)
    )
    if name in rule.refused or name not in rule.parameters:
      return None
    new = renames.get(name, name)
    if new is not None:
      arguments.append((new, arg))
  return arguments


@dataclasses.dataclass(eq=False)
class Binding:
  """A statement binding `name` to the module or object at `path`."""

  name: str
  path: str
  order: Order
  node: cst.ImportAlias | cst.Assign
  statement: cst.Import | cst.ImportFrom | cst.Assign
  top_level: bool
  # `import a.b.c` of a module TF 2 lacks binds `a`; path is then `a`.
  submodule: bool = False


@dataclasses.dataclass(eq=False)
class Use:
  """A reference to a bound name: `node` is a Name, Attribute or Call."""

  binding: Binding
  node: cst.CSTNode
  kind: Kind
  module: str | None = None  # EAGER or MATH for their names
  name: str = ''  # the rule's name: 'metrics.Mean'
  rest: str = ''  # what follows the module: 'metrics.Mean.x'
  rule: _names.Rule | None = None
  alias: Binding | None = None  # for Kind.ALIAS
  unit: int = 0  # the unit it is in


class Program:
  """The bindings and uses of old names in `units` (None: did not parse)."""

  def __init__(self, units: list[cst.Module | None], tfp: bool):
    self.units = units
    self.tfp = tfp
    self.bindings: list[Binding] = []
    self.uses: list[Use] = []
    self.identifiers: set[str] = set()
    # The nodes that hold a use or a binding: the only ones a rewrite visits.
    self.ancestors: set[cst.CSTNode] = set()
    # Old training code: `self.track_layer(layer)` calls in tfe.Network
    # subclasses, and `apply_gradients(..., global_step=step)` statements.
    self.track_layer_calls: set[cst.Call] = set()
    self.global_step_calls: dict[cst.Call, cst.SimpleStatementLine] = {}
    # `enable_eager_execution(device_policy=tfe.DEVICE_PLACEMENT_SILENT)`:
    # TF 2 executes eagerly with that policy by default.
    self.default_policy_calls: set[cst.Call] = set()
    # `v.read_value()`, which Keras 3 variables lack, where the program's
    # layers become Keras ones.
    self.read_value_calls: set[cst.Call] = set()
    # `m.init_variables()`, which resets a TF 1.x metric, where the
    # program's metrics become Keras ones (`m.reset_state()`).
    self.init_variables_calls: set[cst.Call] = set()
    # Rewritten uses whose TF 2 form behaves otherwise: (unit, node, what
    # changes).
    self.notes: list[tuple[int, cst.CSTNode, str]] = []
    # What rewritten calls made, by the name or attribute holding it
    # (`self.cell`), and the calls of its methods that changed with it.
    self.made: dict[str, _names.Made] = {}
    self.made_calls: dict[cst.Call, _names.Made] = {}
    # The names holding an LSTM cell's state, and their `.c` and `.h`.
    self.lstm_states: set[str] = set()
    self.state_fields: set[cst.Attribute] = set()
    # Whether the program makes Keras layers or models (Keras 3 variables),
    # and its calls of TF 1.x optimizer methods that Keras ones lack.
    self.keras_variables = False
    self.tf1_methods: list[tuple[int, cst.Call]] = []
    # Calls that fail in TF 2 as they are: (unit, node, what to do).
    self.problems: list[tuple[int, cst.CSTNode, str]] = []
    # Whether the TF1 optimizers can all become Keras ones, as they must
    # where they update Keras 3 variables (TF 2's tf.compat.v1.train
    # optimizers with slots reject those): no TF1-only optimizer method is
    # called, and every global step can be split off.
    self.keras_optimizers = True
    self._by_name: dict[str, list[Binding]] = {}
    for index, unit in enumerate(units):
      if unit is not None:
        unit.visit(_BindingCollector(self, index))
    for index, unit in enumerate(units):
      if unit is not None:
        unit.visit(_UseCollector(self, index))
    keras_layers = self.keras_variables or any(
      use.kind in (Kind.RENAMED, Kind.CALL)
      and isinstance(use.rule, (_names.Renamed, _names.Call))
      and use.rule.target.startswith(_KERAS_TARGETS)
      for use in self.uses
    )
    if not keras_layers:
      self.read_value_calls.clear()
    if not any(
      use.kind is Kind.CALL
      and isinstance(use.rule, _names.Call)
      and '.keras.metrics.' in use.rule.target
      for use in self.uses
    ):
      self.init_variables_calls.clear()
    if not (keras_layers and self.keras_optimizers):
      # TF 1.x optimizers run in TF 2 on tf.Variables, and take less time a
      # step than Keras 3's: they stay, as tf.compat.v1.train's.
      for use in self.uses:
        if isinstance(use.rule, _names.Call) and use.rule.optimizer:
          use.kind = Kind.RENAMED
          use.rule = _names.Renamed(f'{{tf}}.compat.v1.{use.name}')
          if keras_layers:
            self.problems.append((use.unit, use.node, _SLOTS))
      self.global_step_calls.clear()
    if keras_layers:
      self.problems += [
        (unit, call, _TF1_METHODS) for unit, call in self.tf1_methods
      ]
    self._fates: dict[Binding, Fate] = {}

  # Bindings.

  def bind(self, binding: Binding) -> None:
    self.bindings.append(binding)
    self._by_name.setdefault(binding.name, []).append(binding)

  def binding_of(self, name: str, order: Order) -> Binding | None:
    """The binding of `name` in force at `order`, if unambiguous."""
    return in_force(self._by_name.get(name, []), order)

  def resolve(
    self, node: cst.CSTNode, order: Order
  ) -> tuple[Binding, str] | None:
    """The binding of `node`'s root name and the dotted path `node` means."""
    if isinstance(node, cst.Name):
      binding = self.binding_of(node.value, order)
      return (binding, binding.path) if binding else None
    if isinstance(node, cst.Attribute):
      inner = self.resolve(node.value, order)
      return inner and (inner[0], f'{inner[1]}.{node.attr.value}')
    return None

  # What happens to each binding.

  def uses_of(self, binding: Binding) -> list[Use]:
    return [u for u in self.uses if u.binding is binding]

  def fate(self, binding: Binding) -> Fate:
    if binding not in self._fates:
      self._fates[binding] = self._decide(binding)
    return self._fates[binding]

  def _decide(self, binding: Binding) -> Fate:
    uses = self.uses_of(binding)
    kept = any(
      u.kind in (Kind.REPORT, Kind.OTHER)
      or (
        u.kind is Kind.ALIAS
        and u.alias is not None
        and self.fate(u.alias) is Fate.KEEP
      )
      for u in uses
    )
    if binding.submodule:  # Another `import tensorflow` may do its work.
      others = [
        other
        for other in self.bindings
        if not other.submodule
        and other.path == binding.path
        and other.top_level
      ]
      return (
        Fate.REMOVE
        if any(other.name == binding.name or not kept for other in others)
        else Fate.SUBMODULE
      )
    module = old_module(binding.path, self.tfp)
    if (
      module == _names.MATH
      and binding.path != module
      and not self.rebinds(binding)
    ):
      return Fate.KEEP  # Another tfp.math function: TFP still has it.
    if module is not None:
      if kept:
        return Fate.KEEP
      if any(u.kind is Kind.GRADIENT for u in uses) and self.rebinds(binding):
        return Fate.REBIND
      return Fate.REMOVE
    if binding.path == _names.PROBABILITY and self.tfp and uses and not kept:
      return Fate.REMOVE  # Every use went to tfgradtools: TFP can go.
    if ruled_module(binding.path, self.tfp) is not None and not kept:
      return Fate.REMOVE  # A name imported by itself, rewritten wherever used.
    if uses and not kept and _names.rules_under(binding.path):
      return Fate.REMOVE  # A module whose names used here are all rewritten.
    return Fate.KEEP

  def rebinds(self, binding: Binding) -> bool:
    """Whether `binding` can name the tfgradtools module or function."""
    module = old_module(binding.path, self.tfp)
    rest = binding.path[len(module) + 1 :] if module else ''
    return module is not None and (
      not rest or isinstance(_names.lookup(module, rest)[1], _names.Gradient)
    )

  def new_path(self, binding: Binding) -> str:
    """What a rebound `binding` binds: `tfgradtools.eager[.function]`."""
    module = old_module(binding.path, self.tfp)
    if module is None:
      raise ValueError(f'{binding.path} is in no module this command moves')
    return _names.NEW_MODULES[module] + binding.path[len(module) :]


class _Walker(cst.CSTVisitor):
  """Numbers the statements of a unit and keeps the path to the node visited.

  Every pass numbers statements the same way (each pass enters every
  statement), so a binding and a use compare by their `Order`.
  """

  def __init__(self, program: Program, unit: int):
    super().__init__()
    self._program, self._unit = program, unit
    self._statement = 0
    self._path: list[cst.CSTNode] = []

  @property
  def order(self) -> Order:
    return self._unit, self._statement

  def on_visit(self, node: cst.CSTNode) -> bool:
    if type(node) in _STATEMENTS:
      self._statement += 1
    self._path.append(node)  # libcst leaves every node it visits.
    return super().on_visit(node)

  def on_leave(self, original_node: cst.CSTNode) -> None:
    super().on_leave(original_node)
    self._path.pop()

  def _mark(self, node: cst.CSTNode) -> None:
    """Records that `node`, and so every node around it, will be edited."""
    self._program.ancestors.update(self._path)
    self._program.ancestors.add(node)


class _BindingCollector(_Walker):
  """Records imports and module-level aliases of the modules we know.

  Statements only: expressions hold no binding this pass needs.
  """

  def __init__(self, program: Program, unit: int):
    super().__init__(program, unit)
    self._depth = 0  # functions and classes entered

  def on_visit(self, node: cst.CSTNode) -> bool:
    descend = super().on_visit(node)
    return descend and type(node) not in _EXPRESSIONS

  def _bind(
    self,
    name: str,
    path: str,
    node: cst.ImportAlias | cst.Assign,
    statement: cst.Import | cst.ImportFrom | cst.Assign,
    submodule: bool = False,
  ) -> None:
    path = normalise(path)
    self._program.identifiers.add(name)
    if path.split('.')[0] in ROOTS:
      self._program.bind(
        Binding(
          name,
          path,
          self.order,
          node,
          statement,
          self._depth == 0,
          submodule,
        )
      )
      self._mark(statement)

  def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
    self._depth += 1

  def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
    self._depth -= 1

  def visit_ClassDef(self, node: cst.ClassDef) -> None:
    self._depth += 1

  def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
    self._depth -= 1

  def visit_Import(self, node: cst.Import) -> bool:
    for alias in node.names:
      path = dotted(alias.name)
      if alias.asname:
        self._bind(
          cst.ensure_type(alias.asname.name, cst.Name).value, path, alias, node
        )
      else:
        root = path.split('.')[0]
        self._bind(
          root,
          root,
          alias,
          node,
          submodule=(
            old_module(normalise(path), False) is not None
            or path.startswith(_names.CONTRIB + '.')
          ),
        )
    return False

  def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
    if (
      node.relative
      or node.module is None
      or isinstance(node.names, cst.ImportStar)
    ):
      return False
    module = dotted(node.module)
    for alias in node.names:
      name = (
        cst.ensure_type(alias.asname.name, cst.Name).value
        if alias.asname
        else dotted(alias.name)
      )
      self._bind(name, f'{module}.{dotted(alias.name)}', alias, node)
    return False

  def visit_Assign(self, node: cst.Assign) -> bool:
    """`tfe = tf.contrib.eager`: an alias of a module (of a function, it is
    an ordinary assignment, rewritten like any other use)."""
    if (
      self._depth == 0
      and len(node.targets) == 1
      and isinstance(node.targets[0].target, cst.Name)
    ):
      resolved = self._program.resolve(node.value, self.order)
      if resolved and resolved[1] in MODULES:
        self._bind(node.targets[0].target.value, resolved[1], node, node)
    return False


class _UseCollector(_Walker):
  """Classifies every reference to a bound name of the modules we know.

  A reference is a loaded name: names that are stored (assignment and loop
  targets, parameters, definitions) or that are not expressions (attribute
  and keyword names) are told apart from the tree itself.
  """

  def __init__(self, program: Program, unit: int):
    super().__init__(program, unit)
    self._aliases = {
      b.node: b
      for b in program.bindings
      if b.order[0] == unit and isinstance(b.node, cst.Assign)
    }
    self._skip: set[cst.CSTNode] = set()  # names that are no references
    self._stored: set[cst.CSTNode] = set()  # attributes assigned or deleted
    self._classes: list[bool] = []  # classes entered: Networks?

  def _record(
    self,
    node: cst.CSTNode,
    binding: Binding,
    path: str,
    kind: Kind | None = None,
    alias: Binding | None = None,
    call: bool = False,
  ) -> None:
    """Records a use; `kind` None: classified by the name it reaches."""
    use = Use(binding, node, kind or Kind.OTHER, alias=alias, unit=self._unit)
    module = ruled_module(path, self._program.tfp)
    if kind is None and module is not None:
      _classify(use, module, path[len(module) + 1 :], call)
    self._program.uses.append(use)
    self._mark(node)
    if path.startswith(_KERAS_VARIABLES):
      self._program.keras_variables = True
    note = getattr(use.rule, 'note', '')
    if note and use.kind in (Kind.RENAMED, Kind.CALL):
      called = node if call else self._path[-2]
      if not (
        note == _names.LAYER_DTYPE
        and isinstance(called, cst.Call)
        and any(
          a.keyword is not None and a.keyword.value == 'dtype'
          for a in called.args
        )
      ):
        self._program.notes.append((self._unit, node, note))

  def _store(self, target: cst.BaseExpression) -> None:
    """Marks what an assignment target stores into."""
    if isinstance(target, cst.Name):
      self._skip.add(target)
    elif isinstance(target, cst.Attribute):
      self._stored.add(target)
    elif isinstance(target, (cst.Tuple, cst.List)):
      for element in target.elements:
        self._store(element.value)
    elif isinstance(target, cst.StarredElement):
      self._store(target.value)

  # Statements and expressions that store names.

  def visit_Import(self, node: cst.Import) -> bool:
    return False

  def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
    return False

  def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
    self._store(node.target)

  def visit_AugAssign(self, node: cst.AugAssign) -> None:
    self._store(node.target)

  def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
    self._store(node.target)

  def visit_For(self, node: cst.For) -> None:
    self._store(node.target)

  def visit_CompFor(self, node: cst.CompFor) -> None:
    self._store(node.target)

  def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
    self._store(node.target)

  def visit_Del(self, node: cst.Del) -> None:
    self._store(node.target)

  def visit_AsName(self, node: cst.AsName) -> None:  # with, except
    self._store(node.name)

  def visit_Param(self, node: cst.Param) -> None:
    self._skip.add(node.name)

  def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
    self._skip.add(node.name)

  def visit_NameItem(self, node: cst.NameItem) -> None:  # global, nonlocal
    self._skip.add(node.name)

  def visit_MatchAs(self, node: cst.MatchAs) -> None:
    if node.name is not None:
      self._skip.add(node.name)

  def visit_MatchStar(self, node: cst.MatchStar) -> None:
    if node.name is not None:
      self._skip.add(node.name)

  def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
    if node.rest is not None:
      self._skip.add(node.rest)

  def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> None:
    self._skip.add(node.key)

  def visit_Arg(self, node: cst.Arg) -> None:
    if node.keyword is not None:
      self._skip.add(node.keyword)
      self._program.identifiers.add(node.keyword.value)

  # References.

  def visit_Assign(self, node: cst.Assign) -> bool:
    alias = self._aliases.get(node)
    if alias is None:
      self._made(node)
      return True
    resolved = self._program.resolve(node.value, self.order)
    if resolved is not None:  # The name it aliases is bound where it is.
      self._record(node.value, *resolved, Kind.ALIAS, alias)
    return False

  def visit_ClassDef(self, node: cst.ClassDef) -> None:
    self._skip.add(node.name)
    self._classes.append(
      any(
        (self._program.resolve(base.value, self.order) or (None, ''))[1]
        == f'{_names.EAGER}.Network'
        for base in node.bases
      )
    )

  def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
    self._classes.pop()

  def visit_Call(self, node: cst.Call) -> None:
    self._method_call(node)
    resolved = self._program.resolve(node.func, self.order)
    if resolved and resolved[1] in _names.ENABLE_EAGER:
      for arg in node.args:
        if (
          arg.keyword is not None
          and arg.keyword.value == 'device_policy'
          and (self._program.resolve(arg.value, self.order) or (None, ''))[1]
          == _names.DEFAULT_POLICY
        ):
          self._program.default_policy_calls.add(node)
          self._skip.add(arg.value)
          self._mark(node)
    module = resolved and ruled_module(resolved[1], self._program.tfp)
    if not (resolved and module):
      return
    _, rule = _names.lookup(module, resolved[1][len(module) + 1 :])
    if (
      isinstance(rule, _names.Renamed)
      and rule.arity is not None
      and len(node.args) == rule.arity
      and all(a.keyword is None and not a.star for a in node.args)
    ) or (
      isinstance(rule, _names.Call) and call_arguments(rule, node) is not None
    ):
      self._record(node, resolved[0], resolved[1], call=True)
      self._skip.add(node.func)

  def _made_by(self, node: cst.BaseExpression) -> _names.Made | None:
    """What `node` is, if a rewritten call made it: the call itself, or a
    name or attribute it was assigned to."""
    if isinstance(node, cst.Call):
      resolved = self._program.resolve(node.func, self.order)
      module = resolved and ruled_module(resolved[1], self._program.tfp)
      if not (resolved and module):
        return None
      rule = _names.lookup(module, resolved[1][len(module) + 1 :])[1]
      if isinstance(rule, _names.Call) and call_arguments(rule, node):
        return rule.made
      return None
    text = dotted(node)
    return self._program.made.get(text) if text else None

  def _made(self, node: cst.Assign) -> None:
    """Follows what a rewritten call makes, and an LSTM cell's state, to
    the names they are assigned to."""
    made = self._made_by(node.value)
    if made is not None:
      for target in node.targets:
        text = dotted(target.target)
        if text:
          self._program.made[text] = made
      return
    value = node.value
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
      if (
        value.func.attr.value == 'zero_state'
        and self._made_by(value.func.value) is _names.Made.LSTM
      ):
        self._program.lstm_states.update(dotted(t.target) for t in node.targets)
      elif self._made_by(value.func) is _names.Made.LSTM:
        # `output, state = cell(inputs, state)`
        for target in node.targets:
          pair = target.target
          if (
            isinstance(pair, (cst.Tuple, cst.List)) and len(pair.elements) == 2
          ):
            self._program.lstm_states.add(dotted(pair.elements[1].value))
    self._program.lstm_states.discard('')

  def _method_call(self, node: cst.Call) -> None:
    """Notes the calls of old training code that are no name of a module."""
    if not isinstance(node.func, cst.Attribute):
      return
    method, receiver = node.func.attr.value, node.func.value
    if method in _MADE_METHOD_NAMES:
      made = self._made_by(receiver)
      if made is not None and method in _MADE_METHODS[made]:
        self._program.made_calls[node] = made
        self._mark(node)
        dtype = [
          a.value
          for index, a in enumerate(node.args)
          if (a.keyword is None and index == 1)
          or (a.keyword is not None and a.keyword.value == 'dtype')
        ]
        if method == 'zero_state' and not all(
          dotted(d).endswith('float32') for d in dtype
        ):
          self._program.notes.append((self._unit, node, _STATE_DTYPE))
        return
    if (
      method == 'track_layer'
      and self._classes
      and self._classes[-1]
      and isinstance(receiver, cst.Name)
      and receiver.value == 'self'
      and len(node.args) == 1
      and node.args[0].keyword is None
      and not node.args[0].star
    ):
      self._program.track_layer_calls.add(node)
      self._mark(node)
    elif method == 'read_value' and not node.args:
      self._program.read_value_calls.add(node)
      self._mark(node)
    elif method == 'init_variables' and not node.args:
      self._program.init_variables_calls.add(node)
      self._mark(node)
    elif method in ('minimize', 'compute_gradients'):
      self._program.keras_optimizers = False
      self._program.tf1_methods.append((self._unit, node))
    elif method == 'apply_gradients' and any(
      a.keyword is not None and a.keyword.value == 'global_step'
      for a in node.args
    ):
      line, statement = self._path[-3:-1]
      if (
        isinstance(statement, cst.Expr)
        and statement.value is node
        and isinstance(line, cst.SimpleStatementLine)
        and len(line.body) == 1
      ):
        self._program.global_step_calls[node] = line
        self._mark(node)
      else:
        self._program.keras_optimizers = False

  def visit_Attribute(self, node: cst.Attribute) -> bool:
    if node in self._skip:
      return False
    if (
      node.attr.value in ('c', 'h')
      and node not in self._stored
      and dotted(node.value) in self._program.lstm_states
    ):
      self._program.state_fields.add(node)
      self._mark(node)
      return False
    self._skip.add(node.attr)
    self._program.identifiers.add(node.attr.value)
    resolved = self._program.resolve(node, self.order)
    if resolved is None:
      return True
    if node in self._stored:  # `tfe.x = ...`: keep tfe.
      self._record(node, *resolved, Kind.OTHER)
    else:
      self._record(node, *resolved)
    return False

  def visit_Name(self, node: cst.Name) -> bool:
    self._program.identifiers.add(node.value)
    if node in self._skip:
      return False
    resolved = self._program.resolve(node, self.order)
    if resolved is not None:
      self._record(node, *resolved)
    return False


def dotted(node: cst.BaseExpression) -> str:
  """`a.b.c` for a chain of names (an import's module, `self.cell`), else
  the empty string."""
  if isinstance(node, cst.Attribute):
    inner = dotted(node.value)
    return inner and f'{inner}.{node.attr.value}'
  return node.value if isinstance(node, cst.Name) else ''


# Where a program's variables are Keras 3 ones: the layers and models of
# tf.keras.
_KERAS_VARIABLES = tuple(
  f'{_names.TENSORFLOW}.keras.{name}'
  for name in ('layers.', 'Model', 'Sequential', 'models.', 'applications.')
)
# The methods of what rewritten calls make that changed with them.
_MADE_METHODS: dict[_names.Made, tuple[str, ...]] = {
  _names.Made.CELL: ('zero_state',),
  _names.Made.LSTM: ('zero_state',),
  _names.Made.SAVER: ('save',),
}
# What rewritten TF 1.x names start with where they make Keras layers.
_KERAS_TARGETS = ('{tf}.keras.layers.', '{tf}.keras.Model')
_TF1_METHODS = (
  'fails in TF 2 where the variables are Keras 3 ones (those of tf.keras '
  'layers and models): tf.compat.v1.train optimizers minimize and compute '
  'gradients of tf.Variables only; compute the gradients with '
  'tf.GradientTape and apply them with apply_gradients(), of a '
  'tf.keras.optimizers optimizer for momentum or Adam'
)
_SLOTS = (
  "fails in TF 2 where it updates Keras 3 variables (those of tf.keras "
  "layers and models): a tf.compat.v1.train optimizer's slots take "
  "tf.Variables only; use tf.keras.optimizers' (SGD(momentum=...), Adam) "
  "with a tf.GradientTape and apply_gradients()"
)
_MADE_METHOD_NAMES = frozenset(m for ms in _MADE_METHODS.values() for m in ms)
_STATE_DTYPE = (
  "behaviour change: a Keras cell's initial state has the cell's dtype "
  '(float32 unless the cell was made with dtype=), not the one zero_state '
  'was given'
)


def _classify(use: Use, module: str, rest: str, call: bool) -> None:
  """Sets what `use` of `module.rest` is, from the rules in `_names`."""
  use.module, use.rest = module, rest
  if not rest:
    use.kind, use.rule = (
      (Kind.REPORT, _names.AS_VALUE)
      if module == _names.EAGER
      else (Kind.OTHER, None)
    )
    return
  use.name, use.rule = _names.lookup(module, rest)
  if isinstance(use.rule, _names.Gradient):
    use.kind = Kind.GRADIENT
  elif isinstance(use.rule, _names.Renamed) and use.rule.arity is None:
    use.kind = Kind.RENAMED
  elif isinstance(use.rule, _names.Renamed):
    if call:
      use.kind = Kind.CALL
    else:
      use.kind, use.rule = Kind.REPORT, _names.Report(use.rule.advice)
  elif isinstance(use.rule, _names.Report):
    use.kind = Kind.REPORT
  elif isinstance(use.rule, _names.Call) and call:
    use.kind = Kind.CALL
