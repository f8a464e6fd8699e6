"""Finds the old names in a program: what binds them and where they are used.

A program is a list of units parsed with libcst: one for a `.py` file, one
per code cell of a notebook, so that an alias bound in one cell is followed
into the next. Aliases are resolved by name over the whole program (imports
anywhere, `alias = module.path` assignments outside functions), not by
scope: a local variable reusing an alias's name is taken for the alias.
"""

from __future__ import annotations

import dataclasses
import enum

import libcst as cst
from libcst import metadata

from tfgradtools.migrate import _names

_ROOTS = (_names.TENSORFLOW, _names.PROBABILITY, _names.TFGRADTOOLS)
_MODULES = (*_ROOTS, _names.EAGER, _names.MATH, *_names.NEW_MODULES.values())
_CONTEXT = metadata.ExpressionContextProvider
_POSITION = metadata.PositionProvider


class Kind(enum.Enum):
  """What a use of a bound name is, as far as the migration goes."""
  GRADIENT = 'gradient'   # a gradient function: to tfgradtools
  RENAMED = 'renamed'     # a name with a TF2 equivalent: rewritten
  CALL = 'call'           # a call with a TF2 equivalent: rewritten
  REPORT = 'report'       # no equivalent: left in place and reported
  OTHER = 'other'         # anything else (`tf.constant`): left alone
  ALIAS = 'alias'         # the value of an `alias = module.path` binding


class Fate(enum.Enum):
  """What happens to a binding statement."""
  KEEP = 'keep'
  REMOVE = 'remove'
  REBIND = 'rebind'         # binds the same name to tfgradtools instead
  SUBMODULE = 'submodule'   # `import tensorflow.contrib.eager` → `tensorflow`


def normalise(path: str) -> str:
  """`path` with an old module's other spelling replaced by its usual one."""
  for old, new in _names.OLD_SPELLINGS.items():
    if path == old or path.startswith(old + '.'):
      return new + path[len(old):]
  return path


def old_module(path: str, tfp: bool) -> str | None:
  """`EAGER` or `MATH` if `path` is that module or inside it."""
  for module in (_names.EAGER, _names.MATH) if tfp else (_names.EAGER,):
    if path == module or path.startswith(module + '.'):
      return module
  return None


def dotted(node: cst.Name | cst.Attribute) -> str:
  """The dotted name of an import: `tensorflow.contrib.eager`."""
  if isinstance(node, cst.Attribute):
    return f'{dotted(node.value)}.{node.attr.value}'
  return node.value


@dataclasses.dataclass(eq=False)
class Binding:
  """A statement binding `name` to the module or object at `path`."""
  name: str
  path: str
  unit: int
  line: int
  node: cst.ImportAlias | cst.Assign
  statement: cst.Import | cst.ImportFrom | cst.Assign
  top_level: bool
  submodule: bool = False    # `import a.b.c` binds `a`; path is then `a`


@dataclasses.dataclass(eq=False)
class Use:
  """A reference to a bound name: `node` is a Name, Attribute or Call."""
  binding: Binding
  node: cst.CSTNode
  unit: int
  line: int
  column: int
  kind: Kind
  module: str | None = None          # EAGER or MATH for their names
  name: str = ''                     # the rule's name: 'metrics.Mean'
  rest: str = ''                     # what follows the module: 'metrics.Mean.x'
  rule: _names.Rule | None = None
  alias: Binding | None = None       # for Kind.ALIAS


@dataclasses.dataclass(frozen=True)
class Finding:
  """A name that needs a person: `unit` is the cell, `column` 1-based."""
  unit: int
  line: int
  column: int
  name: str
  advice: str


class Program:
  """The bindings and uses of old names in `units` (None: did not parse)."""

  def __init__(self, units: list[metadata.MetadataWrapper | None],
               tfp: bool):
    self.units = units
    self.tfp = tfp
    self.bindings: list[Binding] = []
    self.uses: list[Use] = []
    self.star_imports: list[Finding] = []
    self.identifiers: set[str] = set()
    self._by_name: dict[str, list[Binding]] = {}
    for index, unit in enumerate(units):
      if unit is not None:
        unit.visit(_BindingCollector(self, index))
    for index, unit in enumerate(units):
      if unit is not None:
        unit.visit(_UseCollector(self, index))
    self._fates: dict[Binding, Fate] = {}

  # Bindings.

  def bind(self, binding: Binding) -> None:
    self.bindings.append(binding)
    self._by_name.setdefault(binding.name, []).append(binding)

  def binding_of(self, name: str, unit: int, line: int) -> Binding | None:
    """The binding of `name` in force at (unit, line), if unambiguous."""
    candidates = self._by_name.get(name, [])
    if len({b.path for b in candidates}) != 1:
      return None
    before = [b for b in candidates if (b.unit, b.line) <= (unit, line)]
    return before[-1] if before else candidates[0]

  def resolve(self, node: cst.CSTNode, unit: int, line: int
              ) -> tuple[Binding, str] | None:
    """The binding of `node`'s root name and the dotted path `node` means."""
    if isinstance(node, cst.Name):
      binding = self.binding_of(node.value, unit, line)
      return (binding, binding.path) if binding else None
    if isinstance(node, cst.Attribute):
      inner = self.resolve(node.value, unit, line)
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
    if binding.submodule:   # Another `import tensorflow` may do its work.
      return Fate.REMOVE if any(
          other.name == binding.name and other.path == binding.path and
          not other.submodule for other in self.bindings) else Fate.SUBMODULE
    uses = self.uses_of(binding)
    kept = any(u.kind in (Kind.REPORT, Kind.OTHER) or
               (u.kind is Kind.ALIAS and self.fate(u.alias) is Fate.KEEP)
               for u in uses)
    module = old_module(binding.path, self.tfp)
    if module == _names.MATH and binding.path != module and not self.rebinds(
        binding):
      return Fate.KEEP   # Another tfp.math function: TFP still has it.
    if module is not None:
      if kept:
        return Fate.KEEP
      if any(u.kind is Kind.GRADIENT for u in uses) and self.rebinds(binding):
        return Fate.REBIND
      return Fate.REMOVE
    if binding.path == _names.PROBABILITY and self.tfp and uses and not kept:
      return Fate.REMOVE   # Every use went to tfgradtools: TFP can go.
    return Fate.KEEP

  def rebinds(self, binding: Binding) -> bool:
    """Whether `binding` can name the tfgradtools module or function."""
    module = old_module(binding.path, self.tfp)
    rest = binding.path[len(module) + 1:] if module else ''
    return module is not None and (
        not rest or isinstance(_names.lookup(module, rest)[1],
                               _names.Gradient))

  def new_path(self, binding: Binding) -> str:
    """What a rebound `binding` binds: `tfgradtools.eager[.function]`."""
    module = old_module(binding.path, self.tfp)
    return _names.NEW_MODULES[module] + binding.path[len(module):]

  def findings(self) -> list[Finding]:
    """The uses left for a person, and the star imports, in order."""
    found = list(self.star_imports)
    for use in self.uses:
      if use.kind is Kind.REPORT:
        name = _names.SHORT[use.module]
        found.append(Finding(use.unit, use.line, use.column,
                             f'{name}.{use.name}' if use.name else name,
                             use.rule.advice))
    return sorted(found, key=lambda f: (f.unit, f.line, f.column))


class _BindingCollector(cst.CSTVisitor):
  """Records imports and module-level aliases of the modules we know."""

  METADATA_DEPENDENCIES = (_POSITION,)

  def __init__(self, program: Program, unit: int):
    super().__init__()
    self._program, self._unit = program, unit
    self._depth = 0   # functions and classes entered

  def _bind(self, name, path, node, statement, **kwargs):
    path = normalise(path)
    self._program.identifiers.add(name)
    if path.split('.')[0] in _ROOTS:
      line = self.get_metadata(_POSITION, statement).start.line
      self._program.bind(Binding(name, path, self._unit, line, node,
                                 statement, self._depth == 0, **kwargs))

  def visit_Name(self, node: cst.Name) -> None:
    self._program.identifiers.add(node.value)

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
        self._bind(alias.asname.name.value, path, alias, node)
      else:
        root = path.split('.')[0]
        self._bind(root, root, alias, node,
                   submodule=old_module(normalise(path), False) is not None)
    return False

  def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
    if node.relative or node.module is None:
      return False
    module = dotted(node.module)
    if isinstance(node.names, cst.ImportStar):
      old = old_module(normalise(module), self._program.tfp)
      if old is not None:
        start = self.get_metadata(_POSITION, node).start
        self._program.star_imports.append(Finding(
            self._unit, start.line, start.column + 1,
            f'from {_names.SHORT[old]} import *', _names.STAR_IMPORT.advice))
      return False
    for alias in node.names:
      name = alias.asname.name.value if alias.asname else alias.name.value
      self._bind(name, f'{module}.{alias.name.value}', alias, node)
    return False

  def visit_Assign(self, node: cst.Assign) -> None:
    """`tfe = tf.contrib.eager`: an alias of a module (of a function, it is
    an ordinary assignment, rewritten like any other use)."""
    if (self._depth == 0 and len(node.targets) == 1 and
        isinstance(node.targets[0].target, cst.Name)):
      line = self.get_metadata(_POSITION, node).start.line
      resolved = self._program.resolve(node.value, self._unit, line)
      if resolved and resolved[1] in _MODULES:
        self._bind(node.targets[0].target.value, resolved[1], node, node)


class _UseCollector(cst.CSTVisitor):
  """Classifies every reference to a bound name of the modules we know."""

  METADATA_DEPENDENCIES = (_POSITION, _CONTEXT)

  def __init__(self, program: Program, unit: int):
    super().__init__()
    self._program, self._unit = program, unit
    self._aliases = {b.node: b for b in program.bindings
                     if b.unit == unit and isinstance(b.node, cst.Assign)}
    self._skip: set[cst.CSTNode] = set()

  def _line(self, node: cst.CSTNode) -> int:
    return self.get_metadata(_POSITION, node).start.line

  def _record(self, node: cst.CSTNode, binding: Binding, path: str,
              kind: Kind | None = None, alias: Binding | None = None,
              call: bool = False) -> None:
    """Records a use; `kind` None: classified by the name it reaches."""
    start = self.get_metadata(_POSITION, node).start
    use = Use(binding, node, self._unit, start.line, start.column + 1,
              kind or Kind.OTHER, alias=alias)
    module = old_module(path, self._program.tfp)
    if kind is None and module is not None:
      _classify(use, module, path[len(module) + 1:], call)
    self._program.uses.append(use)

  def visit_Import(self, node: cst.Import) -> bool:
    return False

  def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
    return False

  def visit_Arg(self, node: cst.Arg) -> None:
    if node.keyword is not None:
      self._skip.add(node.keyword)

  def visit_Assign(self, node: cst.Assign) -> bool:
    alias = self._aliases.get(node)
    if alias is None:
      return True
    binding, path = self._program.resolve(node.value, self._unit,
                                          self._line(node))
    self._record(node.value, binding, path, Kind.ALIAS, alias)
    return False

  def visit_Call(self, node: cst.Call) -> None:
    resolved = self._program.resolve(node.func, self._unit, self._line(node))
    module = resolved and old_module(resolved[1], self._program.tfp)
    if not module:
      return
    _, rule = _names.lookup(module, resolved[1][len(module) + 1:])
    if (isinstance(rule, _names.Renamed) and rule.arity is not None and
        len(node.args) == rule.arity and
        all(a.keyword is None and not a.star for a in node.args)):
      self._record(node, *resolved, call=True)
      self._skip.add(node.func)

  def visit_Attribute(self, node: cst.Attribute) -> bool:
    if node in self._skip:
      return False
    resolved = self._program.resolve(node, self._unit, self._line(node))
    if resolved is None:
      return True
    if self.get_metadata(_CONTEXT, node) is metadata.ExpressionContext.LOAD:
      self._record(node, *resolved)
    else:
      self._record(node, *resolved, Kind.OTHER)   # `tfe.x = ...`: keep tfe.
    return False

  def visit_Name(self, node: cst.Name) -> bool:
    # Only loads are references; an attribute's or a keyword's name has no
    # context, a stored name is a new binding.
    if (node in self._skip or self.get_metadata(_CONTEXT, node, None)
        is not metadata.ExpressionContext.LOAD):
      return False
    resolved = self._program.resolve(node, self._unit, self._line(node))
    if resolved is not None:
      self._record(node, *resolved)
    return False


def _classify(use: Use, module: str, rest: str, call: bool) -> None:
  """Sets what `use` of `module.rest` is, from the rules in `_names`."""
  use.module, use.rest = module, rest
  if not rest:
    use.kind, use.rule = ((Kind.REPORT, _names.AS_VALUE)
                          if module == _names.EAGER else (Kind.OTHER, None))
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
