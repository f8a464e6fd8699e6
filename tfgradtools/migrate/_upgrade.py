"""TensorFlow's own `tf_upgrade_v2` conversion, run on code as a string.

The conversion ships with TensorFlow (`tensorflow.tools.compatibility`);
this calls it with the defaults of its command line, keeps its changes to
the statements it logged a change in and nothing else (it also rewrites
unrelated whitespace, such as a whitespace-only last line), and turns what
it asks a person to check into report entries.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import functools
import io
import os
import re

from tfgradtools.migrate import _files
from tfgradtools.migrate import _names
from tfgradtools.migrate import _tfnames

_LOG = re.compile(r'(\d+):(\d+): (\w+): (.*)', re.DOTALL)


@functools.cache
def _upgrader():
  """The upgrader, without its renames to names the installed TensorFlow
  lacks (with Keras 3, it would turn `tf.keras.optimizers.Adam` into the
  legacy optimizer Keras 3 no longer has)."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')   # The report is ours.
  # pylint: disable=g-import-not-at-top
  from tensorflow.tools.compatibility import ast_edits
  from tensorflow.tools.compatibility import tf_upgrade_v2

  renames = {}

  class Spec(tf_upgrade_v2.TFAPIChangeSpec):
    # It initialises itself again after each file.
    def __init__(self, **kwargs):
      super().__init__(**kwargs)
      if not renames:
        renames.update(
            (old, new) for old, new in self.symbol_renames.items()
            if _tfnames.exists(_names.TENSORFLOW + new[2:]))
      self.symbol_renames = dict(renames)

  return ast_edits.ASTCodeUpgrader(Spec(import_rename=False,
                                        upgrade_compat_v1_import=True))


def upgrade(code: str) -> tuple[str, list[tuple[int, int, str]]]:
  """`code` converted, and its warnings and errors: (line, column, text).

  Lines are those of the converted code, columns 1-based. Messages about
  `tf.contrib.eager` are dropped: those names are this command's, and it
  reports the ones it leaves.
  """
  with contextlib.redirect_stdout(io.StringIO()):   # It prints every change.
    parsed, new_code, log, errors = _upgrader().update_string_pasta(code, None)
  if not parsed:
    return code, [(1, 1, 'tf_upgrade_v2 could not parse this code: ' +
                   log[-1].strip().splitlines()[-1])]
  changed, found = set(), []
  for entry in log + errors:
    match = _LOG.match(entry)
    if match:
      changed.add(int(match.group(1)))
  new_code = keep_changes(code, new_code, _statement_lines(code, changed))
  to_new = _files.line_map(new_code, code)
  for error in errors:
    match = _LOG.match(error)
    if match and 'tf.contrib.eager' not in match.group(4):
      line, column, severity, text = match.groups()
      found.append((to_new(int(line)), int(column) + 1,
                    f'{severity.lower()}: {text.strip()}'))
  return new_code, found


def _statement_lines(code: str, lines: set[int]) -> set[int]:
  """Every line of the innermost statements that hold one of `lines`."""
  spans = [(node.lineno, node.end_lineno) for node in ast.walk(ast.parse(code))
           if isinstance(node, ast.stmt) and not isinstance(node, (
               ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If,
               ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith,
               ast.Try))]
  covered = set(lines)
  for line in lines:
    inner = [s for s in spans if s[0] <= line <= s[1]]
    if inner:
      first, last = min(inner, key=lambda s: s[1] - s[0])
      covered.update(range(first, last + 1))
  return covered


def keep_changes(old: str, new: str, lines: set[int]) -> str:
  """`new` where it differs from `old` on `lines` (of `old`), else `old`.

  Example:

  >>> keep_changes('a = 1\\nb = 2\\n  \\n', 'a = 10\\nb = 20\\n', {1})
  'a = 10\\nb = 2\\n  \\n'
  """
  old_lines, new_lines = (old.splitlines(keepends=True),
                          new.splitlines(keepends=True))
  kept = []
  matcher = difflib.SequenceMatcher(None, old_lines, new_lines,
                                    autojunk=False)
  for tag, i1, i2, j1, j2 in matcher.get_opcodes():
    if tag == 'equal':
      kept += old_lines[i1:i2]
    elif i2 - i1 == j2 - j1:   # Line for line: each line on its own.
      kept += [new_lines[j1 + k] if i1 + k + 1 in lines else old_lines[i1 + k]
               for k in range(i2 - i1)]
    elif any(line in lines for line in range(i1 + 1, i2 + 1)):
      kept += new_lines[j1:j2]
    else:
      kept += old_lines[i1:i2]
  result = ''.join(kept)
  # A changed last line may have lost or gained the final newline.
  if old.endswith('\n') != result.endswith('\n') and result.rstrip('\n'):
    result = result + '\n' if old.endswith('\n') else result[:-1]
  return result

