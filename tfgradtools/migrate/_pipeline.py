"""One file through the migration: read, rewrite, upgrade, report.

This is the work a worker process does; it never writes the file (the
command writes, in path order, once it has checked the file is unchanged).
"""

from __future__ import annotations

import ast
import dataclasses
import io
import pathlib
import re
import tokenize
import warnings
from typing import Mapping

import libcst as cst
from libcst import metadata

from tfgradtools.migrate import _analysis
from tfgradtools.migrate import _files
from tfgradtools.migrate import _names
from tfgradtools.migrate import _report
from tfgradtools.migrate import _rewrite
from tfgradtools.migrate import _tfnames
from tfgradtools.migrate import _upgrade


@dataclasses.dataclass(frozen=True)
class Options:
  """What the command was asked to do."""

  tfp: bool = False
  tf_upgrade_v2: bool = False


@dataclasses.dataclass(frozen=True)
class Entry:
  """A report line: where in the file as read (`line`, `column`) and as
  migrated (`new_line`, `new_column`), what, and what to do."""

  unit: int
  line: int
  column: int
  new_line: int
  new_column: int
  name: str
  text: str
  # Something to know (a behaviour that changed, a tf_upgrade_v2 warning)
  # rather than to do.
  note: bool = False


@dataclasses.dataclass
class Outcome:
  """What became of one file."""

  path: pathlib.Path
  raw: bytes = b''  # the file as read
  new: bytes | None = None  # its new content, if it changes
  diff: str = ''
  labels: list[str] = dataclasses.field(default_factory=list)
  entries: list[Entry] = dataclasses.field(default_factory=list)
  error: str = ''  # why the file could not be migrated


def migrate_file(path: pathlib.Path, options: Options) -> Outcome:
  """Migrates the file at `path` in memory."""
  try:
    program = _files.read(path)
  except (OSError, ValueError, SyntaxError) as error:
    # Not decodable, a bad encoding declaration, not JSON, ...
    reason = getattr(error, 'strerror', None) or str(error)
    return Outcome(path, error=f'cannot read: {reason}')
  try:
    units, entries = migrate_program(program, options)
  except Exception as error:  # pylint: disable=broad-except
    # A bug here must not stop the run over a whole repository.
    return Outcome(
      path,
      error=f'cannot migrate ({type(error).__name__}: '
      f'{error}); please report this with the file',
    )
  outcome = Outcome(path, program.raw, labels=program.labels, entries=entries)
  if units != program.units:
    outcome.new = program.render(units)
    outcome.diff = program.diff(units)
  return outcome


def migrate_program(
  program: _files.Program, options: Options
) -> tuple[list[str | None], list[Entry]]:
  """The program's migrated units, and the report on them."""
  ipython = program.notebook is not None
  if _unrelated(program.units, ipython):
    return list(program.units), []
  entries: list[Entry] = []
  modules: list[cst.Module | None] = []
  masks: list[list[str]] = []
  originals: list[str | None] = []
  tails: list[str] = []
  for unit, code in enumerate(program.units):
    code, tail = _split_tail(code)
    module, parsed, masked, error = _parse(code, ipython)
    modules.append(module)
    masks.append(masked)
    originals.append(None if parsed is None else parsed + tail)
    tails.append(tail)
    if error:
      line, column, name, text = error
      entries.append(Entry(unit, line, column, line, column, name, text))
  analysis = _analysis.Program(modules, options.tfp)
  units = [
    None if code is None else code + tail
    for code, tail in zip(_rewrite.rewrite(analysis), tails, strict=True)
  ]
  entries += _notes(analysis, originals, units)
  upgraded: list[list[tuple[int, int, str]]] = [[] for _ in units]
  if options.tf_upgrade_v2:
    for unit, code in enumerate(units):
      if code is not None:
        units[unit], upgraded[unit] = _upgrade.upgrade(code)
  # With --tf-upgrade-v2, TensorFlow is imported anyway: check its names.
  check = _tfnames.check if options.tf_upgrade_v2 else None
  trees = [None if code is None else _ast(code) for code in units]
  # Its warnings ask to check something; its errors, to rewrite it.
  found = [
    (unit, line, column, 'tf_upgrade_v2', text, '', text.startswith('warn'))
    for unit, items in enumerate(upgraded)
    for line, column, text in items
  ]
  flagged = {where[:3] for where in found if not where[-1]}  # One a place.
  found += [
    (f.unit, f.line, f.column, f.name, f.advice, f.text, False)
    for f in _report.findings(trees, options.tfp, check)
    if (f.unit, f.line, f.column) not in flagged
  ]
  for unit, line, column, name, advice, text, note in found:
    old_line, old_column = _in_original(
      originals[unit], units[unit], line, column, text
    )
    entries.append(
      Entry(unit, old_line, old_column, line, column, name, advice, note)
    )
  entries.sort(key=_report.in_order)
  return [
    old if new is None else _files.unmask(new, masked)
    for old, new, masked in zip(program.units, units, masks, strict=True)
  ], entries


def _unrelated(units: list[str | None], ipython: bool) -> bool:
  """Whether nothing in `units` can need this command: no unit names
  `tensorflow` (so nothing imports it, nor TFP), and each parses (Python's
  parser is quick; a syntax error is reported by the full path)."""
  return not any(code and _names.TENSORFLOW in code for code in units) and all(
    code is None or _ast(_files.mask(code)[0] if ipython else code)
    for code in units
  )


def _notes(
  analysis: _analysis.Program,
  originals: list[str | None],
  units: list[str | None],
) -> list[Entry]:
  """A report entry for each rewritten use whose TF 2 form behaves
  otherwise (a note), and for each call that fails in TF 2 as it is, where
  it was and where it is."""
  entries: list[Entry] = []
  positions: dict[int, Mapping[cst.CSTNode, metadata.CodeRange]] = {}
  found = [(*item, True) for item in analysis.notes]
  found += [(*item, False) for item in analysis.problems]
  for unit, node, text, note in found:
    module, new, old = analysis.units[unit], units[unit], originals[unit]
    if module is None or new is None or old is None:
      continue  # Only parsed units have notes.
    if unit not in positions:
      positions[unit] = metadata.MetadataWrapper(
        module, unsafe_skip_copy=True
      ).resolve(metadata.PositionProvider)
    start = positions[unit][node].start
    name = _rewrite.code(node.func if isinstance(node, cst.Call) else node)
    line = _files.line_map(new, old)(start.line)
    entries.append(
      Entry(
        unit,
        start.line,
        start.column + 1,
        line,
        start.column + 1,
        name,
        text,
        note,
      )
    )
  return entries


def _split_tail(code: str | None) -> tuple[str | None, str]:
  """`code` up to the end of its last line of code, and the blank and
  comment lines after it.

  libcst prints a module's trailing lines back wrongly when one holds only
  whitespace or a comment after a blank line (`x = 1\\n\\n \\n` loses a
  line), so they are kept out of its reach.
  """
  if not code:
    return code, ''
  last = 0
  try:
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
      if token.type not in _NOT_CODE:
        last = token.end[0]
  except (tokenize.TokenError, SyntaxError):
    return code, ''  # Left whole: the parser reports the error.
  lines = code.splitlines(keepends=True)
  return ''.join(lines[:last]), ''.join(lines[last:])


_NOT_CODE = frozenset(
  [
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
  ]
)


def _ast(code: str) -> ast.Module | None:
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # SyntaxWarnings of old code.
    try:
      return ast.parse(code)
    except SyntaxError:
      return None


def _in_original(
  old: str | None, new: str | None, line: int, column: int, text: str
) -> tuple[int, int]:
  """Where (`line`, `column`) of `new` is in `old`: the matching line, and
  the same occurrence there of the `text` found at the column (where both
  are code: a unit that did not parse has neither)."""
  if old is None or new is None or old == new:
    return line, column
  old_line = _files.line_map(old, new)(line)
  if not text:
    return old_line, column
  old_lines = old.splitlines() or ['']
  new_text = new.splitlines()[line - 1]
  old_text = old_lines[min(old_line, len(old_lines)) - 1]
  pattern = re.escape(text)
  occurrence = len(re.findall(pattern, new_text[: column - 1]))
  starts = [m.start() for m in re.finditer(pattern, old_text)]
  if occurrence < len(starts):
    return old_line, starts[occurrence] + 1
  return old_line, column


def _parse(
  code: str | None, ipython: bool
) -> tuple[
  cst.Module | None, str | None, list[str], tuple[int, int, str, str] | None
]:
  """(libcst module or None, the code it parsed, the masked IPython lines,
  a syntax error)."""
  if code is None:
    return None, None, [], None
  masked = code
  try:
    return cst.parse_module(code), code, [], None
  except cst.ParserSyntaxError as error:
    first_error = error
  if ipython:
    masked, originals = _files.mask(code)
    try:
      return cst.parse_module(masked), masked, originals, None
    except cst.ParserSyntaxError as error:
      first_error = error
  return None, None, [], _syntax_error(masked, first_error)


def _syntax_error(
  code: str, error: cst.ParserSyntaxError
) -> tuple[int, int, str, str]:
  """Python's own message for the error if it has one (they are clearer)."""
  line, column, message = error.raw_line, error.raw_column + 1, error.message
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # SyntaxWarnings of old code.
      ast.parse(code)
  except SyntaxError as python_error:
    line, column = python_error.lineno or line, python_error.offset or column
    message = python_error.msg
  return line, column, 'syntax error', f'{message}; left unchanged'
