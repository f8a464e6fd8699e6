"""Runs a function over many paths in worker processes, results in order.

Workers are started fresh (`spawn`): the calling process may hold
TensorFlow's threads, which a fork would copy in a broken state. A progress
line (files done / total, the last file done) is drawn on stderr when it is
a terminal and there are more than a few files; pipes and CI logs stay
clean.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import pathlib
import sys
from typing import Callable, Iterator, TextIO, TypeVar

Result = TypeVar('Result')
PROGRESS_FROM = 8  # files; fewer finish before a progress line would help


def default_jobs() -> int:
  """One worker per core this process may use."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # Not on Linux.
    return os.cpu_count() or 1


def run(
  function: Callable[..., Result],
  paths: list[pathlib.Path],
  *args: object,
  jobs: int,
  progress: Progress | None = None,
) -> Iterator[Result]:
  """Yields `function(path, *args)` for each path, in the order of `paths`.

  Args:
    function: a module-level function (workers import it by name).
    paths: what to run it on.
    *args: further arguments, the same for every path (picklable).
    jobs: how many worker processes at most; with 1 (or one path), the
      work is done in this process.
    progress: told of each path done.
  """
  progress = progress or Progress(0, sys.stderr)
  if min(jobs, len(paths)) <= 1:
    for path in paths:
      result = function(path, *args)
      progress.done(path)
      yield result
    return
  context = multiprocessing.get_context('spawn')
  with concurrent.futures.ProcessPoolExecutor(
    min(jobs, len(paths)), mp_context=context
  ) as pool:
    pending = [pool.submit(function, path, *args) for path in paths]
    where = dict(zip(pending, paths, strict=True))
    try:
      for future in concurrent.futures.as_completed(where):
        progress.done(where[future])
        while pending and pending[0].done():  # The next in order is ready.
          yield pending.pop(0).result()
    finally:
      for future in pending:
        future.cancel()


class Progress:
  """`[done/total] path` on one terminal line, redrawn as files finish."""

  def __init__(self, total: int, stream: TextIO):
    self._total, self._stream, self._done = total, stream, 0
    self._shown = total >= PROGRESS_FROM and _is_terminal(stream)

  def done(self, path: pathlib.Path) -> None:
    self._done += 1
    if self._shown:
      self._stream.write(f'\r\x1b[K[{self._done}/{self._total}] {path}')
      self._stream.flush()

  def clear(self) -> None:
    """Erases the line, so that a report line can be printed."""
    if self._shown:
      self._stream.write('\r\x1b[K')
      self._stream.flush()


def _is_terminal(stream: TextIO) -> bool:
  try:
    return stream.isatty()
  except (AttributeError, ValueError):
    return False
