"""`python -m tfgradtools.migrate`: old gradient code to TensorFlow 2.

Rewrites TF 1.x `tf.contrib.eager` gradient code (whatever its alias) and,
with `--tfp`, the `tfp.math` gradient functions to `tfgradtools`, in `.py`
files and notebooks; maps the other `tf.contrib.eager` names that have a
TensorFlow 2 equivalent and reports the rest. `--tf-upgrade-v2` then runs
TensorFlow's own upgrade script. Dry run by default; `--write` applies.

It needs the `migrate` extra (libcst, nbformat); importing this package does
not, so `python -m tfgradtools.migrate` can say how to install it.
"""

from __future__ import annotations

import importlib
import sys

INSTALL = 'python -m pip install "tfgradtools[migrate]"'


def main(argv: list[str] | None = None) -> int:
  """Runs the command with `argv` (default: `sys.argv[1:]`).

  Example:

  >>> import pathlib, tempfile
  >>> path = pathlib.Path(tempfile.mkdtemp()) / 'old.py'
  >>> _ = path.write_text('import tensorflow.contrib.eager as tfe\\n'
  ...                     'grad = tfe.gradients_function(lambda x: x * x)\\n')
  >>> main(['--write', str(path)])  # doctest: +ELLIPSIS
  migrated .../old.py
  0
  >>> print(path.read_text(), end='')
  import tfgradtools.eager as tfe
  grad = tfe.gradients_function(lambda x: x * x)

  Args:
    argv: the command-line arguments; `--help` lists them.

  Returns:
    The exit status: 0 when nothing needs a person, 1 when something does
    (a name left in place, a tf_upgrade_v2 warning, a file that does not
    parse), 2 when the command cannot run as asked (a bad path, the extra
    missing).
  """
  for module in ('libcst', 'nbformat'):
    try:
      importlib.import_module(module)
    except ImportError:
      print(
        f'tfgradtools.migrate needs {module}, which is not installed.\n'
        f'Install the migrate extra: {INSTALL}',
        file=sys.stderr,
      )
      return 2
  from tfgradtools.migrate import _cli  # pylint: disable=g-import-not-at-top

  return _cli.run(argv)
