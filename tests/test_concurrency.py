"""Many threads calling every API at once give correct results."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
import tensorflow as tf

import tfgradtools.eager as tfe
import tfgradtools.math as tfm

THREADS = 8
CALLS = 10


def f(x, y):
  return x * x * x * y - x * y * y


def expected(x, y):
  return [3 * x * x * y - y * y, x**3 - 2 * x * y]


def every_api(x, y):
  """Each public function once, as (result, expected) pairs."""
  w = tf.Variable(x)
  grad_fn = tfe.gradients_function(f)
  pairs = [
    (tfm.value_and_gradient(f, x, y)[1], expected(x, y)),
    (tfm.value_and_gradient_with_auto_expansion(f, x, y)[1], expected(x, y)),
    (tfm.batch_jacobian(lambda v: v * v, tf.constant([[x]]))[0, 0, 0], 2 * x),
    (grad_fn(x, y), expected(x, y)),
    (tfe.value_and_gradients_function(f)(x, y)[1], expected(x, y)),
    (tfe.gradients_function(lambda x, y: grad_fn(x, y)[0])(x, y)[0], 6 * x * y),
    (tfe.make_vjp(f)(x, y)[1](2.0), [2 * e for e in expected(x, y)]),
    (tfe.implicit_gradients(lambda: f(w, y))()[0][0], expected(x, y)[0]),
    (
      tfe.implicit_value_and_gradients(lambda: f(w, y))()[1][0][0],
      expected(x, y)[0],
    ),
    (tfm.jvp(f, [x, y], [1.0, 0.0]), expected(x, y)[0]),
    (tfm.hvp(f, [x, y], [1.0, 0.0]), [6 * x * y, 3 * x * x - 2 * y]),
  ]
  return [
    (
      np.asarray(tf.nest.map_structure(np.asarray, r), np.float64),
      np.asarray(e, np.float64),
    )
    for r, e in pairs
  ]


def worker(index):
  mismatches = []
  for call in range(CALLS):
    x, y = 1.0 + index / 10.0, 2.0 + call / 10.0
    for result, want in every_api(x, y):
      if not np.allclose(result, want, rtol=1e-4):
        mismatches.append((index, call, result, want))
  return mismatches


@pytest.mark.slow
def test_threads_calling_every_api_eagerly():
  # TensorFlow 2.21's type-based op dispatcher can crash the process when
  # threads meet an argument type for the first time at once, once Keras
  # and TFP have registered their dispatchers (a segfault in hand-written
  # tape code too, with tf.eye and tf.reshape): one call first, as a
  # program's first step would be.
  every_api(1.0, 2.0)
  with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
    mismatches = [m for ms in pool.map(worker, range(THREADS)) for m in ms]
  assert not mismatches


def test_threads_calling_one_tf_function():
  @tf.function(input_signature=[tf.TensorSpec([], tf.float32)] * 2)
  def step(x, y):
    return (tfm.value_and_gradient(f, x, y)[1], tfe.gradients_function(f)(x, y))

  def call(i):
    x, y = 1.0 + i / 50.0, 2.0 - i / 100.0
    math_grads, eager_grads = step(tf.constant(x), tf.constant(y))
    return np.allclose(math_grads, expected(x, y), rtol=1e-5) and np.allclose(
      eager_grads, expected(x, y), rtol=1e-5
    )

  with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
    assert all(pool.map(call, range(THREADS * CALLS)))
  assert step.experimental_get_tracing_count() == 1
