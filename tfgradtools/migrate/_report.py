"""What is left for a person in migrated code: the report.

The report is made from the code the command leaves (Python's own `ast`, so
its positions are exact and it costs little): every `tf.contrib.eager` name
still in place, every NumPy name NumPy removed, star imports of the old
modules, nested tapes where only the inner one watches a tensor (TF 1.x
watched it on every active tape) and, when a TensorFlow checker is given,
every `tf.`-rooted attribute chain and `tensorflow` import that the
installed TensorFlow lacks.

Aliases are resolved as `_analysis` resolves them: by name over the whole
program, imports anywhere and module-level `alias = module.path`
assignments.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Callable, Protocol

from tfgradtools.migrate import _analysis
from tfgradtools.migrate import _names

# Says what to do about a `tensorflow.`-rooted path the installed TensorFlow
# lacks, or None when it has it.
Checker = Callable[[str], 'str | None']


@dataclasses.dataclass(frozen=True)
class Finding:
  """A name that needs a person: `unit` is the cell, `column` 1-based."""

  unit: int
  line: int
  column: int
  name: str
  advice: str
  text: str = ''  # the code as written there, to find it in another version


class Placed(Protocol):
  """A finding or a report entry: what and where."""

  @property
  def unit(self) -> int: ...

  @property
  def line(self) -> int: ...

  @property
  def column(self) -> int: ...

  @property
  def name(self) -> str: ...


@dataclasses.dataclass(eq=False)
class _Binding:
  name: str
  path: str
  order: _analysis.Order


def findings(
  units: list[ast.Module | None], tfp: bool, check: Checker | None
) -> list[Finding]:
  """The findings in `units` (None: a unit that did not parse), in order."""
  bindings = _Bindings()
  for index, unit in enumerate(units):
    if unit is not None:
      bindings.collect(unit, index)
  found = []
  for index, unit in enumerate(units):
    if unit is not None:
      visitor = _Visitor(bindings, index, tfp, check)
      visitor.visit(unit)
      found += visitor.found
  return sorted(found, key=in_order)


def in_order(entry: Placed) -> tuple[bool, int, int, int]:
  """Sorts findings (and report entries) in order, with each import of
  `tensorflow.contrib` that stays first: it says why the program cannot run
  yet."""
  return (
    not entry.name.startswith(_CONTRIB_IMPORTS),
    entry.unit,
    entry.line,
    entry.column,
  )


_CONTRIB_IMPORTS = (f'import {_names.CONTRIB}', f'from {_names.CONTRIB}')


def dotted(node: ast.expr) -> tuple[str, ast.Name] | None:
  """`a.b.c` as a string, and its root name, if `node` is such a chain."""
  parts = []
  while isinstance(node, ast.Attribute):
    parts.append(node.attr)
    node = node.value
  if not isinstance(node, ast.Name):
    return None
  return '.'.join([node.id, *reversed(parts)]), node


class _Bindings:
  """The imports and module aliases of a program, by name."""

  def __init__(self) -> None:
    self._by_name: dict[str, list[_Binding]] = {}

  def bind(self, name: str, path: str, order: _analysis.Order) -> None:
    path = _analysis.normalise(path)
    if path.split('.')[0] in _analysis.ROOTS:
      self._by_name.setdefault(name, []).append(_Binding(name, path, order))

  def resolve(self, node: ast.expr, order: _analysis.Order) -> str | None:
    """The dotted path a chain means, if its root is bound."""
    chain = dotted(node)
    if chain is None:
      return None
    text, root = chain
    binding = _analysis.in_force(self._by_name.get(root.id, []), order)
    return None if binding is None else binding.path + text[len(root.id) :]

  def collect(self, unit: ast.Module, index: int) -> None:
    for node in ast.walk(unit):
      order = (index, getattr(node, 'lineno', 0))
      if isinstance(node, ast.Import):
        for alias in node.names:
          self.bind(
            alias.asname or alias.name.split('.')[0],
            alias.name if alias.asname else alias.name.split('.')[0],
            order,
          )
      elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        for alias in node.names:
          self.bind(
            alias.asname or alias.name, f'{node.module}.{alias.name}', order
          )
    for node in unit.body:  # Module-level aliases, in order.
      if (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
      ):
        path = self.resolve(node.value, (index, node.lineno))
        if path in _analysis.MODULES:
          self.bind(node.targets[0].id, path, (index, node.lineno))


class _Visitor(ast.NodeVisitor):
  """Finds what is left for a person in one unit."""

  def __init__(
    self, bindings: _Bindings, unit: int, tfp: bool, check: Checker | None
  ):
    self._bindings, self._unit = bindings, unit
    self._tfp, self._check = tfp, check
    self.found: list[Finding] = []

  def _add(
    self, node: ast.stmt | ast.expr, name: str, advice: str, text: str
  ) -> None:
    self.found.append(
      Finding(self._unit, node.lineno, node.col_offset + 1, name, advice, text)
    )

  def visit_Import(self, node: ast.Import) -> None:
    for alias in node.names:
      self._imported(node, alias.name)

  def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
    if node.level or not node.module:
      return
    module = _analysis.normalise(node.module)
    if any(alias.name == '*' for alias in node.names):
      old = _analysis.old_module(module, self._tfp)
      if old is not None:
        self._add(
          node,
          f'from {_names.SHORT[old]} import *',
          _names.STAR_IMPORT.advice,
          'from',
        )
      return
    for alias in node.names:
      self._imported(node, f'{node.module}.{alias.name}')

  def _imported(self, node: ast.stmt, path: str) -> None:
    """Checks an imported module or name (those of the old modules are
    reported where they are used)."""
    path = _analysis.normalise(path)
    kind = 'import' if isinstance(node, ast.Import) else 'from'
    if path == _names.CONTRIB or path.startswith(_names.CONTRIB + '.'):
      self._add(node, f'{kind} {path}', _names.CONTRIB_STAYS.advice, kind)
      return
    removed = _names.removed_module(path)
    if removed:
      self._add(node, path, removed, kind)
      return
    if self._check is None or path.split('.')[0] != _names.TENSORFLOW:
      return
    advice = self._check(path)
    if advice is not None:
      self._add(node, path, advice, kind)

  def visit_Assign(self, node: ast.Assign) -> None:
    if (
      len(node.targets) == 1
      and isinstance(node.targets[0], ast.Name)
      and self._bindings.resolve(node.value, (self._unit, node.lineno))
      in _analysis.MODULES
    ):
      return  # An alias: its uses are checked, not its definition.
    self.generic_visit(node)

  def visit_With(self, node: ast.With) -> None:
    """Reports each tensor that a tape opened inside a tape `node` opens
    watches, and the outer tape does not."""
    tapes = self._tapes(node)
    nested = [
      (name, block.body)
      for statement in node.body
      for block in ast.walk(statement)
      if isinstance(block, ast.With)
      for name, _ in self._tapes(block)
    ]
    reported = set()
    for index, (outer, call) in enumerate(tapes):
      watched = {
        ast.unparse(tensor)
        for watch in _watches(node.body, outer)
        for tensor in _watched(watch)
      }
      later = [(name, node.body) for name, _ in tapes[index + 1 :]]
      for inner, body in later + nested:
        for watch in _watches(body, inner):
          missing = [
            ast.unparse(tensor)
            for tensor in _watched(watch)
            if ast.unparse(tensor) not in watched
          ]
          if inner != outer and missing and (watch, outer) not in reported:
            reported.add((watch, outer))
            self._nested_watch(watch, inner, outer, call, missing)
    self.generic_visit(node)

  def _tapes(self, node: ast.With) -> list[tuple[str, ast.Call]]:
    """The tapes `node` opens, in order: (name, `tf.GradientTape(...)`)."""
    return [
      (item.optional_vars.id, item.context_expr)
      for item in node.items
      if isinstance(item.optional_vars, ast.Name)
      and isinstance(item.context_expr, ast.Call)
      and self._bindings.resolve(
        item.context_expr.func, (self._unit, node.lineno)
      )
      == _names.GRADIENT_TAPE
    ]

  def _nested_watch(
    self,
    watch: ast.Call,
    inner: str,
    outer: str,
    call: ast.Call,
    missing: list[str],
  ) -> None:
    tensor = missing[0] if len(missing) == 1 else f'[{", ".join(missing)}]'
    unless = (
      _names.NO_VARIABLES
      if _watches_no_variables(call)
      else _names.UNLESS_VARIABLE
    )
    self._add(
      watch,
      ast.unparse(watch),
      _names.NESTED_WATCH.format(
        tensor=tensor,
        inner=inner,
        outer=outer,
        unless=unless.format(tensor=tensor, outer=outer),
      ),
      f'{inner}.watch',
    )

  def visit_Attribute(self, node: ast.Attribute) -> None:
    if not self._chain(node):
      self.generic_visit(node)

  def visit_Name(self, node: ast.Name) -> None:
    self._chain(node)

  def _chain(self, node: ast.Attribute | ast.Name) -> bool:
    """Reports the chain `node` if needed; False if it is no bound chain."""
    path = self._bindings.resolve(node, (self._unit, node.lineno))
    chain = dotted(node)
    if path is None or chain is None:
      return False
    if not isinstance(node.ctx, ast.Load):
      return True
    text = chain[0]
    old = _analysis.old_module(path, False)
    if old is not None:
      rest = path[len(old) + 1 :]
      name, rule = _names.lookup(old, rest) if rest else ('', _names.AS_VALUE)
      short = _names.SHORT[old]
      self._add(
        node,
        f'{short}.{name}' if name else short,
        getattr(rule, 'advice', ''),
        text,
      )
    elif _analysis.ruled_module(path, self._tfp) == _names.NUMPY:
      name, rule = _names.lookup(_names.NUMPY, path[len(_names.NUMPY) + 1 :])
      self._add(
        node,
        f'{_names.USUAL_ALIASES[_names.NUMPY]}.{name}',
        getattr(rule, 'advice', ''),
        text,
      )
    elif self._check is not None and path.split('.')[0] == _names.TENSORFLOW:
      advice = self._check(path)
      if advice is not None:
        self._add(node, 'tf' + path[len(_names.TENSORFLOW) :], advice, text)
    return True


def _watches(body: list[ast.stmt], tape: str) -> list[ast.Call]:
  """The `tape.watch(tensor)` calls in `body`, nested blocks included."""
  return [
    node
    for statement in body
    for node in ast.walk(statement)
    if isinstance(node, ast.Call)
    and len(node.args) == 1
    and isinstance(node.func, ast.Attribute)
    and node.func.attr == 'watch'
    and isinstance(node.func.value, ast.Name)
    and node.func.value.id == tape
  ]


def _watched(watch: ast.Call) -> list[ast.expr]:
  """What a `watch` call watches: each element of a list or tuple."""
  tensor = watch.args[0]
  if isinstance(tensor, (ast.List, ast.Tuple)):
    return [e for e in tensor.elts if not isinstance(e, ast.Starred)]
  return [tensor]


def _watches_no_variables(tape: ast.Call) -> bool:
  """Whether `tf.GradientTape(...)` is made with
  `watch_accessed_variables=False` (its second parameter)."""
  given = [
    a.value for a in tape.keywords if a.arg == 'watch_accessed_variables'
  ] + tape.args[1:2]
  return any(isinstance(v, ast.Constant) and v.value is False for v in given)
