"""The command line: files in, a diff (or the files rewritten) and a report out.

Diffs and the names of rewritten files go to stdout, the report and the
summary to stderr, so `python -m tfgradtools.migrate src > migration.diff`
keeps a clean diff.
"""

from __future__ import annotations

import argparse
import sys

from tfgradtools.migrate import _files
from tfgradtools.migrate import _parallel
from tfgradtools.migrate import _pipeline
from tfgradtools.migrate import _write

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
A line whose text starts with "behaviour change:" or "warning:" is a
note: the code runs, but check that what changed is what the program
wants.

exit status:
  0  nothing needs a person (whether or not files changed; notes may
     have been printed)
  1  something does: a name left in place, a call that fails in TF 2 as
     it is, a tf_upgrade_v2 error, a file or cell that does not parse, a
     file that could not be read or written (it is left unchanged, and
     the other files still run)
  2  a PATH is neither a directory nor a .py or .ipynb file
  130  interrupted (each file is entirely old or entirely new)

--write replaces each file atomically (a temporary file beside it, synced,
then renamed over it, keeping its permissions); a file that changed on disk
since it was read is left alone and reported."""

OK, ATTENTION, USAGE, INTERRUPTED = 0, 1, 2, 130


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
    prog='python -m tfgradtools.migrate',
    description=DESCRIPTION,
    epilog=EPILOG,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
    'paths',
    nargs='+',
    metavar='PATH',
    help='a .py or .ipynb file, or a directory',
  )
  parser.add_argument(
    '--write', action='store_true', help='rewrite the files in place'
  )
  parser.add_argument(
    '--tfp',
    action='store_true',
    help='also move the tfp.math gradient functions to tfgradtools.math',
  )
  parser.add_argument(
    '--tf-upgrade-v2',
    action='store_true',
    help="then run TensorFlow's own tf_upgrade_v2 "
    'conversion on the same code, and report every tf. '
    'name the installed TensorFlow lacks',
  )
  parser.add_argument(
    '--jobs',
    '-j',
    type=_positive,
    metavar='N',
    default=_parallel.default_jobs(),
    help='files migrated at once, in as many processes '
    '(default: one per core, here %(default)s)',
  )
  return parser.parse_args(argv)


def _positive(text: str) -> int:
  if not text.isdigit() or int(text) < 1:
    raise argparse.ArgumentTypeError(f'{text!r} is not a positive integer')
  return int(text)


def run(argv: list[str] | None = None) -> int:
  """Runs the command; returns the exit status."""
  args = parse_arguments(argv)
  try:
    return _run(args)
  except KeyboardInterrupt:
    print(
      '\ninterrupted: every file is entirely old or entirely new',
      file=sys.stderr,
    )
    return INTERRUPTED


def _run(args: argparse.Namespace) -> int:
  paths, errors = _files.find(args.paths)
  for error in errors:
    print(f'error: {error}', file=sys.stderr)
  options = _pipeline.Options(tfp=args.tfp, tf_upgrade_v2=args.tf_upgrade_v2)
  progress = _parallel.Progress(len(paths), sys.stderr)
  changed = attention = notes = 0
  for outcome in _parallel.run(
    _pipeline.migrate_file, paths, options, jobs=args.jobs, progress=progress
  ):
    progress.clear()
    written, failure = _apply(outcome, args.write)
    changed += outcome.new is not None and failure is None
    if failure:
      attention += 1
      print(f'{outcome.path}: {failure}; left unchanged', file=sys.stderr)
    for entry in outcome.entries:
      print(_format(outcome, entry, written), file=sys.stderr)
    notes += sum(entry.note for entry in outcome.entries)
    attention += sum(not entry.note for entry in outcome.entries)
  progress.clear()
  sys.stdout.flush()
  done = 'migrated' if args.write else 'to migrate (dry run: --write applies)'
  print(
    f'{len(paths)} file(s) checked, {changed} {done}, {attention} '
    'place(s) need attention' + (f', {notes} note(s)' if notes else ''),
    file=sys.stderr,
  )
  return USAGE if errors else ATTENTION if attention else OK


def _apply(outcome: _pipeline.Outcome, write: bool) -> tuple[bool, str | None]:
  """Writes or shows `outcome`: (whether the file was written, why it could
  not be migrated)."""
  if outcome.error:
    return False, outcome.error
  if outcome.new is None:
    return False, None
  if not write:
    sys.stdout.write(outcome.diff)
    return False, None
  try:
    _write.replace(outcome.path, outcome.new, expected=outcome.raw)
  except _write.WriteError as error:
    return False, f'cannot write: {error}'
  print(f'migrated {outcome.path}')
  return True, None


def _format(
  outcome: _pipeline.Outcome, entry: _pipeline.Entry, written: bool
) -> str:
  """`path[:cell N]:line:column: name: text`, where the file on disk has it."""
  label = outcome.labels[entry.unit]
  line, column = (
    (entry.new_line, entry.new_column)
    if written
    else (entry.line, entry.column)
  )
  where = ':'.join(
    str(part)
    for part in (outcome.path, *([label] if label else []), line, column)
  )
  return f'{where}: {entry.name}: {entry.text}'
