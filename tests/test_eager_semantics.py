"""Eager calls mean exactly what the hand-written tape means.

Each test is a program whose answer a cache of traced graphs, or a graph
rewrite, would change: closures and globals that change between calls,
randomness, Keras settings, `tf.executing_eagerly()`, ops that fail,
ops that graph optimisation rewrites, call history, and what a call leaves
referenced. Every API must answer as a tape does, call after call.
"""

from __future__ import annotations

import collections
import gc
import weakref

import numpy as np
import numpy.random as npr
import pytest
import tensorflow as tf

import helpers
import tfgradtools.eager as tfe
import tfgradtools.math as tfm


def tape_value_and_gradient(f, *args):
  """The hand-written reference."""
  args = [tf.convert_to_tensor(a, dtype_hint=tf.float32) for a in args]
  with tf.GradientTape() as tape:
    tape.watch(args)
    value = f(*args)
  return value, tape.gradient(value, args)


def every_api(f, *args):
  """`f`'s value and gradients by each API that computes both."""
  value, grads = tfm.value_and_gradient(f, *args)
  grads = [grads] if len(args) == 1 else grads
  eager_value, eager_grads = tfe.value_and_gradients_function(f)(*args)
  vjp_value, vjp = tfe.make_vjp(f)(*args)
  return [(value, grads), (eager_value, eager_grads), (vjp_value, vjp())]


def assert_as_tape(f, *args):
  expected = helpers.to_numpy(tape_value_and_gradient(f, *args))
  for result in every_api(f, *args):
    helpers.assert_all_close(helpers.to_numpy(result), expected)


@pytest.mark.parametrize(
  'zero, negative_zero',
  [(0.0, -0.0), (np.float32(0.0), np.float32(-0.0)), (0j, complex(-0.0, -0.0))],
)
def test_signed_zeros_in_the_closure(zero, negative_zero):
  for c in (zero, negative_zero, zero):
    divide = lambda x: x / tf.math.real(tf.constant(c, tf.complex64))  # noqa: B023 (a closure per value)
    assert_as_tape(divide, 1.0)


def test_signed_zero_as_an_unselected_argument():
  """(As NumPy scalars: TensorFlow converts a Python -0.0 to the cached
  Tensor of an earlier 0.0, tape or not.)"""
  divide = tfe.value_and_gradients_function(lambda x, c: x / c, params=[0])
  for c, expected in ((0.0, np.inf), (-0.0, -np.inf), (0.0, np.inf)):
    value, (grad,) = divide(1.0, np.float32(c))
    assert float(value) == expected and float(grad) == expected


Point = collections.namedtuple('Point', ['a', 'b'])
Other = collections.namedtuple('Other', ['b', 'a'])


def test_namedtuples_with_the_same_values_in_another_order():
  for point in (Point(1.0, 2.0), Other(1.0, 2.0), Point(2.0, 1.0)):
    f = lambda x: x * point.a + x * x * point.b  # noqa: B023 (a closure per value)
    assert_as_tape(f, 3.0)


WEIGHTS = np.array([1.0, 2.0], dtype=object)


def test_a_global_object_array_changed_between_calls():
  f = lambda x: x * float(WEIGHTS[0]) + x * x * float(WEIGHTS[1])
  for step in range(20):
    WEIGHTS[0] = float(step)
    value, grad = tfm.value_and_gradient(f, 2.0)
    assert float(value) == 2.0 * step + 8.0 and float(grad) == step + 8.0


def test_randomness_and_modules_read_at_every_call():
  def noisy(x):
    import time  # pylint: disable=g-import-not-at-top,import-outside-toplevel

    del time
    return x * npr.normal()

  draws = {float(tfm.value_and_gradient(noisy, 1.0)[1]) for _ in range(5)}
  assert len(draws) == 5


def test_keras_settings_read_at_every_call():
  f = lambda x: x / tf.keras.backend.epsilon()
  before = tf.keras.backend.epsilon()
  try:
    for epsilon in (1e-7, 1e-3):
      tf.keras.backend.set_epsilon(epsilon)
      value, grad = tfm.value_and_gradient(f, 2.0)
      np.testing.assert_allclose(
        [float(value), float(grad)], [2.0 / epsilon, 1.0 / epsilon], rtol=1e-6
      )
  finally:
    tf.keras.backend.set_epsilon(before)


def test_executing_eagerly_is_true_in_f():
  f = lambda x: x * 2.0 if tf.executing_eagerly() else x * 3.0
  for _, grads in every_api(f, 1.0):
    assert float(grads[0]) == 2.0


def test_dropout_draws_the_masks_eager_code_draws():
  x = tf.ones([64])
  f = lambda x: tf.reduce_sum(tf.nn.dropout(x, rate=0.5) * x)
  tf.random.set_seed(0)
  expected = [tape_value_and_gradient(f, x)[1][0] for _ in range(3)]
  tf.random.set_seed(0)
  ours = [tfm.value_and_gradient(f, x)[1] for _ in range(3)]
  helpers.assert_all_close(helpers.to_numpy(ours), helpers.to_numpy(expected))


def test_an_unused_op_that_fails_raises():
  def f(x):
    tf.gather([1.0, 2.0], [5])  # Unused, and out of range.
    return x * x

  for call in (
    lambda: tfm.value_and_gradient(f, 2.0),
    lambda: tfe.gradients_function(f)(2.0),
    lambda: tfm.hessian(lambda x: tf.reduce_sum(f(x)), tf.ones([2])),
    lambda: tfm.hvp(lambda x: tf.reduce_sum(f(x)), tf.ones([2]), tf.ones([2])),
  ):
    with pytest.raises(tf.errors.InvalidArgumentError, match='indices'):
      call()


@pytest.mark.parametrize(
  'f', [lambda x: tf.math.log(1.0 + x), lambda x: tf.exp(x) - 1.0]
)
def test_no_graph_rewrite_of_what_f_computes(f):
  value, grads = tape_value_and_gradient(f, 1e-8)
  assert float(value) == 0.0  # In float32, 1 + 1e-8 is 1.
  for result in every_api(f, 1e-8):
    helpers.assert_all_close(
      helpers.to_numpy(result), helpers.to_numpy((value, grads))
    )


def test_the_same_call_gives_the_same_answer_whatever_came_before():
  f = lambda x: tf.math.log(1.0 + x) / 3.0
  first = helpers.to_numpy(every_api(f, 1e-8))
  for c in range(12):  # Many closures over new values...
    tfm.value_and_gradient(lambda x: x * c, 1.0)  # noqa: B023 (a closure per value)
  with pytest.raises(ValueError):  # ... and a call that fails.
    tfm.value_and_gradient(lambda x: (_ for _ in ()).throw(ValueError()), 1.0)
  helpers.assert_all_close(helpers.to_numpy(every_api(f, 1e-8)), first)


def test_a_call_keeps_nothing_of_the_user():
  f = lambda x: x * x
  x = tf.constant([1.0, 2.0])
  dy = tf.constant([1.0, -1.0])
  tangent = tf.constant([1.0, 0.0])
  tfm.value_and_gradient(f, x, output_gradients=dy)
  tfe.gradients_function(f)(x, dy=dy)
  tfm.jvp(f, x, tangent)
  tfm.hvp(lambda x: tf.reduce_sum(x * x), x, tangent)
  tfm.hessian(lambda x: tf.reduce_sum(x * x), x)
  watched = [weakref.ref(obj) for obj in (f, x, dy, tangent)]
  del f, x, dy, tangent
  gc.collect()
  assert [ref() for ref in watched] == [None] * 4
