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
import functools
import inspect
import io
import os
import re
from typing import Any

from tfgradtools.migrate import _files
from tfgradtools.migrate import _names
from tfgradtools.migrate import _tfnames

_LOG = re.compile(r'(\d+):(\d+): (\w+): (.*)', re.DOTALL)
# How TF 2 names are spelled where the upgrader would take them for TF 1's.
STABLE = 'tf.compat.v2'


@functools.cache
def _upgrader() -> Any:
  """The upgrader, without its renames to names the installed TensorFlow
  lacks (with Keras 3, it would turn `tf.keras.optimizers.Adam` into the
  legacy optimizer Keras 3 no longer has)."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # The report is ours.
  # pylint: disable=g-import-not-at-top
  from tensorflow.tools.compatibility import ast_edits
  from tensorflow.tools.compatibility import tf_upgrade_v2

  renames: dict[str, str] = {}

  class Spec(tf_upgrade_v2.TFAPIChangeSpec):  # type: ignore[misc]
    # It initialises itself again after each file.
    def __init__(self, **kwargs: bool) -> None:
      super().__init__(**kwargs)
      if not renames:
        # A rename to a name the upgrader itself reads as TF 1 code would be
        # upgraded again by a second run (it renames
        # `softmax_cross_entropy_with_logits_v2` to the name whose TF 1
        # calls it wraps in stop_gradient): such names are spelled
        # `tf.compat.v2.`, which it leaves alone.
        renames.update(
          (old, STABLE + new[2:] if _read_again(self, old, new) else new)
          for old, new in self.symbol_renames.items()
          if _tfnames.exists(_names.TENSORFLOW + new[2:])
        )
      self.symbol_renames: dict[str, str] = dict(renames)

  return ast_edits.ASTCodeUpgrader(
    Spec(import_rename=False, upgrade_compat_v1_import=True)
  )


def _read_again(spec: Any, old: str, new: str) -> bool:
  """Whether the upgrader changes a call of `new` that it wrote for `old`:
  it renames or transforms `new` itself, or names positional arguments of
  `new` by their TF 1 order where that differs from the installed
  function's and the call to `old` left them positional."""
  if new in spec.symbol_renames or new in spec.function_transformers:
    return True
  order = spec.function_reorders.get(new)
  if order is None:
    return False
  try:
    function = _tfnames.attribute(_names.TENSORFLOW + new[2:])
    if not callable(function):
      return True  # No signature to compare with.
    parameters: list[str | None] = list(inspect.signature(function).parameters)
  except (TypeError, ValueError):
    return True  # No signature to compare with.
  named = spec.function_reorders.get(old, [])
  return any(
    name is not None
    and name != (parameters + [None] * len(order))[i]
    and (i >= len(named) or named[i] is None)
    for i, name in enumerate(order)
  )


def upgrade(code: str) -> tuple[str, list[tuple[int, int, str]]]:
  """`code` converted, and its warnings and errors: (line, column, text).

  Lines are those of the converted code, columns 1-based. Messages about
  `tf.contrib.eager` are dropped: those names are this command's, and it
  reports the ones it leaves.
  """
  with contextlib.redirect_stdout(io.StringIO()):  # It prints every change.
    parsed, new_code, log, errors = _upgrader().update_string_pasta(code, None)
  if not parsed:
    return code, [
      (
        1,
        1,
        'tf_upgrade_v2 could not parse this code: '
        + log[-1].strip().splitlines()[-1],
      )
    ]
  changed, found = set(), []
  for entry in log + errors:
    match = _LOG.match(entry)
    if match:
      changed.add(int(match.group(1)))
  new_code = keep_changes(code, new_code, changed)
  to_new = _files.line_map(new_code, code)
  for error in errors:
    match = _LOG.match(error)
    if match and 'tf.contrib.eager' not in match.group(4):
      line, column, severity, text = match.groups()
      found.append(
        (
          to_new(int(line)),
          int(column) + 1,
          f'{severity.lower()}: {text.strip()}',
        )
      )
  return new_code, found


def keep_changes(old: str, new: str, lines: set[int]) -> str:
  """`old` with the statements on `lines` (of `old`) taken from `new`.

  `new` is `old` converted statement by statement: each simple statement,
  and each compound statement's header, is matched with the one in the same
  place in `new`.

  Example:

  >>> keep_changes('a = 1\\nb  =  2\\n  \\n', 'a = 10\\nb = 2\\n', {1})
  'a = 10\\nb  =  2\\n  \\n'
  """
  old_spans, new_spans = _spans(old), _spans(new)
  if old_spans is None or new_spans is None or len(old_spans) != len(new_spans):
    return new  # Not converted statement by statement: all of it, then.
  old_lines = old.splitlines(keepends=True)
  new_lines = new.splitlines(keepends=True)
  kept = list(old_lines)
  for (o1, o2), (n1, n2) in reversed(
    list(zip(old_spans, new_spans, strict=True))
  ):
    if not lines.intersection(range(o1, o2 + 1)):
      continue
    chunk = new_lines[n1 - 1 : n2]
    if (
      chunk
      and old_lines[o2 - 1].endswith('\n')
      and not chunk[-1].endswith('\n')
    ):
      chunk[-1] += old_lines[o2 - 1][len(old_lines[o2 - 1].rstrip('\r\n')) :]
    kept[o1 - 1 : o2] = chunk
  return ''.join(kept)


def _spans(code: str) -> list[tuple[int, int]] | None:
  """The line spans of every simple statement and compound statement header
  of `code`, in order."""
  try:
    tree = ast.parse(code)
  except SyntaxError:
    return None
  spans = []
  for node in ast.walk(tree):
    if not isinstance(node, ast.stmt):
      continue
    first = min(
      [node.lineno, *(d.lineno for d in getattr(node, 'decorator_list', []))]
    )
    body = getattr(node, 'body', None)
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
      spans.append((first, max(first, body[0].lineno - 1)))  # The header.
    else:
      spans.append((first, node.end_lineno))
  return sorted(spans)
