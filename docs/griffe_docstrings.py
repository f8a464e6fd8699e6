"""A griffe extension: two conventions of our docstrings, for the reference.

The docstrings are written to be read with `help()` and run as doctests;
griffe's Google-style parser reads two of their conventions differently,
so the reference pages (not the sources) see them rewritten:

* a doctest block (`>>>` lines up to a blank line) that is not indented
  under a section title is fenced as a `pycon` code block, instead of being
  read as Markdown (where `>>>` opens a quotation);
* an `Args:` entry naming several parameters (`a, b: as in f.`, the names
  possibly running over several lines) becomes one entry per parameter.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_NAMES = re.compile(r'\*{0,2}\w+(?:,\s*\*{0,2}\w+)*')


def _fence_doctests(lines: list[str]) -> list[str]:
  out: list[str] = []
  in_doctest = in_fence = False
  for line in lines:
    if line.lstrip().startswith('```'):
      in_fence = not in_fence
    if in_doctest and not line.strip():
      out.append('```')
      in_doctest = False
    elif not in_doctest and not in_fence and line.startswith('>>>'):
      out.append('```pycon')
      in_doctest = True
    out.append(line)
  return out + (['```'] if in_doctest else [])


def _split_grouped_args(lines: list[str]) -> list[str]:
  out: list[str] = []
  in_args = False
  i = 0
  while i < len(lines):
    line = lines[i]
    if line.rstrip() in ('Args:', 'Arguments:', 'Parameters:'):
      in_args = True
    elif line and not line.startswith(' '):
      in_args = False
    header = line.strip()
    if in_args and line.startswith('  ') and not line.startswith('   '):
      # An entry's header: its names may run on to indented lines.
      j = i
      while header.endswith(',') and j + 1 < len(lines):
        j += 1
        header += ' ' + lines[j].strip()
      names, sep, description = header.partition(':')
      if sep and ',' in names and _NAMES.fullmatch(names.strip()):
        body = []
        while j + 1 < len(lines) and lines[j + 1].startswith('    '):
          j += 1
          body.append(lines[j])
        for name in names.split(','):
          out.append(f'  {name.strip()}:{description}')
          out.extend(body)
        i = j + 1
        continue
    out.append(line)
    i += 1
  return out


class DocstringConventions(griffe.Extension):
  """Rewrites each docstring as the module docstring describes."""

  def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
    del kwargs  # Unused.
    if obj.docstring is not None:
      lines = obj.docstring.value.splitlines()
      obj.docstring.value = '\n'.join(
          _fence_doctests(_split_grouped_args(lines)))
