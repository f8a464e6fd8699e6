"""Second order and Jacobians, eagerly, against hand-written tape code.

`hvp` against forming the Hessian (time and peak memory, n = 10 to 10,000),
and eager `hvp`, `hessian`, `jacobian` and `batch_jacobian` against the
hand-written double tape and `tape.jacobian`, with their cost in gradient
calls and their first call.

    python benchmarks/second_order.py [--quick]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import _hand_written as hand
import _timing
import numpy as np
import tensorflow as tf

import tfgradtools.math as tfm

_PEAK_MEMORY_SCRIPT = """
import tensorflow as tf
import _hand_written as hand
import _timing
import tfgradtools.math as tfm
method, n = {method!r}, {n}
compute = {{'hvp': lambda x, v: tfm.hvp(hand.chain, x, v),
           'hessian': lambda x, v: tf.linalg.matvec(
               tfm.hessian(hand.chain, x), v)}}[method]
compute(tf.ones([10]), tf.ones([10])).numpy()  # Warm up at a tiny size.
x = tf.random.stateless_normal([n], [0, 1])
v = tf.random.stateless_normal([n], [2, 3])
print(_timing.peak_memory_mib(lambda: compute(x, v)))
"""


def hvp_against_hessian(
  sizes: tuple[int, ...], repeats: int, memory: bool = True
) -> list[list[Any]]:
  """Eager time and peak memory of `hvp` against `hessian(f, x) @ v`: rows
  `(n, hvp s, hessian s, hvp MiB, hessian MiB)`, the memory of each in a
  fresh process (NaN without `memory`)."""
  rows = []
  for n in sizes:
    x = tf.random.stateless_normal([n], [0, 1])
    v = tf.random.stateless_normal([n], [2, 3])

    def via_hvp(x: tf.Tensor = x, v: tf.Tensor = v) -> tf.Tensor:
      return tfm.hvp(hand.chain, x, v)

    def via_hessian(x: tf.Tensor = x, v: tf.Tensor = v) -> tf.Tensor:
      return tf.linalg.matvec(tfm.hessian(hand.chain, x), v)

    np.testing.assert_allclose(via_hvp(), via_hessian(), rtol=1e-3, atol=1e-3)
    timings = []
    for compute in (via_hvp, via_hessian):
      samples = []
      for _ in range(repeats):
        start = time.perf_counter()
        compute().numpy()
        samples.append(time.perf_counter() - start)
      timings.append(statistics.median(samples))
    peaks = [
      float(
        _timing.last_line_of(_PEAK_MEMORY_SCRIPT.format(method=method, n=n))
      )
      if memory
      else float('nan')
      for method in ('hvp', 'hessian')
    ]
    rows.append([n, *timings, *peaks])
  return rows


def second_order_rows(sizes: tuple[int, ...], repeats: int) -> list[list[Any]]:
  """Eager hvp, hessian, jacobian and batch_jacobian against hand-written
  tape code: rows `(call, n, ours s, hand s, one gradient s, first call s)`.
  """
  rows = []

  def elementwise(t: tf.Tensor) -> tf.Tensor:
    return tf.sin(t) * t

  for n in sizes:
    x = tf.random.stateless_normal([n], [0, 1])
    v = tf.random.stateless_normal([n], [2, 3])
    batch = tf.random.stateless_normal([8, n], [4, 5])
    gradient = _timing.median_seconds(
      lambda x=x: tfm.value_and_gradient(hand.chain, x), repeats * 3
    )
    calls = {
      'hvp': (
        lambda x=x, v=v: tfm.hvp(hand.chain, x, v),
        lambda x=x, v=v: hand.double_tape(hand.chain, x, v),
      ),
      'hessian': (
        lambda x=x: tfm.hessian(hand.chain, x),
        lambda x=x: hand.double_tape(hand.chain, x),
      ),
      'jacobian': (
        lambda x=x: tfm.jacobian(elementwise, x),
        lambda x=x: hand.tape_jacobian(elementwise, x),
      ),
      'batch_jacobian': (
        lambda batch=batch: tfm.batch_jacobian(elementwise, batch),
        lambda batch=batch: hand.tape_jacobian(elementwise, batch, batch=True),
      ),
    }
    for name, (ours, hand_written) in calls.items():
      if name != 'hvp' and n > 1_000:
        continue  # n x n Jacobians: minutes for the hand-written code.
      first = _timing.first_call_seconds(ours)
      rows.append(
        [
          name,
          n,
          _timing.median_seconds(ours, repeats),
          _timing.median_seconds(hand_written, repeats),
          gradient,
          first,
        ]
      )
  return rows


def report(quick: bool) -> None:
  sizes = (10, 1_000) if quick else (10, 100, 1_000, 10_000)
  _timing.print_table(
    [
      'n',
      'hvp ms',
      'hessian @ v ms',
      'hessian / hvp',
      'hvp MiB',
      'hessian MiB',
    ],
    [
      [
        f'{n:,}',
        f'{t_hvp * 1e3:,.1f}',
        f'{t_hess * 1e3:,.1f}',
        f'{t_hess / t_hvp:,.0f}',
        f'{m_hvp:+.1f}',
        f'{m_hess:+.1f}',
      ]
      for n, t_hvp, t_hess, m_hvp, m_hess in hvp_against_hessian(
        sizes, 3, memory=not quick
      )
    ],
    'r' * 6,
  )
  _timing.print_table(
    [
      'eager call',
      'n',
      'tfgradtools ms',
      'hand-written ms',
      '/ hand-written',
      'in gradient calls',
      'first call ms',
    ],
    [
      [
        name,
        f'{n:,}',
        f'{ours * 1e3:,.2f}',
        f'{hand_s * 1e3:,.2f}',
        f'{ours / hand_s:.2f}',
        f'{ours / gradient:.1f}',
        f'{first * 1e3:,.1f}',
      ]
      for name, n, ours, hand_s, gradient, first in second_order_rows(
        sizes, 3 if quick else 7
      )
    ],
  )


if __name__ == '__main__':
  _timing.main(report, __doc__)
