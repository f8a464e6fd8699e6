"""The command line: files in, a diff (or the files rewritten) and a report out.

Diffs and the names of rewritten files go to stdout, the report and the
summary to stderr, so `python -m tfgradtools.migrate src > migration.diff`
keeps a clean diff.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
import warnings

import libcst as cst
from libcst import metadata

from tfgradtools.migrate import _analysis
from tfgradtools.migrate import _files
from tfgradtools.migrate import _rewrite
from tfgradtools.migrate import _upgrade

DESCRIPTION = """\
Migrates TF 1.x tf.contrib.eager gradient code (and, with --tfp, tfp.math
gradient calls) to TensorFlow 2 with tfgradtools, in .py files and the code
cells of .ipynb notebooks. Directories are searched for both. Without
--write, prints a unified diff per file and changes nothing. Names with no
TF2 equivalent are left in place and reported as
  path[:cell N]:line:column: name: what to do
(positions in the file as the command leaves it: the original in a dry run,
the migrated file with --write)."""

EPILOG = """\
exit status:
  0  nothing needs a person (whether or not files changed)
  1  something does: a name left in place, a tf_upgrade_v2 warning or
     error, a file or cell that does not parse
  2  a PATH is neither a directory nor a .py or .ipynb file"""

OK, ATTENTION, USAGE = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Entry:
  """A report line: where, what, and what to do."""
  unit: int
  line: int
  column: int
  name: str
  text: str


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog='python -m tfgradtools.migrate', description=DESCRIPTION,
      epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('paths', nargs='+', metavar='PATH',
                      help='a .py or .ipynb file, or a directory')
  parser.add_argument('--write', action='store_true',
                      help='rewrite the files in place')
  parser.add_argument('--tfp', action='store_true',
                      help='also move the tfp.math gradient functions to '
                      'tfgradtools.math')
  parser.add_argument('--tf-upgrade-v2', action='store_true',
                      help="then run TensorFlow's own tf_upgrade_v2 "
                      'conversion on the same code')
  return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> int:
  """Runs the command; returns the exit status."""
  args = parse_arguments(argv)
  paths, errors = _files.find(args.paths)
  for error in errors:
    print(f'error: {error}', file=sys.stderr)
  changed, entries = 0, 0
  for path in paths:
    try:
      program = _files.read(path)
    except (OSError, ValueError) as error:
      print(f'{path}: cannot read: {error}', file=sys.stderr)
      entries += 1
      continue
    units, report = migrate_program(program, args.tfp, args.tf_upgrade_v2,
                                    args.write)
    if units != program.units:
      changed += 1
      if args.write:
        program.write(units)
        print(f'migrated {path}')
      else:
        sys.stdout.write(program.diff(units))
    for entry in report:
      label = program.labels[entry.unit]
      where = ':'.join(str(part) for part in (
          path, *([label] if label else []), entry.line, entry.column))
      print(f'{where}: {entry.name}: {entry.text}', file=sys.stderr)
    entries += len(report)
  sys.stdout.flush()
  done = 'migrated' if args.write else 'to migrate (dry run: --write applies)'
  print(f'{len(paths)} file(s) checked, {changed} {done}, {entries} '
        'place(s) need attention', file=sys.stderr)
  return USAGE if errors else ATTENTION if entries else OK


def migrate_program(program: _files.Program, tfp: bool, tf_upgrade_v2: bool,
                    write: bool) -> tuple[list[str | None], list[Entry]]:
  """The program's migrated units, and the report on them.

  Positions refer to the file as the command leaves it: the original in a
  dry run, the migrated code with `write`.
  """
  ipython = program.notebook is not None
  report, parsed, masks = [], [], []
  for unit, code in enumerate(program.units):
    wrapper, originals, error = _parse(code, ipython)
    parsed.append(wrapper)
    masks.append(originals)
    if error:
      report.append(Entry(unit, *error))
  analysis = _analysis.Program(parsed, tfp)
  units = _rewrite.rewrite(analysis)
  if tf_upgrade_v2:
    for unit, code in enumerate(units):
      if code is None:
        continue
      units[unit], found = _upgrade.upgrade(code)
      where = (lambda line: line) if write else _files.line_map(
          parsed[unit].module.code, code)
      report += [Entry(unit, where(line), column, 'tf_upgrade_v2', text)
                 for line, column, text in found]
  if write:
    analysis = _analysis.Program(
        [None if code is None else metadata.MetadataWrapper(
            cst.parse_module(code)) for code in units], tfp)
  report += [Entry(f.unit, f.line, f.column, f.name, f.advice)
             for f in analysis.findings()]
  report.sort(key=lambda e: (e.unit, e.line, e.column))
  return [old if new is None else _files.unmask(new, originals)
          for old, new, originals in zip(program.units, units, masks)], report


def _parse(code: str | None, ipython: bool):
  """(libcst module or None, the masked IPython lines, a syntax error)."""
  if code is None:
    return None, [], None
  masked, originals = code, []
  try:
    return metadata.MetadataWrapper(cst.parse_module(code)), [], None
  except cst.ParserSyntaxError as error:
    first_error = error
  if ipython:
    masked, originals = _files.mask(code)
    try:
      return metadata.MetadataWrapper(cst.parse_module(masked)), originals, None
    except cst.ParserSyntaxError as error:
      first_error = error
  return None, [], _syntax_error(masked, first_error)


def _syntax_error(code: str, error: cst.ParserSyntaxError
                  ) -> tuple[int, int, str, str]:
  """Python's own message for the error if it has one (they are clearer)."""
  line, column, message = error.raw_line, error.raw_column + 1, error.message
  try:
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')   # SyntaxWarnings of old code.
      ast.parse(code)
  except SyntaxError as python_error:
    line, column = python_error.lineno or line, python_error.offset or column
    message = python_error.msg
  return line, column, 'syntax error', f'{message}; left unchanged'
