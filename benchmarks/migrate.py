"""Speed of `python -m tfgradtools.migrate`, and of the programs it writes.

    python benchmarks/migrate.py [--before COMMIT] [--repeat N] [--steps-only]

Prints the eager training step of a TF 1.x program (two variables,
`tfe.implicit_value_and_gradients`, a `tf.train` optimizer) migrated with
--tf-upgrade-v2, against the same step with the `tf.compat.v1.train`
optimizer written by hand, and with a Keras 3 optimizer (medians of
interleaved runs of 50 steps, CPU time of this process); the target for the
migrated step is <= 1.2x. Then, for the code checked out and (with
--before) the code at COMMIT:

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

from tfgradtools.migrate import _files
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
_HEADER = (
  'import numpy as np\nimport tensorflow as tf\n'
  'import tensorflow.contrib.eager as tfe\n\n'
  'inputs = np.linspace(-1., 1., 8).astype(np.float32)\n'
  'targets = 3. * inputs - 1.\n\n'
)


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
  big.write_text(old_program(1_000_000, 1.0, seed=0))
  tree = directory / 'tree'
  rng = random.Random(1)
  for index in range(200):
    path = tree / f'package_{index % 10}' / f'module_{index}.py'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(old_program(rng.randint(10_000, 50_000), 0.3, index))
  return big, tree


def command_seconds(
  source: pathlib.Path, *argv, repeat: int = 1
) -> tuple[float, float]:
  """Median wall time of the command run from `source` (a checkout), and
  the CPU time of its processes (the same on a busy machine, where the wall
  time is not)."""
  times, cpu_times = [], []
  for _ in range(repeat):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
      [sys.executable, '-m', 'tfgradtools.migrate', *argv],
      cwd=source,
      check=False,
      stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL,
      env={'PYTHONPATH': str(source), 'PATH': '/usr/bin:/bin'},
    )
    times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_times.append(
      after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    )
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


_TRAINING = """\
import numpy as np
import tensorflow as tf
import tensorflow.contrib.eager as tfe

x = np.linspace(-1., 1., 64).astype(np.float32)
y = 3. * x - 1.
w = tfe.Variable(0.5)
b = tfe.Variable(0.)
value_and_grads = tfe.implicit_value_and_gradients(
    lambda: tf.reduce_mean(tf.square(w * x + b - y)))
optimizer = tf.train.{optimizer}
global_step = tf.train.get_or_create_global_step()


def train_step():
  loss, pairs = value_and_grads()
  optimizer.apply_gradients(pairs, global_step=global_step)
"""
_OPTIMIZERS = {
  'GradientDescentOptimizer': ('(0.1)', 'SGD(0.1)'),
  'MomentumOptimizer': ('(0.1, 0.9)', 'SGD(0.1, momentum=0.9)'),
  'AdamOptimizer': ('(0.1)', 'Adam(0.1)'),
}


def _migrated(code: str) -> str:
  program = _files.Program(pathlib.Path('step.py'), code.encode(), [code], [''])
  units, _ = _pipeline.migrate_program(
    program, _pipeline.Options(tf_upgrade_v2=True)
  )
  return units[0]


def _train_step(code: str):
  namespace = {}
  exec(compile(code, 'step.py', 'exec'), namespace)  # pylint: disable=exec-used
  return namespace['train_step']


def training_steps(repeat: int) -> None:
  """Prints ms a step: migrated, hand-written compat.v1, Keras 3."""
  for optimizer, (arguments, keras) in _OPTIMIZERS.items():
    old = _TRAINING.format(optimizer=optimizer + arguments)
    migrated = _migrated(old)
    compat = migrated.replace(
      migrated.split('optimizer = ')[1].split('\n')[0],
      f'tf.compat.v1.train.{optimizer}{arguments}',
    )
    with_keras = compat.replace(
      f'tf.compat.v1.train.{optimizer}{arguments}',
      f'tf.keras.optimizers.{keras}',
    ).replace(
      'pairs, global_step=global_step)', 'pairs)\n  global_step.assign_add(1)'
    )
    steps = {
      name: _train_step(code)
      for name, code in (
        ('migrated', migrated),
        ('compat.v1', compat),
        ('Keras 3', with_keras),
      )
    }
    times = {name: [] for name in steps}
    for step in steps.values():
      for _ in range(20):  # Warm up: slots, function caches.
        step()
    for _ in range(repeat * 5):
      for name, step in steps.items():
        start = time.process_time()
        for _ in range(50):
          step()
        times[name].append((time.process_time() - start) / 50 * 1e3)
    ms = {name: statistics.median(t) for name, t in times.items()}
    written = migrated.split('optimizer = ')[1].split('(')[0]
    print(
      f'{optimizer}: migrated ({written}) {ms["migrated"]:.2f} ms/step, '
      f'compat.v1 {ms["compat.v1"]:.2f}, Keras 3 {ms["Keras 3"]:.2f}: '
      'migrated/compat.v1 '
      f'{ms["migrated"] / ms["compat.v1"]:.2f}x (target <= 1.2x), '
      f'Keras 3/compat.v1 {ms["Keras 3"] / ms["compat.v1"]:.2f}x'
    )


def checkout(commit: str, directory: pathlib.Path) -> pathlib.Path:
  """The package at `commit`, extracted into `directory`."""
  directory.mkdir()
  archive = subprocess.run(
    ['git', 'archive', commit, 'tfgradtools'],
    cwd=ROOT,
    check=True,
    capture_output=True,
  ).stdout
  subprocess.run(['tar', '-x', '-C', str(directory)], input=archive, check=True)
  return directory


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument(
    '--before', metavar='COMMIT', help='also time the command at this commit'
  )
  parser.add_argument('--repeat', type=int, default=3)
  parser.add_argument(
    '--steps-only', action='store_true', help='time the training steps only'
  )
  args = parser.parse_args()
  training_steps(args.repeat)
  if args.steps_only:
    return
  with tempfile.TemporaryDirectory() as scratch:
    scratch = pathlib.Path(scratch)
    big, tree = make_inputs(scratch)
    ours, theirs = in_process_ratio(big, args.repeat)
    print(
      f'1 MB file, in process: migration {ours:.1f} s, libcst parse + '
      f'positions {theirs:.1f} s: {ours / theirs:.2f}x (target <= 2x)'
    )
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
      print(
        f'{label}: --help {help_time:.2f} s; 1 MB file --write '
        f'{big_time:.1f} s (CPU {big_cpu:.1f} s); 200-file tree --write '
        f'{tree_time:.1f} s (CPU {tree_cpu:.1f} s, '
        f'{os.cpu_count()} cores)'
      )


if __name__ == '__main__':
  main()
