"""TensorFlow's own `tf_upgrade_v2` conversion, run on code as a string.

The conversion ships with TensorFlow (`tensorflow.tools.compatibility`);
this only calls it with the defaults of its command line and turns what it
asks a person to check into report entries.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re

_LOG = re.compile(r'(\d+):(\d+): (\w+): (.*)', re.DOTALL)


@functools.cache
def _upgrader():
  # pylint: disable=g-import-not-at-top
  from tensorflow.tools.compatibility import ast_edits
  from tensorflow.tools.compatibility import tf_upgrade_v2
  return ast_edits.ASTCodeUpgrader(tf_upgrade_v2.TFAPIChangeSpec(
      import_rename=False, upgrade_compat_v1_import=True))


def upgrade(code: str) -> tuple[str, list[tuple[int, int, str]]]:
  """`code` converted, and its warnings and errors: (line, column, text).

  Columns are 1-based. Messages about `tf.contrib.eager` are dropped: those
  names are this command's, and it reports the ones it leaves.
  """
  with contextlib.redirect_stdout(io.StringIO()):   # It prints every change.
    parsed, new_code, log, errors = _upgrader().update_string_pasta(code, None)
  if not parsed:
    return code, [(1, 1, 'tf_upgrade_v2 could not parse this code: ' +
                   log[-1].strip().splitlines()[-1])]
  found = []
  for error in errors:
    match = _LOG.match(error)
    if match and 'tf.contrib.eager' not in match.group(4):
      line, column, severity, text = match.groups()
      found.append((int(line), int(column) + 1,
                    f'{severity.lower()}: {text.strip()}'))
  return new_code, found
