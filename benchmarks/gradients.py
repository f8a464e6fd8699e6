"""Value and gradient: tfgradtools against hand-written code and the anchors.

For each workload (small, many arguments, large) and mode (eager,
`tf.function`, `jit_compile`), each implementation's time per call, as
ratios to hand-written code (a `tf.GradientTape` eagerly; in a graph
`tf.gradients`, the engine tfgradtools uses there), to `tfp.math` and, for
the small function, to the floor (the value and the closed-form derivatives,
no autodiff). Then the traced ops against hand-written code with the same
engine, the traces per signature, the resident-memory growth over 10,000
eager calls, and the eager small call by each path.

    python benchmarks/gradients.py [--quick]
"""

from __future__ import annotations

from typing import Any

import _hand_written as hand
import _timing
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow.python.eager import backprop  # An anchor, for comparison.

import tfgradtools.eager as tfe
import tfgradtools.math as tfm
from tfgradtools import _fast_tape

FLOOR = 'no autodiff (floor)'
SYMBOLIC = 'hand-written (tf.gradients)'


def positional_impls(f) -> _timing.Impls:
  """Every implementation, differentiating `f` by its positional args."""
  return {
    'hand-written': lambda *a: hand.tape(f, list(a)),
    SYMBOLIC: lambda *a: hand.symbolic(f, list(a)),
    'tfp.math': lambda *a: tfp.math.value_and_gradient(f, *a),
    'TF backprop (private)': backprop.val_and_grad_function(f),
    'tfgradtools.math': lambda *a: tfm.value_and_gradient(f, *a),
    'tfgradtools.eager': tfe.value_and_gradients_function(f),
  }


def small_workload():
  impls = positional_impls(hand.seed_f)
  impls[FLOOR] = hand.seed_f_floor
  return [tf.constant(2.0), tf.constant(3.0)], impls, hand.seed_f


def many_workload():
  flat = [tf.fill([4], float(i) / 100.0) for i in range(100)]
  nested = {'a': flat[:50], 'b': {'c': flat[50:]}}

  def loss_nested(p: Any) -> tf.Tensor:
    return tf.add_n([tf.reduce_sum(t * t) for t in tf.nest.flatten(p)])

  def loss_flat(*ts: tf.Tensor) -> tf.Tensor:
    return loss_nested(list(ts))

  value_and_grads = tfe.value_and_gradients_function(loss_flat)
  private = backprop.val_and_grad_function(loss_flat)
  # The structure is one argument; the eager APIs take the tensors
  # positionally, as tf.contrib.eager requires.
  return (
    [nested],
    {
      'hand-written': lambda p: hand.tape(loss_nested, [p]),
      SYMBOLIC: lambda p: hand.symbolic(loss_nested, [p]),
      'tfp.math': lambda p: tfp.math.value_and_gradient(loss_nested, p),
      'TF backprop (private)': lambda p: private(*tf.nest.flatten(p)),
      'tfgradtools.math': lambda p: tfm.value_and_gradient(loss_nested, p),
      'tfgradtools.eager': lambda p: value_and_grads(*tf.nest.flatten(p)),
    },
    loss_nested,
  )


def large_workload():
  rng = np.random.default_rng(0)
  sizes = [784, 1024, 1024, 10]
  weights = []
  for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
    weights.append(
      tf.Variable(rng.normal(0, fan_in**-0.5, [fan_in, fan_out]).astype('f4'))
    )
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


def compile_impls(impls: _timing.Impls, mode: str) -> _timing.Impls:
  """The implementations for `mode`; in a graph, 'hand-written' is the
  hand-written code with the engine tfgradtools uses there, `tf.gradients`."""
  if mode == 'eager':
    return {k: v for k, v in impls.items() if k != SYMBOLIC}
  compiled = {}
  for name, impl in impls.items():
    if name in ('TF backprop (private)', 'hand-written'):
      continue  # The first only runs eagerly; the second is replaced.
    compiled['hand-written' if name == SYMBOLIC else name] = tf.function(
      impl, jit_compile=mode == 'jit'
    )
  return compiled


def tape_op_counts(f, args) -> dict[str, int]:
  """Ops in the traced graph with a tape: ours against hand-written (the
  eager API only where the arguments are Tensors, as it requires)."""
  impls = {
    'hand-written': lambda *a: hand.tape(f, list(a)),
    'tfgradtools.math': lambda *a: tfm.value_and_gradient(
      f, *a, use_gradient_tape=True
    ),
  }
  if all(isinstance(a, (tf.Tensor, tf.Variable)) for a in args):
    impls['tfgradtools.eager'] = tfe.value_and_gradients_function(
      f, use_gradient_tape=True
    )
  return _timing.op_counts(impls, args)


def trace_count(f, args) -> int:
  fn = tf.function(lambda *a: tfm.value_and_gradient(f, *a))
  for _ in range(5):
    fn(*args)
  return fn.experimental_get_tracing_count()


_MEMORY_SCRIPT = """
import gc
import psutil
import tensorflow as tf
import _hand_written as hand
import tfgradtools.eager as tfe
import tfgradtools.math as tfm
x, y = tf.constant(2.), tf.constant(3.)
value_and_grads = tfe.value_and_gradients_function(hand.seed_f)
call = {{'tfgradtools.math': lambda: tfm.value_and_gradient(hand.seed_f, x, y),
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
  each API in a fresh process."""
  return {
    name: float(
      _timing.last_line_of(_MEMORY_SCRIPT.format(name=name, calls=calls))
    )
    for name in ('tfgradtools.math', 'tfgradtools.eager')
  }


def eager_paths(rounds: int, seconds: float) -> dict[str, float]:
  """The eager small call with the tape's C++ functions called directly and
  through the public API, interleaved with the hand-written tape."""
  args, impls, _ = small_workload()
  ours = impls['tfgradtools.math']
  public = _timing.patched(
    _timing.patched(ours, _fast_tape, '_TAPE_GRADIENT', None),
    _fast_tape,
    '_TAPE_WATCH',
    None,
  )
  return _timing.time_impls(
    {
      'hand-written tape': impls['hand-written'],
      'direct C++ watch and backward pass (the default)': ours,
      'public GradientTape.watch and .gradient': public,
    },
    args,
    rounds,
    seconds,
  )


def report(quick: bool) -> None:
  rounds, seconds = (3, 0.03) if quick else (9, 0.1)
  op_names = (
    'hand-written',
    'tfp.math',
    'tfgradtools.math',
    'tfgradtools.eager',
  )
  rows: list[list[Any]] = []
  op_rows: list[list[Any]] = []
  for workload_name, workload in WORKLOADS.items():
    call_args, impls, f = workload()
    symbolic = _timing.op_counts(
      {n: impls[SYMBOLIC if n == 'hand-written' else n] for n in op_names},
      call_args,
    )
    taped = tape_op_counts(f, call_args)
    op_rows.append(
      [workload_name, 'tf.gradients'] + [symbolic[n] for n in op_names]
    )
    op_rows.append(
      [workload_name, 'tape'] + [taped.get(n, '') for n in op_names]
    )
    modes = ('eager', 'function', 'jit')
    if quick and not workload_name.startswith('small'):
      modes = ('eager',)
    for mode in modes:
      timed = _timing.time_impls(
        compile_impls(impls, mode),
        call_args,
        rounds,
        seconds * (3 if 'large' in workload_name else 1),
      )
      for name, per_call in timed.items():
        floor = f'{per_call / timed[FLOOR]:.2f}' if FLOOR in timed else ''
        rows.append(
          [
            workload_name,
            mode,
            name,
            f'{per_call * 1e6:,.1f}',
            f'{per_call / timed["hand-written"]:.2f}',
            f'{per_call / timed["tfp.math"]:.2f}',
            floor,
          ]
        )
  _timing.print_table(
    [
      'workload',
      'mode',
      'implementation',
      'µs per call',
      '/ hand-written',
      '/ tfp.math',
      '/ floor',
    ],
    rows,
    'lll' + 'r' * 4,
  )
  _timing.print_table(
    ['traced graph', 'engine', *op_names], op_rows, 'll' + 'r' * len(op_names)
  )
  small_args, _, _ = small_workload()
  print(
    'Traces of a tf.function calling value_and_gradient 5 times with one '
    f'signature: {trace_count(hand.seed_f, small_args)}\n'
  )
  calls = 10_000
  _timing.print_table(
    [f'resident memory over {calls:,} eager calls', 'MiB'],
    [[name, f'{mib:+.2f}'] for name, mib in memory_growth(calls).items()],
  )
  paths = eager_paths(rounds, seconds)
  _timing.print_table(
    [
      'eager small call, tfgradtools.math, by path',
      'µs per call',
      '/ hand-written',
    ],
    [
      [
        name,
        f'{per_call * 1e6:,.1f}',
        f'{per_call / paths["hand-written tape"]:.2f}',
      ]
      for name, per_call in paths.items()
    ],
  )


if __name__ == '__main__':
  _timing.main(report, __doc__)
