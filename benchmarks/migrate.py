"""Speed of `python -m tfgradtools.migrate`: a 1 MB file and a 200-file tree.

    python benchmarks/migrate.py [--before COMMIT] [--repeat N]

Prints, for the code checked out and (with --before) the code at COMMIT:

* the 1 MB file (old calls throughout), in this process: the migration's
  work (`--write` without the write) against libcst parsing the file and
  resolving positions, medians of interleaved runs; the target is <= 2x;
* the command on the 1 MB file and on a tree of 200 files of 10-50 KB
  (`--write`, default --jobs), and `--help`, as wall times of fresh
  processes and the CPU time they used; the target for the tree is < 60 s
  on 2 cores (on a machine shared with other work, the CPU time halved is
  what 2 free cores would take).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import libcst as cst
from libcst import metadata

from tfgradtools.migrate import _pipeline

ROOT = pathlib.Path(__file__).resolve().parent.parent

_OLD = '''\
def loss_{i}(x, y):
  """Squared error of model {i}."""
  return tf.reduce_mean(tf.square(w_{i} * x + b_{i} - y))  # {i}
w_{i} = tfe.Variable(0.5, name='w_{i}')
b_{i} = tfe.Variable(0., name='b_{i}')
grad_{i} = tfe.implicit_value_and_gradients(loss_{i})
value_{i}, pairs_{i} = grad_{i}(inputs, targets)

'''
_UNRELATED = '''\
def helper_{i}(values, scale={i}):
  """Unrelated code: left as it is."""
  total = 0
  for value in values:
    total += value * scale
  return {{'total': total, 'index': {i}}}

'''
_HEADER = ('import numpy as np\nimport tensorflow as tf\n'
           'import tensorflow.contrib.eager as tfe\n\n'
           'inputs = np.linspace(-1., 1., 8).astype(np.float32)\n'
           'targets = 3. * inputs - 1.\n\n')


def old_program(size: int, old_share: float, seed: int) -> str:
  """About `size` bytes of TF 1.x eager code, `old_share` of it old calls."""
  rng = random.Random(seed)
  parts, length, i = [_HEADER], len(_HEADER), 0
  while length < size:
    part = (_OLD if rng.random() < old_share else _UNRELATED).format(i=i)
    parts.append(part)
    length += len(part)
    i += 1
  return ''.join(parts)


def make_inputs(directory: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
  big = directory / 'big.py'
  big.write_text(old_program(1_000_000, 1., seed=0))
  tree = directory / 'tree'
  rng = random.Random(1)
  for index in range(200):
    path = tree / f'package_{index % 10}' / f'module_{index}.py'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(old_program(rng.randint(10_000, 50_000), 0.3, index))
  return big, tree


def command_seconds(source: pathlib.Path, *argv, repeat: int = 1
                    ) -> tuple[float, float]:
  """Median wall time of the command run from `source` (a checkout), and
  the CPU time of its processes (the same on a busy machine, where the wall
  time is not)."""
  times, cpu_times = [], []
  for _ in range(repeat):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, '-m', 'tfgradtools.migrate', *argv],
                   cwd=source, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL,
                   env={'PYTHONPATH': str(source), 'PATH': '/usr/bin:/bin'})
    times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_times.append(after.ru_utime + after.ru_stime - before.ru_utime -
                     before.ru_stime)
  return statistics.median(times), statistics.median(cpu_times)


def in_process_ratio(big: pathlib.Path, repeat: int) -> tuple[float, float]:
  """(migration's work, libcst parse + positions) on `big`, medians."""
  code = big.read_text()

  def libcst_positions():
    module = cst.parse_module(code)
    metadata.MetadataWrapper(module).resolve(metadata.PositionProvider)

  def migration():
    _pipeline.migrate_file(big, _pipeline.Options())

  ours, theirs = [], []
  for _ in range(repeat):
    for function, times in ((migration, ours), (libcst_positions, theirs)):
      start = time.perf_counter()
      function()
      times.append(time.perf_counter() - start)
  return statistics.median(ours), statistics.median(theirs)


def checkout(commit: str, directory: pathlib.Path) -> pathlib.Path:
  """The package at `commit`, extracted into `directory`."""
  directory.mkdir()
  archive = subprocess.run(['git', 'archive', commit, 'tfgradtools'],
                           cwd=ROOT, check=True, capture_output=True).stdout
  subprocess.run(['tar', '-x', '-C', str(directory)], input=archive,
                 check=True)
  return directory


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--before', metavar='COMMIT',
                      help='also time the command at this commit')
  parser.add_argument('--repeat', type=int, default=3)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as scratch:
    scratch = pathlib.Path(scratch)
    big, tree = make_inputs(scratch)
    ours, theirs = in_process_ratio(big, args.repeat)
    print(f'1 MB file, in process: migration {ours:.1f} s, libcst parse + '
          f'positions {theirs:.1f} s: {ours / theirs:.2f}x (target <= 2x)')
    versions = {'now': ROOT}
    if args.before:
      versions[args.before] = checkout(args.before, scratch / 'before')
    for label, source in versions.items():
      work = scratch / f'work-{label}'
      shutil.copytree(tree, work / 'tree')
      shutil.copy(big, work / 'big.py')
      help_time, _ = command_seconds(source, '--help', repeat=args.repeat)
      big_time, big_cpu = command_seconds(source, '--write', work / 'big.py')
      tree_time, tree_cpu = command_seconds(source, '--write', work / 'tree')
      print(f'{label}: --help {help_time:.2f} s; 1 MB file --write '
            f'{big_time:.1f} s (CPU {big_cpu:.1f} s); 200-file tree --write '
            f'{tree_time:.1f} s (CPU {tree_cpu:.1f} s, '
            f'{os.cpu_count()} cores)')


if __name__ == '__main__':
  main()
