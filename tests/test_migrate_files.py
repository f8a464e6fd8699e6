"""The migration command never loses a user's file, and runs in parallel.

Faults are injected into the write: afterwards every file is byte for byte
its old or its new self, and the report and exit status say what happened.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import pathlib
import stat
import subprocess
import sys
import textwrap

import nbformat
import pytest

from tfgradtools import migrate
from tfgradtools.migrate import _files
from tfgradtools.migrate import _parallel
from tfgradtools.migrate import _pipeline
from tfgradtools.migrate import _write

OLD = (
  'import tensorflow.contrib.eager as tfe\n'
  'grad = tfe.gradients_function(lambda x: x * x)  # {}\n'
)
NEW = (
  'import tfgradtools.eager as tfe\n'
  'grad = tfe.gradients_function(lambda x: x * x)  # {}\n'
)


def run_command(*argv) -> tuple[int, str, str]:
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    status = migrate.main([str(a) for a in argv])
  return status, out.getvalue(), err.getvalue()


def make_tree(directory: pathlib.Path, count: int = 3) -> list[pathlib.Path]:
  """`count` old programs, each a little different."""
  paths = []
  for index in range(count):
    path = directory / f'f{index}.py'
    path.write_text(OLD.format(index))
    paths.append(path)
  return paths


def assert_old_or_new(paths: list[pathlib.Path]) -> dict[str, str]:
  """Each file is entirely old or entirely new, and nothing else is left."""
  states = {}
  for index, path in enumerate(paths):
    text = path.read_text()
    assert text in (OLD.format(index), NEW.format(index)), text
    states[path.name] = 'new' if text == NEW.format(index) else 'old'
  leftovers = [
    p for p in paths[0].parent.iterdir() if p.name.endswith(_write.SUFFIX)
  ]
  assert not leftovers
  return states


class FailingStream(io.FileIO):
  """A file whose write stores part of the data, then raises `error`."""

  error: BaseException = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  fail_on: str = '.f1.'  # the temporary file of f1.py or f1.ipynb

  def write(self, data):
    if self.fail_on in pathlib.Path(self.name).name:
      super().write(data[: len(data) // 3])
      raise self.error
    return super().write(data)


@pytest.fixture
def failing_writes(monkeypatch):
  """Makes writes of the temporary file of f1.* fail halfway."""

  def fdopen(descriptor, mode):
    name = os.readlink(f'/proc/self/fd/{descriptor}')
    os.close(descriptor)
    return FailingStream(name, 'wb')

  monkeypatch.setattr(_write.os, 'fdopen', fdopen)
  return FailingStream


def test_a_write_that_fails_halfway_leaves_the_file_and_the_run_goes_on(
  tmp_path, failing_writes
):
  paths = make_tree(tmp_path)
  status, out, err = run_command('--write', '--jobs', '1', tmp_path)
  assert assert_old_or_new(paths) == {
    'f0.py': 'new',
    'f1.py': 'old',
    'f2.py': 'new',
  }
  assert status == 1
  assert out.splitlines() == [f'migrated {paths[0]}', f'migrated {paths[2]}']
  assert err.splitlines() == [
    f'{paths[1]}: cannot write: No space left on device; left unchanged',
    '3 file(s) checked, 2 migrated, 1 place(s) need attention',
  ]


def test_an_interrupt_during_a_write_leaves_every_file_old_or_new(
  tmp_path, failing_writes, monkeypatch
):
  monkeypatch.setattr(failing_writes, 'error', KeyboardInterrupt())
  paths = make_tree(tmp_path)
  status, _, err = run_command('--write', '--jobs', '1', tmp_path)
  assert status == 130
  assert 'Traceback' not in err
  assert err.splitlines()[-1] == (
    'interrupted: every file is entirely old or entirely new'
  )
  assert assert_old_or_new(paths) == {
    'f0.py': 'new',
    'f1.py': 'old',
    'f2.py': 'old',
  }


def test_a_notebook_write_that_fails_leaves_the_notebook(
  tmp_path, failing_writes
):
  notebook = nbformat.v4.new_notebook(
    cells=[nbformat.v4.new_code_cell(OLD.format(0))]
  )
  path = tmp_path / 'f1.ipynb'
  nbformat.write(notebook, path)
  before = path.read_bytes()
  status, _, err = run_command('--write', path)
  assert status == 1
  assert err.startswith(f'{path}: cannot write: No space left on device')
  assert path.read_bytes() == before
  assert [p.name for p in tmp_path.iterdir()] == ['f1.ipynb']


def test_a_read_only_file_is_reported_and_left(tmp_path):
  paths = make_tree(tmp_path)
  paths[1].chmod(0o444)
  status, _, err = run_command('--write', tmp_path)
  assert status == 1
  assert err.splitlines()[0] == (
    f'{paths[1]}: cannot write: the file is read-only; left unchanged'
  )
  assert assert_old_or_new(paths) == {
    'f0.py': 'new',
    'f1.py': 'old',
    'f2.py': 'new',
  }


def test_a_file_changed_between_read_and_write_is_left_alone(
  tmp_path, monkeypatch
):
  paths = make_tree(tmp_path)
  edited = OLD.format(1) + 'print("saved by an editor meanwhile")\n'
  read = _files.read

  def read_then_edit(path):
    program = read(path)
    if path.name == 'f1.py':
      path.write_text(edited)
    return program

  monkeypatch.setattr(_files, 'read', read_then_edit)
  status, _, err = run_command('--write', '--jobs', '1', tmp_path)
  assert status == 1
  assert err.splitlines()[0] == (
    f'{paths[1]}: cannot write: the file changed on disk since it was '
    'read; left unchanged'
  )
  assert paths[1].read_text() == edited
  assert [p.read_text() for p in (paths[0], paths[2])] == [
    NEW.format(0),
    NEW.format(2),
  ]


@pytest.mark.slow
def test_files_that_cannot_be_read_are_reported_without_a_traceback(tmp_path):
  (tmp_path / 'a.py').write_bytes(b'x = "\xff"\n')
  (tmp_path / 'b.ipynb').write_text('{not json')
  make_tree(tmp_path, 1)
  status, _, err = run_command('--write', tmp_path)
  assert status == 1
  lines = err.splitlines()
  assert lines[0].startswith(f'{tmp_path}/a.py: cannot read: ')
  assert lines[1].startswith(f'{tmp_path}/b.ipynb: cannot read: ')
  assert lines[-1] == '3 file(s) checked, 1 migrated, 2 place(s) need attention'
  assert 'Traceback' not in err


def test_code_without_tensorflow_is_left_alone_but_checked(tmp_path):
  (tmp_path / 'plain.py').write_text('import numpy as np\nx = np.ones(3)\n')
  (tmp_path / 'python2.py').write_text('print "x"\n')
  status, out, err = run_command('--write', tmp_path)
  assert (status, out) == (1, '')
  assert err.splitlines() == [
    f'{tmp_path}/python2.py:1:1: syntax error: Missing parentheses in call '
    "to 'print'. Did you mean print(...)?; left unchanged",
    '2 file(s) checked, 0 migrated, 1 place(s) need attention',
  ]


def test_permissions_and_links_are_kept(tmp_path):
  real = tmp_path / 'real.py'
  real.write_text(OLD.format(0))
  real.chmod(0o751)
  link = tmp_path / 'link.py'
  link.symlink_to(real)
  assert run_command('--write', link)[0] == 0
  assert link.is_symlink()
  assert real.read_text() == NEW.format(0)
  assert stat.S_IMODE(real.stat().st_mode) == 0o751


def test_replace_refuses_what_is_no_longer_a_file(tmp_path):
  path = tmp_path / 'gone.py'
  path.mkdir()
  with pytest.raises(_write.WriteError, match='not a regular file'):
    _write.replace(path, b'new', expected=b'old')


def test_parallel_runs_report_in_path_order(tmp_path):
  """Two processes, and the report as one process gives it."""
  for index in range(4):
    (tmp_path / f'f{index}.py').write_text(
      OLD.format(index) + 'store = tfe.EagerVariableStore()\n'
    )
  one = run_command('--jobs', '1', tmp_path)
  two = run_command('--jobs', '2', tmp_path)
  assert one == two
  # Each file: the tensorflow.contrib import that stays, then the store.
  assert [line.split(':')[0] for line in one[2].splitlines()[:-1]] == [
    str(tmp_path / f'f{index}.py') for index in range(4) for _ in range(2)
  ]


class Terminal(io.StringIO):
  def isatty(self):
    return True


def test_progress_shows_on_a_terminal_only_for_more_than_a_few_files():
  paths = [f'f{index}.py' for index in range(_parallel.PROGRESS_FROM)]
  terminal, pipe = Terminal(), io.StringIO()
  for stream in (terminal, pipe):
    progress = _parallel.Progress(len(paths), stream)
    assert list(_parallel.run(str.upper, paths, jobs=1, progress=progress)) == [
      p.upper() for p in paths
    ]
  assert f'[{len(paths)}/{len(paths)}] f{len(paths) - 1}.py' in (
    terminal.getvalue()
  )
  assert pipe.getvalue() == ''
  few = Terminal()
  list(
    _parallel.run(
      str.upper, paths[:3], jobs=1, progress=_parallel.Progress(3, few)
    )
  )
  assert few.getvalue() == ''


@pytest.mark.slow
@pytest.mark.parametrize(
  'argv, imports_tensorflow',
  [
    (['--help'], False),
    (['old.py'], False),
    (['--write', '--jobs', '2', '.'], False),
    (['--tf-upgrade-v2', 'old.py'], True),
  ],
)
def test_tensorflow_is_imported_only_for_tf_upgrade_v2(
  tmp_path, argv, imports_tensorflow
):
  (tmp_path / 'old.py').write_text(OLD.format(0))
  (tmp_path / 'other.py').write_text(OLD.format(1))
  script = textwrap.dedent(f'''
      import sys
      from tfgradtools import migrate
      try:
        migrate.main({argv!r})
      except SystemExit:
        pass
      print('tensorflow' in sys.modules, file=sys.stderr)
  ''')
  completed = subprocess.run(
    [sys.executable, '-c', script],
    capture_output=True,
    text=True,
    cwd=tmp_path,
    timeout=300,
    check=False,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'),
  )
  assert completed.stderr.splitlines()[-1] == str(imports_tensorflow)


def test_the_outcome_of_a_worker_is_all_the_parent_needs(tmp_path):
  """What a worker sends back: the content read, and the one to write."""
  path = make_tree(tmp_path, 1)[0]
  outcome = _pipeline.migrate_file(path, _pipeline.Options())
  assert (outcome.raw, outcome.new) == (
    OLD.format(0).encode(),
    NEW.format(0).encode(),
  )
  assert outcome.diff.startswith(f'--- {path}\n')
