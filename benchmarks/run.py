"""Benchmarks tfgradtools against hand-written code and the anchors.

Everything runs in one process: for each workload (small, many arguments,
large) and mode (eager, tf.function, jit_compile), each implementation's
per-call time is the median over interleaved rounds. Ratios are
tfgradtools / hand-written `tf.GradientTape` code, tfgradtools / `tfp.math`
and, for the small function, tfgradtools / the floor (the value and the
closed-form derivatives, no autodiff). In a graph, hand-written means
`tf.gradients`, the engine tfgradtools uses there. It also counts the
traced ops (against hand-written code with the same engine) and the traces;
then the resident-memory growth over 10,000 eager calls, `hvp` against
forming the Hessian, eager second-order calls against hand-written tape
code, and the eager small call by each path.

    python benchmarks/run.py            # full run (a few minutes)
    python benchmarks/run.py --quick    # under a minute, for development
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
import time
from typing import Any, Callable

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
from tensorflow.python.eager import backprop  # pylint: disable=g-import-not-at-top

import tfgradtools.eager as tfe  # pylint: disable=g-import-not-at-top
import tfgradtools.math as tfm  # pylint: disable=g-import-not-at-top
from tfgradtools import _fast_tape  # pylint: disable=g-import-not-at-top
from tfgradtools import _traced  # pylint: disable=g-import-not-at-top

Impls = dict[str, Callable[..., Any]]
FLOOR = 'no autodiff (floor)'


def seed_f(x, y):
  return x * x * x * y - x * y * y


def hand_tape(f, sources):
  """What a user writes by hand in eager mode (or with a tape in a graph)."""
  with tf.GradientTape() as tape:
    tape.watch(sources)
    y = f(*sources)
  return y, tape.gradient(y, sources)


def hand_symbolic(f, sources):
  """What a user writes by hand in a graph: `tf.gradients`."""
  y = f(*sources)
  return y, tf.nest.pack_sequence_as(
      sources, tf.gradients(y, tf.nest.flatten(sources)))


def positional_impls(f) -> Impls:
  """Every implementation, differentiating `f` by its positional args."""
  return {
      'hand-written': lambda *a: hand_tape(f, list(a)),
      'hand-written (tf.gradients)': lambda *a: hand_symbolic(f, list(a)),
      'tfp.math': lambda *a: tfp.math.value_and_gradient(f, *a),
      'TF backprop (private)': backprop.val_and_grad_function(f),
      'tfgradtools.math': lambda *a: tfm.value_and_gradient(f, *a),
      'tfgradtools.eager': tfe.value_and_gradients_function(f),
  }


def seed_f_floor(x, y):
  """The value and the closed-form derivatives, with no autodiff at all."""
  return seed_f(x, y), [3. * x * x * y - y * y, x * x * x - 2. * x * y]


def small_workload():
  impls = positional_impls(seed_f)
  impls[FLOOR] = seed_f_floor
  return [tf.constant(2.), tf.constant(3.)], impls, seed_f


def many_workload():
  flat = [tf.fill([4], float(i) / 100.) for i in range(100)]
  nested = {'a': flat[:50], 'b': {'c': flat[50:]}}
  loss_nested = lambda p: tf.add_n(
      [tf.reduce_sum(t * t) for t in tf.nest.flatten(p)])
  loss_flat = lambda *ts: loss_nested(list(ts))
  value_and_grads = tfe.value_and_gradients_function(loss_flat)
  private = backprop.val_and_grad_function(loss_flat)
  # The structure is one argument; the eager APIs take the tensors
  # positionally, as tf.contrib.eager requires.
  return [nested], {
      'hand-written': lambda p: hand_tape(loss_nested, [p]),
      'hand-written (tf.gradients)': lambda p: hand_symbolic(loss_nested,
                                                             [p]),
      'tfp.math': lambda p: tfp.math.value_and_gradient(loss_nested, p),
      'TF backprop (private)': lambda p: private(*tf.nest.flatten(p)),
      'tfgradtools.math': lambda p: tfm.value_and_gradient(loss_nested, p),
      'tfgradtools.eager': lambda p: value_and_grads(*tf.nest.flatten(p)),
  }, loss_nested


def large_workload():
  rng = np.random.default_rng(0)
  sizes = [784, 1024, 1024, 10]
  weights = []
  for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
    weights.append(tf.Variable(rng.normal(0, fan_in ** -0.5,
                                          [fan_in, fan_out]).astype('f4')))
    weights.append(tf.Variable(tf.zeros([fan_out])))
  x = tf.constant(rng.normal(size=[256, 784]).astype('f4'))

  def loss(*ws):
    h = x
    for i in range(0, len(ws) - 2, 2):
      h = tf.nn.relu(h @ ws[i] + ws[i + 1])
    return tf.reduce_mean(tf.square(h @ ws[-2] + ws[-1]))

  count = sum(int(np.prod(w.shape)) for w in weights)
  assert count >= 1_000_000, count
  return weights, positional_impls(loss), loss


WORKLOADS = {
    'small: x^3 y - x y^2': small_workload,
    'many: 100 tensors, nested': many_workload,
    'large: MLP 1.86M params, batch 256': large_workload,
}


def compile_impls(impls: Impls, args, mode: str) -> Impls:
  """The implementations for `mode`; in a graph, 'hand-written' is the
  hand-written code with the engine tfgradtools uses there, `tf.gradients`."""
  symbolic = impls['hand-written (tf.gradients)']
  if mode == 'eager':
    return {k: v for k, v in impls.items() if v is not symbolic}
  compiled = {}
  for name, impl in impls.items():
    if name in ('TF backprop (private)', 'hand-written'):
      continue  # The first only runs eagerly; the second is replaced.
    if impl is symbolic:
      name = 'hand-written'
    compiled[name] = tf.function(impl, jit_compile=mode == 'jit')
  return compiled


def time_impls(impls: Impls, args, rounds: int, seconds: float
               ) -> dict[str, float]:
  """Seconds per call of each implementation: the median over interleaved
  rounds of the best of three batches of calls."""
  for impl in impls.values():  # Warm up (and trace).
    for _ in range(3):
      tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, 'numpy')
                            else t, impl(*args))
  calls = {}
  for name, impl in impls.items():
    start = time.perf_counter()
    impl(*args)
    elapsed = time.perf_counter() - start
    calls[name] = max(1, int(seconds / max(elapsed, 1e-7)))
  samples = {name: [] for name in impls}
  order = list(impls)
  shuffle = random.Random(0).shuffle
  for _ in range(rounds):
    shuffle(order)  # No implementation always runs after the same one.
    for name in order:
      impl, n = impls[name], calls[name]
      best = float('inf')
      for _ in range(3):  # Best of three batches: less of other processes.
        gc.disable()
        start = time.perf_counter()
        for _ in range(n):
          result = impl(*args)
        tf.nest.flatten(result)[-1].numpy()  # Wait for the last call's work.
        best = min(best, (time.perf_counter() - start) / n)
        gc.enable()
      samples[name].append(best)
  return {name: statistics.median(s) for name, s in samples.items()}


def op_counts(impls: Impls, args) -> dict[str, int]:
  """Ops in each implementation's traced graph."""
  return {name: len(tf.function(impl).get_concrete_function(*args).graph
                    .get_operations())
          for name, impl in impls.items()}


def tape_op_counts(f, args) -> dict[str, int]:
  """Ops in the traced graph with a tape: ours against hand-written (the
  eager API only where the arguments are Tensors, as it requires)."""
  impls = {
      'hand-written': lambda *a: hand_tape(f, list(a)),
      'tfgradtools.math': lambda *a: tfm.value_and_gradient(
          f, *a, use_gradient_tape=True)}
  if all(isinstance(a, (tf.Tensor, tf.Variable)) for a in args):
    impls['tfgradtools.eager'] = tfe.value_and_gradients_function(
        f, use_gradient_tape=True)
  return op_counts(impls, args)


def trace_count(f, args) -> int:
  fn = tf.function(lambda *a: tfm.value_and_gradient(f, *a))
  for _ in range(5):
    fn(*args)
  return fn.experimental_get_tracing_count()


_MEMORY_SCRIPT = """
import gc, os, sys
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
sys.path.insert(0, {here!r})
import psutil
import tensorflow as tf
import run
x, y = tf.constant(2.), tf.constant(3.)
value_and_grads = run.tfe.value_and_gradients_function(run.seed_f)
call = {{'tfgradtools.math': lambda: run.tfm.value_and_gradient(run.seed_f, x, y),
        'tfgradtools.eager': lambda: value_and_grads(x, y)}}[{name!r}]
for _ in range(2000):
  call()
gc.collect()
before = psutil.Process().memory_info().rss
for _ in range({calls}):
  call()
gc.collect()
print((psutil.Process().memory_info().rss - before) / 2**20)
"""


def memory_growth(calls: int) -> dict[str, float]:
  """Resident-memory growth (MiB) over `calls` eager calls after a warm-up,
  each API in a fresh process (the allocator state of this one would count)."""
  growth = {}
  for name in ('tfgradtools.math', 'tfgradtools.eager'):
    script = _MEMORY_SCRIPT.format(
        here=os.path.dirname(os.path.abspath(__file__)), name=name,
        calls=calls)
    completed = subprocess.run([sys.executable, '-c', script], check=True,
                               capture_output=True, text=True, timeout=600)
    growth[name] = float(completed.stdout.strip().splitlines()[-1])
  return growth


def _patched(impl: Callable[..., Any], module: Any, name: str,
             value: Any) -> Callable[..., Any]:
  """`impl`, called with `module.name` set to `value`."""
  def call(*args):
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
      return impl(*args)
    finally:
      setattr(module, name, saved)
  return call


def eager_paths(rounds: int, seconds: float) -> dict[str, float]:
  """The eager small call by each path, interleaved with the hand-written
  tape: the cached trace (the default for a pure `f`), and eagerly (an
  impure `f`) with the direct backward pass and without it."""
  args, impls, _ = small_workload()
  ours = impls['tfgradtools.math']
  eager = _patched(ours, _traced, 'key_of', lambda _: None)
  return time_impls({
      'hand-written tape': impls['hand-written'],
      'cached trace (pure f, the default)': ours,
      'eager, direct tape backward pass': eager,
      'eager, public GradientTape.gradient': _patched(
          eager, _fast_tape, '_TAPE_GRADIENT', None),
  }, args, rounds, seconds)


def chain(x):
  """A scalar with a dense-banded, non-constant Hessian."""
  return tf.reduce_sum(tf.nn.softplus(x)) + tf.reduce_sum(
      tf.sin(x[:-1] * x[1:]))


_PEAK_MEMORY_SCRIPT = """
import os, sys, threading
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
sys.path.insert(0, {here!r})
import psutil
import tensorflow as tf
import run
method, n = {method!r}, {n}
compute = {{'hvp': lambda x, v: run.tfm.hvp(run.chain, x, v),
           'hessian': lambda x, v: tf.linalg.matvec(
               run.tfm.hessian(run.chain, x), v)}}[method]
compute(tf.ones([10]), tf.ones([10])).numpy()  # Warm up at a tiny size.
process = psutil.Process()
x = tf.random.stateless_normal([n], [0, 1])
v = tf.random.stateless_normal([n], [2, 3])
before = peak = process.memory_info().rss
done = threading.Event()
def watch():
  global peak
  while not done.wait(0.0005):
    peak = max(peak, process.memory_info().rss)
watcher = threading.Thread(target=watch)
watcher.start()
compute(x, v).numpy()
done.set()
watcher.join()
print((max(peak, process.memory_info().rss) - before) / 2**20)
"""


def _peak_memory_mib(method: str, n: int) -> float:
  """Peak resident growth of one eager `method` call, in a fresh process
  (sampled every half millisecond)."""
  script = _PEAK_MEMORY_SCRIPT.format(
      here=os.path.dirname(os.path.abspath(__file__)), method=method, n=n)
  completed = subprocess.run([sys.executable, '-c', script], check=True,
                             capture_output=True, text=True, timeout=600)
  return float(completed.stdout.strip().splitlines()[-1])


def hvp_against_hessian(sizes: tuple[int, ...], repeats: int,
                        memory: bool = True
                        ) -> list[tuple[int, float, float, float, float]]:
  """Eager time and peak memory of `hvp` against `hessian(f, x) @ v`.

  Returns rows `(n, hvp seconds, hessian seconds, hvp MiB, hessian MiB)`:
  median times over `repeats` calls, and each method's peak resident growth
  in a fresh process (NaN without `memory`).
  """
  rows = []
  for n in sizes:
    x = tf.random.stateless_normal([n], [0, 1])
    v = tf.random.stateless_normal([n], [2, 3])
    via_hvp = lambda x=x, v=v: tfm.hvp(chain, x, v)
    via_hessian = lambda x=x, v=v: tf.linalg.matvec(tfm.hessian(chain, x), v)
    np.testing.assert_allclose(via_hvp(), via_hessian(), rtol=1e-3,
                               atol=1e-3)
    timings = []
    for compute in (via_hvp, via_hessian):
      samples = []
      for _ in range(repeats):
        start = time.perf_counter()
        compute().numpy()
        samples.append(time.perf_counter() - start)
      timings.append(statistics.median(samples))
    peaks = [_peak_memory_mib(method, n) if memory else float('nan')
             for method in ('hvp', 'hessian')]
    rows.append((n, *timings, *peaks))
  return rows


class ImpureChain:
  """`chain` as a method reading an attribute: not cached, so eager."""

  def __init__(self):
    self.offset = 0.

  def __call__(self, x):
    return chain(x + self.offset)


def hand_double_tape(f, x, v=None):
  """Hand-written second order: `H @ v` (reverse-over-reverse), or the
  Hessian (`tape.jacobian` of the gradient) without `v`."""
  with tf.GradientTape() as outer:
    outer.watch(x)
    with tf.GradientTape() as inner:
      inner.watch(x)
      y = f(x)
    grad = inner.gradient(y, x)
  if v is None:
    return outer.jacobian(grad, x)
  return outer.gradient(grad, x, output_gradients=v)


def hand_tape_jacobian(f, x, batch=False):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = f(x)
  return tape.batch_jacobian(y, x) if batch else tape.jacobian(y, x)


def _median_seconds(compute: Callable[[], Any], repeats: int) -> float:
  compute()  # The first call (a trace, where one is cached) is not timed.
  samples = []
  for _ in range(repeats):
    start = time.perf_counter()
    tf.nest.flatten(compute())[-1].numpy()
    samples.append(time.perf_counter() - start)
  return statistics.median(samples)


def first_call_seconds(compute: Callable[[], Any]) -> float:
  start = time.perf_counter()
  tf.nest.flatten(compute())[-1].numpy()
  return time.perf_counter() - start


def second_order_rows(sizes: tuple[int, ...], repeats: int
                      ) -> list[tuple[str, str, int, float, float, float,
                                      float]]:
  """Eager hvp, jacobian, hessian and batch_jacobian against hand-written
  tape code, for a pure `f` (cached trace) and an impure one (eager).

  Returns rows `(call, f, n, ours s, hand s, one gradient s, first call s)`.
  """
  rows = []
  elementwise = lambda t: tf.sin(t) * t  # pylint: disable=unnecessary-lambda-assignment
  for n in sizes:
    x = tf.random.stateless_normal([n], [0, 1])
    v = tf.random.stateless_normal([n], [2, 3])
    batch = tf.random.stateless_normal([8, n], [4, 5])
    for kind, f in (('pure', chain), ('impure', ImpureChain())):
      gradient = _median_seconds(lambda: tfm.value_and_gradient(f, x),
                                 repeats * 3)
      calls = {
          'hvp': (lambda: tfm.hvp(f, x, v),
                  lambda: hand_double_tape(f, x, v)),
          'hessian': (lambda: tfm.hessian(f, x),
                      lambda: hand_double_tape(f, x)),
          'jacobian': (lambda: tfm.jacobian(
              lambda t: tf.sin(f(t) * t), x),
                       lambda: hand_tape_jacobian(
                           lambda t: tf.sin(f(t) * t), x)),
      }
      if kind == 'pure':
        calls['jacobian'] = (lambda: tfm.jacobian(elementwise, x),
                             lambda: hand_tape_jacobian(elementwise, x))
        calls['batch_jacobian'] = (
            lambda: tfm.batch_jacobian(elementwise, batch),
            lambda: hand_tape_jacobian(elementwise, batch, batch=True))
      for name, (ours, hand) in calls.items():
        if name != 'hvp' and n > 1_000:
          continue  # n x n Jacobians: minutes for the hand-written code.
        first = first_call_seconds(ours)
        rows.append((name, kind, n, _median_seconds(ours, repeats),
                     _median_seconds(hand, repeats), gradient, first))
  return rows


# Data next to a model, as training code has it (filled by `implicit_rows`).
BIG_LIST: list[Any] = []
VOCAB: dict[str, int] = {}
LOG: list[Any] = []


class Trainer:
  """The issue's trainer: a Keras model next to 60,000 batches."""

  def __init__(self, model):
    self.model = model
    self.batches = [(np.zeros(4, 'f4'), np.zeros(1, 'f4'))] * 60_000

  def loss(self, x):
    return tf.reduce_sum(self.model(x))


def implicit_rows(rounds: int, seconds: float
                  ) -> list[tuple[str, float, float, float]]:
  """Eager `implicit_value_and_gradients` against a hand-written tape, with
  a Keras model next to large Python data.

  Returns rows `(case, ours s, hand-written s, our first call s)`.
  """
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                            keras.layers.Dense(1)])
  BIG_LIST[:] = [np.float32(i) for i in range(300_000)]
  VOCAB.clear()
  VOCAB.update((f'word{i}', i) for i in range(200_000))
  LOG.clear()
  x = tf.ones([2, 4])
  model(x)

  def reads_list(x):
    return tf.reduce_sum(model(x)) + 0. * len(BIG_LIST)

  def reads_dict(x):
    return tf.reduce_sum(model(x)) + 0. * VOCAB['word7']

  def logs(x):
    LOG.append(np.ones(4))  # Grows every step.
    return tf.reduce_sum(model(x))

  cases = {'Trainer: model next to 60,000 batches': Trainer(model).loss,
           'loss reading a 300,000-item global list': reads_list,
           'loss reading a 200,000-entry global dict': reads_dict,
           'loss appending to a global log list': logs}
  rows = []
  for case, loss in cases.items():
    ours = tfe.implicit_value_and_gradients(loss)
    first = first_call_seconds(lambda ours=ours: ours(x)[0])

    def hand(x, loss=loss):
      with tf.GradientTape() as tape:
        value = loss(x)
      return value, tape.gradient(value, model.trainable_variables)

    timed = time_impls({'ours': ours, 'hand': hand}, [x], rounds, seconds)
    rows.append((case, timed['ours'], timed['hand'], first))
  BIG_LIST.clear()
  VOCAB.clear()
  LOG.clear()
  return rows


def flat_overhead_rows(rounds: int, seconds: float
                       ) -> list[tuple[str, float, float]]:
  """`flat_objective(...).value_and_gradient` against `value_and_gradient`
  on the same 1.07M-parameter Keras MLP (784-1024-256-10, batch 256),
  eagerly and in `tf.function`.

  Returns rows `(mode, flat s, structured s)`.
  """
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((784,)),
                            keras.layers.Dense(1024, 'relu'),
                            keras.layers.Dense(256, 'relu'),
                            keras.layers.Dense(10)])
  x = tf.random.stateless_normal([256, 784], [0, 1])
  labels = tf.random.stateless_uniform([256], [2, 3], maxval=10,
                                       dtype=tf.int32)

  def loss():
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels, model(x)))

  objective = tfm.flat_objective(loss, model)
  assert objective.size > 1_000_000, objective.size
  position = objective.initial_position
  weights = model.trainable_variables
  impls = {'flat': objective.value_and_gradient,
           'structured': lambda _: tfm.value_and_gradient(
               lambda *_: loss(), weights)}
  rows = []
  for mode in ('eager', 'function'):
    timed = time_impls(
        impls if mode == 'eager' else
        {k: tf.function(v) for k, v in impls.items()}, [position], rounds,
        seconds * 3)
    rows.append((mode, timed['flat'], timed['structured']))
  return rows


def main() -> None:
  tf.get_logger().setLevel('ERROR')  # pfor's retracing notes, among others.
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--quick', action='store_true',
                      help='fewer rounds, graphs for the small workload only, '
                      'smaller Hessians and no peak-memory processes, to '
                      'finish in under a minute')
  args = parser.parse_args()
  rounds = 3 if args.quick else 9
  seconds = 0.03 if args.quick else 0.1
  memory_calls = 10_000

  print(f'tfgradtools benchmarks — TensorFlow {tf.__version__}, '
        f'TFP {tfp.__version__}, Python {platform.python_version()}, '
        f'{platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} cores\n')
  print('| workload | mode | implementation | µs per call | '
        '/ hand-written | / tfp.math | / floor |')
  print('|---|---|---|---:|---:|---:|---:|')
  op_names = ('hand-written', 'tfp.math', 'tfgradtools.math',
              'tfgradtools.eager')
  op_rows = []
  for workload_name, workload in WORKLOADS.items():
    call_args, impls, f = workload()
    symbolic = op_counts(
        {n: impls['hand-written (tf.gradients)' if n == 'hand-written'
                  else n] for n in op_names}, call_args)
    taped = tape_op_counts(f, call_args)
    op_rows.append([workload_name, 'tf.gradients'] +
                   [symbolic[n] for n in op_names])
    op_rows.append([workload_name, 'tape'] +
                   [taped.get(n, '') for n in op_names])
    modes = ('eager', 'function', 'jit')
    if args.quick and not workload_name.startswith('small'):
      modes = ('eager',)
    for mode in modes:
      timed = time_impls(compile_impls(impls, call_args, mode), call_args,
                         rounds, seconds * (3 if 'large' in workload_name
                                            else 1))
      for name, seconds_per_call in timed.items():
        ratio_hand = seconds_per_call / timed['hand-written']
        ratio_tfp = seconds_per_call / timed['tfp.math']
        ratio_floor = (f'{seconds_per_call / timed[FLOOR]:.2f}'
                       if FLOOR in timed else '')
        print(f'| {workload_name} | {mode} | {name} | '
              f'{seconds_per_call * 1e6:,.1f} | {ratio_hand:.2f} | '
              f'{ratio_tfp:.2f} | {ratio_floor} |')

  print('\n| traced graph | engine | ' + ' | '.join(op_names) +
        ' |\n|---|---|' + '---:|' * len(op_names))
  for row in op_rows:
    print('| ' + ' | '.join(str(cell) for cell in row) + ' |')
  small_args, _, _ = small_workload()
  print(f'\nTraces of a tf.function calling value_and_gradient 5 times with '
        f'one signature: {trace_count(seed_f, small_args)}')

  print(f'\n| resident memory over {memory_calls:,} eager calls | MiB |'
        '\n|---|---:|')
  for name, mib in memory_growth(memory_calls).items():
    print(f'| {name} | {mib:+.2f} |')

  print('\n| n | hvp ms | hessian @ v ms | hessian / hvp | hvp MiB | '
        'hessian MiB |\n|---:|---:|---:|---:|---:|---:|')
  sizes = (10, 1_000) if args.quick else (10, 100, 1_000, 10_000)
  for n, t_hvp, t_hess, m_hvp, m_hess in hvp_against_hessian(
      sizes, 3, memory=not args.quick):
    print(f'| {n:,} | {t_hvp * 1e3:,.1f} | {t_hess * 1e3:,.1f} | '
          f'{t_hess / t_hvp:,.0f} | {m_hvp:+.1f} | {m_hess:+.1f} |')

  print('\n| eager call | f | n | tfgradtools ms | hand-written ms | '
        '/ hand-written | in gradient calls | first call ms |\n'
        '|---|---|---:|---:|---:|---:|---:|---:|')
  second_sizes = (10, 1_000) if args.quick else (10, 100, 1_000, 10_000)
  for name, kind, n, ours, hand, gradient, first in second_order_rows(
      second_sizes, 3 if args.quick else 7):
    print(f'| {name} | {kind} | {n:,} | {ours * 1e3:,.2f} | '
          f'{hand * 1e3:,.2f} | {ours / hand:.2f} | {ours / gradient:.1f} | '
          f'{first * 1e3:,.1f} |')

  print('\n| eager implicit_value_and_gradients | µs per call | hand-written '
        'µs | / hand-written | first call ms |\n|---|---:|---:|---:|---:|')
  for case, ours, hand, first in implicit_rows(rounds, seconds):
    print(f'| {case} | {ours * 1e6:,.1f} | {hand * 1e6:,.1f} | '
          f'{ours / hand:.2f} | {first * 1e3:,.1f} |')

  print('\n| flat_objective, 1.07M-parameter Keras MLP | flat ms | '
        'value_and_gradient ms | overhead |\n|---|---:|---:|---:|')
  for mode, flat, structured in flat_overhead_rows(rounds, seconds):
    print(f'| {mode} | {flat * 1e3:,.2f} | {structured * 1e3:,.2f} | '
          f'{(flat / structured - 1) * 100:+.1f}% |')

  print('\n| eager small call, tfgradtools.math, by path | µs per call | '
        '/ hand-written |\n|---|---:|---:|')
  paths = eager_paths(rounds, seconds)
  for name, seconds_per_call in paths.items():
    print(f'| {name} | {seconds_per_call * 1e6:,.1f} | '
          f'{seconds_per_call / paths["hand-written tape"]:.2f} |')


if __name__ == '__main__':
  main()
