"""Reads and writes the programs: `.py` files and notebooks' code cells.

A program is a list of code units: a `.py` file is one, a notebook has one
per code cell. IPython syntax (`%magic`, `!shell`, `help?`) is not Python:
a cell whose first line is a `%%` cell magic is left alone, and in other
cells such lines are masked as `pass` while the code is rewritten, then put
back as they were.
"""

from __future__ import annotations

import bisect
import collections
import copy
import dataclasses
import difflib
import io
import pathlib
import re
import tokenize
from typing import Any, Callable

SUFFIXES = ('.py', '.ipynb')
_IPYTHON_LINE = re.compile(r'\s*([%!?]|.*\?$|[\w.,\s\[\]()]+=\s*[%!])')
_PLACEHOLDER = '{indent}pass  # tfgradtools.migrate: IPython line {index}'
_PLACEHOLDER_LINE = re.compile(
  r'\s*pass  # tfgradtools\.migrate: IPython line (\d+)$'
)


@dataclasses.dataclass
class Program:
  """A file's code units, and how to put new code back into the file."""

  path: pathlib.Path
  raw: bytes  # the file's content as read
  units: list[str | None]  # None: a unit left alone (a %% cell)
  labels: list[str]  # how a report names each unit: '' or 'cell 3'
  encoding: str = 'utf-8'
  notebook: Any = None  # the nbformat notebook
  cells: list[int] = dataclasses.field(default_factory=list)

  def render(self, units: list[str | None]) -> bytes:
    """The file's content with `units` in place of the old ones."""
    if self.notebook is None:
      return _text(units[0]).encode(self.encoding)
    import nbformat  # pylint: disable=g-import-not-at-top

    notebook = copy.deepcopy(self.notebook)
    for index, code in zip(self.cells, units, strict=True):
      if code is not None:
        notebook.cells[index].source = code
    # As nbformat.write() saves it.
    text: str = nbformat.writes(notebook)  # type: ignore[no-untyped-call]
    return (text if text.endswith('\n') else text + '\n').encode('utf-8')

  def diff(self, units: list[str | None]) -> str:
    """A unified diff per changed unit (per cell for a notebook)."""
    if self.notebook is None:
      return unified_diff(_text(self.units[0]), _text(units[0]), str(self.path))
    # A cell has no final newline to speak of: compare cells as lines.
    return ''.join(
      unified_diff(_text(old) + '\n', _text(new) + '\n', f'{self.path}:{label}')
      for label, old, new in zip(self.labels, self.units, units, strict=True)
      if old != new
    )


def _text(code: str | None) -> str:
  """A unit's code; a unit left alone (None) has none to change."""
  return '' if code is None else code


def find(paths: list[str]) -> tuple[list[pathlib.Path], list[str]]:
  """The `.py` and `.ipynb` files under `paths`, and error messages."""
  found, errors = [], []
  for name in paths:
    path = pathlib.Path(name)
    if path.is_dir():
      found += sorted(
        p
        for p in path.rglob('*')
        if p.suffix in SUFFIXES
        and p.is_file()
        and not any(
          part.startswith('.') or part == '__pycache__'
          for part in p.relative_to(path).parts
        )
      )
    elif path.is_file() and path.suffix in SUFFIXES:
      found.append(path)
    elif path.exists():
      errors.append(f'{name}: not a .py or .ipynb file')
    else:
      errors.append(f'{name}: no such file or directory')
  return list(dict.fromkeys(found)), errors


def read(path: pathlib.Path) -> Program:
  """Reads a `.py` file (keeping its encoding and newlines) or a notebook."""
  raw = path.read_bytes()
  if path.suffix == '.py':
    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    return Program(path, raw, [raw.decode(encoding)], [''], encoding)
  import nbformat  # pylint: disable=g-import-not-at-top

  notebook: Any = nbformat.reads(  # type: ignore[no-untyped-call]
    raw.decode('utf-8'), as_version=nbformat.NO_CONVERT
  )
  if notebook.nbformat < 4:
    raise ValueError(
      f'notebook format {notebook.nbformat} is not supported; '
      'save it again with Jupyter'
    )
  cells = [
    i for i, cell in enumerate(notebook.cells) if cell.cell_type == 'code'
  ]
  units = [
    None
    if notebook.cells[i].source.lstrip().startswith('%%')
    else notebook.cells[i].source
    for i in cells
  ]
  return Program(
    path,
    raw,
    units,
    [f'cell {i + 1}' for i in cells],
    notebook=notebook,
    cells=cells,
  )


def mask(code: str) -> tuple[str, list[str]]:
  """`code` with IPython lines replaced by placeholders, and those lines."""
  lines = code.splitlines(keepends=True)
  masked: list[str] = []
  originals: list[str] = []
  continued, indent = False, ''
  for line in lines:
    if continued or _IPYTHON_LINE.match(line.rstrip('\r\n')):
      if not continued:  # A continuation line keeps its first line's indent.
        indent = line[: len(line) - len(line.lstrip())]
      ending = line[len(line.rstrip('\r\n')) :]
      masked.append(
        _PLACEHOLDER.format(indent=indent, index=len(originals)) + ending
      )
      originals.append(line)
      continued = line.rstrip('\r\n').endswith('\\')
    else:
      masked.append(line)
  return ''.join(masked), originals


def unmask(code: str, originals: list[str]) -> str:
  """Puts the lines `mask` replaced back."""
  if not originals:
    return code
  lines = code.splitlines(keepends=True)
  for i, line in enumerate(lines):
    found = _PLACEHOLDER_LINE.match(line.rstrip('\r\n'))
    if found:
      original = originals[int(found.group(1))]
      ending = line[len(line.rstrip('\r\n')) :]
      lines[i] = original.rstrip('\r\n') + ending
  return ''.join(lines)


def unified_diff(old: str, new: str, name: str, context: int = 3) -> str:
  """A unified diff of two texts, marking a missing final newline."""
  a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
  if a == b:
    return ''
  lines = [f'--- {name}\n', f'+++ {name}\n']
  for group in _Matcher(a, b).get_grouped_opcodes(context):
    (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
    lines.append(f'@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n')
    for tag, i1, i2, j1, j2 in group:
      if tag == 'equal':
        lines += [' ' + line for line in a[i1:i2]]
        continue
      lines += ['-' + line for line in a[i1:i2]]
      lines += ['+' + line for line in b[j1:j2]]
  return ''.join(
    line if line.endswith('\n') else line + '\n\\ No newline at end of file\n'
    for line in lines
  )


def _range(start: int, stop: int) -> str:
  """A hunk's range as unified diffs write it (as difflib does)."""
  length = stop - start
  first = start + 1 if length else start
  return str(first) if length == 1 else f'{first},{length}'


def line_map(old: str, new: str) -> Callable[[int], int]:
  """Maps a line number of `new` to the matching line of `old`."""
  opcodes = _Matcher(old.splitlines(), new.splitlines()).get_opcodes()

  def to_old(line: int) -> int:
    for _, i1, i2, j1, j2 in opcodes:
      if j1 < line <= j2:
        return i1 + line - j1 if i2 - i1 == j2 - j1 else i1 + 1
    return line

  return to_old


class _Matcher(difflib.SequenceMatcher[str]):
  """difflib's matcher, made fast on long files with many small changes.

  Lines that occur once in each text, in the same order in both, anchor the
  match (as in patience diff); difflib matches the short stretches between
  anchors. difflib alone takes time quadratic in the number of changes.
  """

  def __init__(self, a: list[str], b: list[str]):
    super().__init__(None, a, b, autojunk=False)
    self._lines = a, b
    self._blocks: list[difflib.Match] | None = None

  def get_matching_blocks(self) -> list[difflib.Match]:
    if self._blocks is None:
      a, b = self._lines
      blocks = []
      i = j = 0
      for anchor_i, anchor_j in [
        *_anchors(a, b),
        (len(a), len(b)),
      ]:
        gap = difflib.SequenceMatcher(
          None, a[i:anchor_i], b[j:anchor_j], autojunk=False
        )
        blocks += [
          difflib.Match(i + m.a, j + m.b, m.size)
          for m in gap.get_matching_blocks()
          if m.size
        ]
        if anchor_i < len(a):
          blocks.append(difflib.Match(anchor_i, anchor_j, 1))
        i, j = anchor_i + 1, anchor_j + 1
      merged: list[difflib.Match] = []
      for block in blocks:  # Adjacent blocks become one, as difflib's are.
        if merged and (
          merged[-1].a + merged[-1].size == block.a
          and merged[-1].b + merged[-1].size == block.b
        ):
          merged[-1] = difflib.Match(
            merged[-1].a, merged[-1].b, merged[-1].size + block.size
          )
        else:
          merged.append(block)
      self._blocks = [
        *merged,
        difflib.Match(len(a), len(b), 0),
      ]
    return self._blocks


def _anchors(a: list[str], b: list[str]) -> list[tuple[int, int]]:
  """Lines unique in both texts, in the longest run in the same order."""
  count_a, count_b = collections.Counter(a), collections.Counter(b)
  where_b = {line: j for j, line in enumerate(b) if count_b[line] == 1}
  pairs = [
    (i, where_b[line])
    for i, line in enumerate(a)
    if count_a[line] == 1 and line in where_b
  ]
  # The longest increasing run of b positions (patience sorting).
  tails: list[int] = []
  tail_values: list[int] = []
  links: list[int | None] = []
  for position, (_, j) in enumerate(pairs):
    at = bisect.bisect_left(tail_values, j)
    links.append(tails[at - 1] if at else None)
    if at == len(tails):
      tails.append(position)
      tail_values.append(j)
    else:
      tails[at], tail_values[at] = position, j
  run: list[tuple[int, int]] = []
  index = tails[-1] if tails else None
  while index is not None:
    run.append(pairs[index])
    index = links[index]
  return run[::-1]
