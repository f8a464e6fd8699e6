"""Rewrites a program's old names, imports included, and nothing else.

Every node the migration does not touch is printed back by libcst as it was
read, so comments and formatting survive byte for byte. Gradient functions go
to `tfgradtools` (an alias that only named gradient functions is rebound in
place: `import tensorflow.contrib.eager as tfe` becomes `import
tfgradtools.eager as tfe` and its uses stay as they are); names with a
TensorFlow 2 equivalent become it; an import nothing needs any more goes.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, TypeVar, Union, cast

import libcst as cst

from tfgradtools.migrate import _analysis
from tfgradtools.migrate import _names
from tfgradtools.migrate._analysis import Fate
from tfgradtools.migrate._analysis import Kind

# Replaces a node recorded for an edit: it is given the node as updated (of
# the recorded node's own type: a Call for a call, ...).
_Replace = Callable[[Any], cst.CSTNode]
_N = TypeVar('_N', bound=cst.CSTNode)
# What a statement becomes: itself or another, several, or nothing.
_Lines = Union[
  cst.SimpleStatementLine,
  cst.FlattenSentinel[cst.SimpleStatementLine],
  cst.RemovalSentinel,
]
_EMPTY = cst.Module(body=[])
# New imports go in this order: NumPy, TensorFlow, then tfgradtools'.
_RANKS = {_names.NUMPY: 0, _names.TENSORFLOW: 1}
_NEW_MODULE_RANK, _TFGRADTOOLS_RANK = 2, 3


def rewrite(program: _analysis.Program) -> list[str | None]:
  """The code of each unit after migration (`None` for unparsed units)."""
  plan = _Plan(program)
  return [
    None if unit is None else unit.visit(_Rewriter(plan, index)).code
    for index, unit in enumerate(program.units)
  ]


def code(node: cst.CSTNode) -> str:
  """`node` as written."""
  return _EMPTY.code_for_node(node)


@functools.lru_cache(maxsize=1024)
def _statement(code: str) -> cst.SimpleStatementLine:
  return cst.ensure_type(
    cst.parse_statement(code + '\n'), cst.SimpleStatementLine
  )


@functools.lru_cache(maxsize=1024)
def _parse(code: str) -> cst.BaseExpression:
  """An expression's tree; trees are immutable, so one serves every use."""
  return cst.parse_expression(code)


class _Plan:
  """Decides every edit: uses, binding statements and new imports."""

  def __init__(self, program: _analysis.Program):
    self.program = program
    self._new_imports: dict[str, int] = {}  # statement → its rank
    self.uses: dict[cst.CSTNode, _Replace] = {}
    for use in program.uses:
      replace = self._replacement(use)
      if replace is not None:
        self.uses[use.node] = replace
    for call in program.track_layer_calls:  # The layer itself.
      self.uses[call] = lambda call: call.args[0].value
    for call in program.global_step_calls:
      self.uses[call] = functools.partial(_without, 'global_step')
    for call in program.default_policy_calls:
      self.uses[call] = functools.partial(_without, 'device_policy')
    if program.read_value_calls:
      tf = self._module_ref(_names.TENSORFLOW)
      for call in program.read_value_calls:  # What read_value() returns.
        self.uses[call] = lambda call: cst.Call(
          _parse(f'{tf}.convert_to_tensor'), [cst.Arg(call.func.value)]
        )
    for call, made in program.made_calls.items():
      self.uses[call] = _MADE_CALLS[made]
    for field in program.state_fields:  # LSTMStateTuple(c, h) is [h, c].
      self.uses[field] = lambda field: cst.Subscript(
        field.value,
        [
          cst.SubscriptElement(
            cst.Index(cst.Integer('1' if field.attr.value == 'c' else '0'))
          )
        ],
        lpar=field.lpar,
        rpar=field.rpar,
      )
    for call in program.init_variables_calls:
      self.uses[call] = lambda call: call.with_changes(
        func=call.func.with_changes(attr=cst.Name('reset_state'))
      )
    self.step_lines = {
      line: call for call, line in program.global_step_calls.items()
    }
    self.bindings = {b.node: b for b in program.bindings}
    self.edited = {
      b.statement for b in program.bindings if program.fate(b) is not Fate.KEEP
    }
    self.anchor, self.before = self._anchor()

  def _replacement(self, use: _analysis.Use) -> _Replace | None:
    rule = use.rule
    if use.kind is Kind.GRADIENT:
      if self.program.fate(use.binding) is Fate.REBIND:
        return None
      return _expression(f'{self._new_ref(_module(use))}.{use.rest}')
    if use.kind is Kind.RENAMED and isinstance(rule, _names.Renamed):
      target = (
        rule.target.format(**self._refs(rule.target))
        + use.rest[len(use.name) :]
      )
      if isinstance(use.node, cst.Call):  # A call kept as it is.
        return lambda call: call.with_changes(func=_parse(target))
      return _expression(target)
    if use.kind is Kind.CALL and isinstance(rule, _names.Call):
      return self._keyword_call(rule)
    if use.kind is Kind.CALL and isinstance(rule, _names.Renamed):
      refs = self._refs(rule.target)
      return lambda call: _with_parens(
        call,
        _parse(
          rule.target.format(
            **refs,
            args=', '.join(
              code(arg.with_changes(comma=cst.MaybeSentinel.DEFAULT))
              for arg in call.args
            ),
          )
        ),
      )
    return None

  def _keyword_call(self, rule: _names.Call) -> _Replace:
    """Rewrites a call for `rule`: its arguments by keyword, then the
    defaults it did not give."""
    tf = self._module_ref(_names.TENSORFLOW)

    def replace(call: cst.Call) -> cst.Call:
      arguments = _analysis.call_arguments(rule, call) or []
      given = {name for name, _ in arguments}
      args = [
        _keyword(name, arg)
        for name, arg in arguments
        if name not in rule.applied
      ]
      args += [
        cst.Arg(
          _parse(value.format(tf=tf)), keyword=cst.Name(name), equal=_EQUAL
        )
        for name, value in rule.defaults
        if name not in given
      ]
      made = call.with_changes(
        func=_parse(rule.target.format(tf=tf)), args=_commas(args)
      )
      if not rule.applied:
        return made
      # The layer applied: its inputs by position, as Keras names them
      # otherwise.
      applied = [
        arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)
        if name == rule.applied[0]
        else _keyword(name, arg)
        for name, arg in arguments
        if name in rule.applied
      ]
      return cst.Call(
        made.with_changes(lpar=[], rpar=[]),
        _commas(applied),
        lpar=call.lpar,
        rpar=call.rpar,
      )

    return replace

  def _import(self, statement: str, name: str, rank: int) -> str:
    """Adds `statement` (binding `name`); new imports are sorted by rank."""
    self._new_imports[statement] = rank
    return name

  def _module_ref(self, module: str) -> str:
    """The name `module` (TensorFlow, NumPy) is imported as; an import if
    there is none."""
    alias = _names.USUAL_ALIASES[module]
    imports = [
      b for b in self.program.bindings if b.path == module and b.top_level
    ]
    if imports:  # The usual alias if there is one.
      return min(imports, key=lambda b: b.name != alias).name
    if alias not in self.program.identifiers:
      return self._import(f'import {module} as {alias}', alias, _RANKS[module])
    return self._import(f'import {module}', module, _RANKS[module])

  def _refs(self, target: str) -> dict[str, str]:
    """What the module placeholders of a rule's `target` stand for."""
    return {
      alias: self._module_ref(module)
      for module, alias in _names.USUAL_ALIASES.items()
      if f'{{{alias}}}' in target
    }

  def _new_ref(self, module: str) -> str:
    """The name tfgradtools' `eager` or `math` is reached by."""
    new = _names.NEW_MODULES[module]
    for binding in self.program.bindings:
      if binding.top_level and (
        binding.path == new
        or (
          binding.path == module and self.program.fate(binding) is Fate.REBIND
        )
      ):
        return binding.name
    alias = _names.NEW_ALIASES[module]
    if alias not in self.program.identifiers:
      return self._import(f'import {new} as {alias}', alias, _NEW_MODULE_RANK)
    for binding in self.program.bindings:
      if binding.path == _names.TFGRADTOOLS:
        return binding.name
    return self._import(
      'import tfgradtools', _names.TFGRADTOOLS, _TFGRADTOOLS_RANK
    )

  def _anchor(self) -> tuple[tuple[int, cst.CSTNode] | None, bool]:
    """Where new imports go: beside the first top-level import of a module
    we know (before it if it goes or is rebound), else at the top."""
    first = min(
      (b for b in self.program.bindings if b.top_level),
      key=lambda b: b.order,
      default=None,
    )
    if first is None:
      return None, True
    return (first.order[0], first.statement), self.program.fate(first) in (
      Fate.REMOVE,
      Fate.REBIND,
    )

  def import_lines(self) -> list[cst.SimpleStatementLine]:
    return [
      _statement(s)
      for s in sorted(self._new_imports, key=self._new_imports.__getitem__)
    ]


_EQUAL = cst.AssignEqual(
  whitespace_before=cst.SimpleWhitespace(''),
  whitespace_after=cst.SimpleWhitespace(''),
)


def _keyword(name: str, arg: cst.Arg) -> cst.Arg:
  return arg.with_changes(keyword=cst.Name(name), equal=_EQUAL)


def _commas(args: list[cst.Arg]) -> list[cst.Arg]:
  """`args` without a trailing comma (libcst puts commas between arguments
  that have none)."""
  if args:
    args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
  return args


def _argument(call: cst.Call, index: int, name: str) -> cst.Arg | None:
  """The argument of `call` for the parameter `name`, at `index`."""
  for position, arg in enumerate(call.args):
    if (arg.keyword is None and position == index and not arg.star) or (
      arg.keyword is not None and arg.keyword.value == name
    ):
      return arg
  return None


def _method(call: cst.Call, name: str, args: list[cst.Arg]) -> cst.Call:
  return call.with_changes(
    func=call.func.with_changes(attr=cst.Name(name)), args=_commas(args)
  )


def _zero_state(call: cst.Call) -> cst.Call:
  """`cell.zero_state(batch_size, dtype)` of a Keras cell."""
  size = _argument(call, 0, 'batch_size')
  args = [] if size is None else [_keyword('batch_size', size)]
  return _method(call, 'get_initial_state', args)


def _saver_save(call: cst.Call) -> cst.Call:
  """`saver.save(file_prefix, global_step)` of tfe.Saver, as a
  tf.train.Checkpoint takes it: it numbers the saves itself."""
  step = _argument(call, 1, 'global_step')
  return call.with_changes(
    args=_commas([arg for arg in call.args if arg is not step])
  )


_MADE_CALLS: dict[_names.Made, Callable[[cst.Call], cst.Call]] = {
  _names.Made.CELL: _zero_state,
  _names.Made.LSTM: _zero_state,
  _names.Made.SAVER: _saver_save,
}


def _without(keyword: str, call: cst.Call) -> cst.Call:
  """`call` without its `keyword=` argument."""
  args = [
    a for a in call.args if a.keyword is None or a.keyword.value != keyword
  ]
  if args:
    args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
  return call.with_changes(args=args)


def _global_step(call: cst.Call) -> str:
  return next(
    code(a.value)
    for a in call.args
    if a.keyword is not None and a.keyword.value == 'global_step'
  )


def _with_parens(old: Any, new: cst.BaseExpression) -> cst.BaseExpression:
  """`new` in the parentheses of the expression `old`."""
  return new.with_changes(lpar=old.lpar, rpar=old.rpar)


def _expression(code: str) -> _Replace:
  return lambda node: _with_parens(node, _parse(code))


class _Rewriter(cst.CSTTransformer):
  """Applies a `_Plan` to one unit."""

  def __init__(self, plan: _Plan, unit: int):
    super().__init__()
    self._plan, self._unit = plan, unit
    self._carry: dict[cst.CSTNode, list[cst.EmptyLine]] = {}
    self._next: dict[cst.CSTNode, cst.CSTNode] = {}
    self._first_unit = unit == min(
      (i for i, u in enumerate(plan.program.units) if u is not None),
      default=None,
    )

  def on_visit(self, node: cst.CSTNode) -> bool:
    if isinstance(node, (cst.Module, cst.IndentedBlock)):
      # Each statement, and what follows it (the block for the last one).
      following = [*node.body[1:], node]
      for index, statement in enumerate(node.body):
        self._next[statement] = following[index]
    # Only nodes around an edit are entered; imports are edited whole (their
    # aliases then stay the original nodes).
    return node in self._plan.program.ancestors and not isinstance(
      node, (cst.Import, cst.ImportFrom)
    )

  def on_leave(
    self, original_node: _N, updated_node: _N
  ) -> _N | cst.RemovalSentinel | cst.FlattenSentinel[_N]:
    # An edit puts an expression where an expression was, statements where
    # a statement was: libcst checks the kinds as it rebuilds the parent.
    return cast(
      Union[_N, cst.RemovalSentinel, cst.FlattenSentinel[_N]],
      self._leave(original_node, updated_node),
    )

  def _leave(
    self, original_node: cst.CSTNode, updated_node: cst.CSTNode
  ) -> cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[Any]:
    replace = self._plan.uses.get(original_node)
    if replace is not None:
      return replace(updated_node)
    carried = self._carry.pop(original_node, [])
    if isinstance(updated_node, (cst.Module, cst.IndentedBlock)):
      return self._leave_body(updated_node, carried)
    if carried and isinstance(
      updated_node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)
    ):
      updated_node = updated_node.with_changes(
        leading_lines=[*carried, *updated_node.leading_lines]
      )
    if isinstance(original_node, cst.SimpleStatementLine) and isinstance(
      updated_node, cst.SimpleStatementLine
    ):
      return self._leave_line(original_node, updated_node)
    return updated_node

  def _leave_body(
    self,
    updated: cst.Module | cst.IndentedBlock,
    carried: list[cst.EmptyLine],
  ) -> cst.Module | cst.IndentedBlock:
    if carried:
      updated = updated.with_changes(footer=[*carried, *updated.footer])
    if isinstance(updated, cst.IndentedBlock) and not updated.body:
      updated = updated.with_changes(body=[_statement('pass')])
    if (
      isinstance(updated, cst.Module)
      and self._plan.anchor is None
      and self._first_unit
    ):
      at = _after_preamble(updated.body)
      updated = updated.with_changes(
        body=[
          *updated.body[:at],
          *self._plan.import_lines(),
          *updated.body[at:],
        ]
      )
    return updated

  def _leave_line(
    self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
  ) -> _Lines:
    body: list[cst.BaseSmallStatement] = []
    lines: list[cst.SimpleStatementLine] = []
    for small_original, small in zip(original.body, updated.body, strict=True):
      if small_original not in self._plan.edited:
        body.append(small)
        continue
      new, added = self._edit(small_original, small)
      lines += added
      if new is not None:
        body.append(new)
    if body:
      # The line ends as it did (`x = f();  # c` keeps `;  `), whichever
      # statement is now last.
      body[-1] = body[-1].with_changes(semicolon=updated.body[-1].semicolon)
      lines.insert(0, updated.with_changes(body=body))
    if original in self._plan.step_lines:  # TF1 optimizers counted steps.
      lines.append(
        _statement(
          f'{_global_step(self._plan.step_lines[original])}.assign_add(1)'
        )
      )
    if any(self._plan.anchor == (self._unit, s) for s in original.body):
      imports = self._plan.import_lines()
      lines = [*imports, *lines] if self._plan.before else [*lines, *imports]
    if not lines:
      following = self._next[original]
      self._carry[following] = [
        *updated.leading_lines,
        *self._carry.get(following, []),
      ]
      return cst.RemoveFromParent()
    # The group stands where the line stood: its first statement takes the
    # line's leading lines (the comments above it).
    lines = [
      lines[0].with_changes(leading_lines=updated.leading_lines),
      *(line.with_changes(leading_lines=[]) for line in lines[1:]),
    ]
    return cst.FlattenSentinel(lines) if len(lines) > 1 else lines[0]

  def _edit(
    self, original: cst.BaseSmallStatement, updated: Any
  ) -> tuple[cst.BaseSmallStatement | None, list[cst.SimpleStatementLine]]:
    """The small statement replacing a binding one (`original`, an import
    or an alias assignment; `updated` as updated), or None, and the lines to
    add after it."""
    program = self._plan.program
    if isinstance(original, cst.Assign):
      binding = self._plan.bindings[original]
      if program.fate(binding) is Fate.REMOVE:
        return None, []
      return _import_as(program.new_path(binding), binding.name), []
    if not isinstance(original, (cst.Import, cst.ImportFrom)) or isinstance(
      original.names, cst.ImportStar
    ):
      return updated, []  # No binding of ours.
    kept: list[cst.ImportAlias] = []
    moved: list[tuple[cst.ImportAlias, str, str]] = []
    for alias in original.names:
      bound = self._plan.bindings.get(alias)
      if bound is None or program.fate(bound) is Fate.KEEP:
        kept.append(alias)
        continue
      binding, fate = bound, program.fate(bound)
      if fate is Fate.SUBMODULE:
        kept.append(alias.with_changes(name=cst.Name(binding.name)))
      elif fate is Fate.REBIND:
        moved.append(
          (
            _renamed_alias(alias, program.new_path(binding), binding.name),
            program.new_path(binding),
            binding.name,
          )
        )
    new: list[cst.BaseSmallStatement]
    if isinstance(original, cst.Import):
      new = [_import_as(path, name) for _, path, name in moved]
      if not kept and len(new) == 1:
        return new[0], []
    elif moved:
      parent = moved[0][1].rpartition('.')[0]
      if not kept:  # Only the module changes.
        names = [a for a, _, _ in moved]
        names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(module=_parse(parent), names=names), []
      new = [
        _statement(
          'from {} import {}'.format(
            parent,
            ', '.join(
              code(a.with_changes(comma=cst.MaybeSentinel.DEFAULT))
              for a, _, _ in moved
            ),
          )
        ).body[0]
      ]
    else:
      new = []
    lines = [cst.SimpleStatementLine(body=[n]) for n in new]
    if not kept:
      return None, lines
    kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return updated.with_changes(names=kept), lines


def _renamed_alias(
  alias: cst.ImportAlias, path: str, name: str
) -> cst.ImportAlias:
  """`alias` importing the last part of `path` as `name`, as it was if it
  already does (`from tensorflow.contrib.eager.python import tfe` becomes
  `... import eager as tfe`)."""
  imported = path.rpartition('.')[2]
  if isinstance(alias.name, cst.Name) and alias.name.value == imported:
    return alias
  return alias.with_changes(
    name=cst.Name(imported),
    asname=None if name == imported else cst.AsName(name=cst.Name(name)),
  )


def _import_as(path: str, name: str) -> cst.Import:
  return cst.ensure_type(
    _statement(f'import {path} as {name}').body[0], cst.Import
  )


def _after_preamble(body: Sequence[cst.BaseStatement]) -> int:
  """Index after a module's docstring and `from __future__` imports."""
  at = 0
  for statement in body:
    small = (
      statement.body[0]
      if isinstance(statement, cst.SimpleStatementLine)
      else None
    )
    docstring = (
      at == 0
      and isinstance(small, cst.Expr)
      and isinstance(small.value, cst.SimpleString)
    )
    future = (
      isinstance(small, cst.ImportFrom)
      and small.module is not None
      and code(small.module) == '__future__'
    )
    if not (docstring or future):
      break
    at += 1
  return at


def _module(use: _analysis.Use) -> str:
  """The old module of a gradient function's use."""
  if use.module is None:
    raise ValueError(f'{use.name} is in no module this command moves')
  return use.module
