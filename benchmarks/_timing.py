"""Timing, op counting and fresh-process helpers shared by the benchmarks.

Every comparison runs in one process, interleaved: each implementation's
per-call time is the median over rounds (in shuffled order) of the best of
three batches of calls, so that no implementation always follows the same
one and other processes' noise is mostly filtered out.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import tensorflow as tf

Impls = dict[str, Callable[..., Any]]
HERE = os.path.dirname(os.path.abspath(__file__))


def environment() -> str:
  """One line saying what the figures were measured on."""
  return (
    f'TensorFlow {tf.__version__}, Python '
    f'{platform.python_version()}, '
    f'{platform.processor() or platform.machine()}, '
    f'{os.cpu_count()} cores'
  )


def wait(result: Any) -> None:
  """Blocks until the last Tensor of `result` is computed."""
  leaves = [t for t in tf.nest.flatten(result) if hasattr(t, 'numpy')]
  if leaves:
    leaves[-1].numpy()


def time_impls(
  impls: Impls, args: list[Any], rounds: int, seconds: float
) -> dict[str, float]:
  """Seconds per call of each implementation: the median over interleaved
  rounds of the best of three batches of about `seconds` each."""
  for impl in impls.values():  # Warm up (and trace).
    for _ in range(3):
      wait(impl(*args))
  calls = {}
  for name, impl in impls.items():
    start = time.perf_counter()
    wait(impl(*args))
    elapsed = time.perf_counter() - start
    calls[name] = max(1, int(seconds / max(elapsed, 1e-7)))
  samples: dict[str, list[float]] = {name: [] for name in impls}
  order = list(impls)
  shuffle = random.Random(0).shuffle
  for _ in range(rounds):
    shuffle(order)
    for name in order:
      impl, n = impls[name], calls[name]
      best = float('inf')
      for _ in range(3):
        gc.disable()
        start = time.perf_counter()
        for _ in range(n):
          result = impl(*args)
        wait(result)
        best = min(best, (time.perf_counter() - start) / n)
        gc.enable()
      samples[name].append(best)
  return {name: statistics.median(s) for name, s in samples.items()}


def time_sequences(
  sequences: dict[str, Callable[[], Any]], rounds: int
) -> dict[str, float]:
  """Seconds per run of each whole sequence of calls (a call pattern): the
  median over interleaved rounds. Nothing is warmed up: a pattern's first
  calls are part of it."""
  samples: dict[str, list[float]] = {name: [] for name in sequences}
  order = list(sequences)
  shuffle = random.Random(1).shuffle
  for _ in range(rounds):
    shuffle(order)
    for name in order:
      gc.collect()
      gc.disable()
      start = time.perf_counter()
      wait(sequences[name]())
      samples[name].append(time.perf_counter() - start)
      gc.enable()
  return {name: statistics.median(s) for name, s in samples.items()}


def median_seconds(compute: Callable[[], Any], repeats: int) -> float:
  """Median seconds of `compute()` after one untimed call."""
  wait(compute())
  samples = []
  for _ in range(repeats):
    start = time.perf_counter()
    wait(compute())
    samples.append(time.perf_counter() - start)
  return statistics.median(samples)


def first_call_seconds(compute: Callable[[], Any]) -> float:
  start = time.perf_counter()
  wait(compute())
  return time.perf_counter() - start


def op_counts(impls: Impls, args: list[Any]) -> dict[str, int]:
  """Ops in each implementation's traced graph."""
  return {
    name: len(
      tf.function(impl).get_concrete_function(*args).graph.get_operations()
    )
    for name, impl in impls.items()
  }


def patched(
  impl: Callable[..., Any], module: Any, name: str, value: Any
) -> Callable[..., Any]:
  """`impl`, called with `module.name` set to `value`."""

  def call(*args):
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
      return impl(*args)
    finally:
      setattr(module, name, saved)

  return call


def peak_memory_mib(compute: Callable[[], Any]) -> float:
  """MiB of resident memory `compute()` adds to this process at its peak,
  sampled every 0.5 ms by a thread. Run it in a fresh process
  (`last_line_of`), where no earlier allocation hides the peak."""
  import psutil  # pylint: disable=g-import-not-at-top  # The test extra's.

  process = psutil.Process()
  before = peak = process.memory_info().rss
  done = threading.Event()

  def watch():
    nonlocal peak
    while not done.wait(0.0005):
      peak = max(peak, process.memory_info().rss)

  watcher = threading.Thread(target=watch)
  watcher.start()
  try:
    wait(compute())
  finally:
    done.set()
    watcher.join()
  return (max(peak, process.memory_info().rss) - before) / 2**20


def last_line_of(script: str, timeout: float = 600) -> str:
  """Runs `script` in a fresh Python process (this folder importable) and
  returns the last line it prints: memory is measured where the allocator
  state of this process does not count."""
  prelude = (
    f'import os, sys\nos.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"\n'
    f'sys.path.insert(0, {HERE!r})\n'
  )
  completed = subprocess.run(
    [sys.executable, '-c', prelude + script],
    check=True,
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  return completed.stdout.strip().splitlines()[-1]


def print_table(
  header: list[str], rows: list[list[Any]], align: str = ''
) -> None:
  """A Markdown table; `align` gives each column 'l' or 'r' (default:
  first column left, the others right)."""
  align = align or 'l' + 'r' * (len(header) - 1)
  print('| ' + ' | '.join(header) + ' |')
  print('|' + '|'.join('---' if a == 'l' else '---:' for a in align) + '|')
  for row in rows:
    print('| ' + ' | '.join(str(cell) for cell in row) + ' |')
  print()


def main(report: Callable[[bool], None], doc: str) -> None:
  """Runs one benchmark module's `report` from the command line."""
  parser = argparse.ArgumentParser(description=doc.split('\n\n')[0])
  parser.add_argument(
    '--quick',
    action='store_true',
    help='fewer rounds and sizes, for development',
  )
  args = parser.parse_args()
  tf.get_logger().setLevel('ERROR')
  print(f'{environment()}\n')
  report(args.quick)
