"""Every dtype: floats, complex (holomorphic or not), integers, strings,
mixed dtypes in one call, and IndexedSlices gradients."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools.eager as tfe
import tfgradtools.math as tfm

FLOATS = [tf.float16, tf.bfloat16, tf.float32, tf.float64]


def hand_written(f, *xs):
  with tf.GradientTape() as tape:
    tape.watch(xs)
    y = f(*xs)
  return y, tape.gradient(y, xs)


@pytest.mark.parametrize('dtype', FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize('mode', ['eager', 'function'])
def test_floating_dtypes(dtype, mode):
  def body():
    x = tf.constant([0.5, 1.5], dtype)
    return (
      tfm.value_and_gradient(lambda x: tf.reduce_sum(x * x * x), x),
      tfe.gradients_function(lambda x: tf.reduce_sum(tf.sin(x)))(x),
    )

  (value, grad), (grad_sin,) = (
    body() if mode == 'eager' else tf.function(body)()
  )
  assert grad.dtype == dtype and grad_sin.dtype == dtype
  tolerance = {tf.float16: 1e-2, tf.bfloat16: 3e-2}.get(dtype, 1e-6)
  np.testing.assert_allclose(
    tf.cast(grad, tf.float64), 3 * np.array([0.5, 1.5]) ** 2, rtol=tolerance
  )
  np.testing.assert_allclose(
    tf.cast(grad_sin, tf.float64), np.cos([0.5, 1.5]), rtol=tolerance
  )


@pytest.mark.parametrize(
  'dtype', [tf.complex64, tf.complex128], ids=lambda d: d.name
)
@pytest.mark.parametrize(
  'f',
  [
    lambda z: z * z,  # Holomorphic.
    lambda z: tf.exp(z) * 2.0,  # Holomorphic.
    lambda z: tf.math.real(z * tf.math.conj(z)),  # Not holomorphic.
    lambda z: tf.cast(tf.abs(z), z.dtype) * z,  # Not holomorphic.
  ],
  ids=['square', 'exp', 'abs2', 'abs_times_z'],
)
def test_complex_follows_tensorflow_convention(dtype, f, regime):
  def make():
    def body():
      z = tf.constant([1.0 + 2.0j, -0.5 + 0.25j], dtype)
      return (
        tfm.value_and_gradient(f, z)[1],
        tfe.gradients_function(f)(z)[0],
        hand_written(f, z)[1][0],
      )

    return body

  ours_math, ours_eager, tape = helpers.run(regime, make)
  helpers.assert_all_close(ours_math, tape)
  helpers.assert_all_close(ours_eager, tape)


def test_complex_holomorphic_closed_form():
  z = tf.constant(1.0 + 2.0j, tf.complex128)
  # TensorFlow returns conj(df/dz) for holomorphic f: d(z^2)/dz = 2z.
  _, grad = tfm.value_and_gradient(lambda z: z * z, z)
  assert complex(grad) == pytest.approx(np.conj(2 * (1.0 + 2.0j)))


@pytest.mark.parametrize(
  'dtype', [tf.int32, tf.int64, tf.string], ids=lambda d: d.name
)
def test_integer_and_string_arguments(dtype, evaluate):
  def make():
    def body():
      value = tf.constant('a') if dtype == tf.string else tf.constant(3, dtype)
      f = lambda x, n: x * 2.0
      return (
        tfm.value_and_gradient(f, 1.0, value)[1],
        tfm.value_and_gradient(f, 1.0, value, unconnected_gradients='zero')[1],
        tfe.gradients_function(f)(1.0, value),
        tfe.gradients_function(f, unconnected_gradients='zero')(1.0, value),
      )

    return body

  zero = None if dtype == tf.string else 0
  helpers.assert_all_close(
    evaluate(make), ([2.0, None], [2.0, zero], [2.0, None], [2.0, zero])
  )


def test_mixed_dtypes_in_one_call(evaluate):
  def make():
    def body():
      a = tf.constant(2.0, tf.float32)
      b = tf.constant(3.0, tf.float64)
      n = tf.constant(4, tf.int64)
      c = tf.constant(1.0 + 1.0j, tf.complex64)
      f = lambda a, b, n, c: (
        tf.cast(a, tf.float64) * b * tf.cast(n, tf.float64)
        + tf.cast(tf.math.real(c * c), tf.float64)
      )
      return tfm.value_and_gradient(f, a, b, n, c)

    return body

  value, (da, db, dn, dc) = evaluate(make)
  helpers.assert_all_close((value, da, db, dn), (24.0, 12.0, 8.0, None))
  assert da.dtype == np.float32 and db.dtype == np.float64
  helpers.assert_all_close(dc, 2.0 * (1.0 - 1.0j))


def test_indexed_slices_are_returned_as_tensorflow_does(regime):
  def make():
    table = tf.Variable([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])

    def body():
      f = lambda t: tf.reduce_sum(tf.gather(t, [0, 2, 0]))
      _, ours = tfm.value_and_gradient(f, table)
      _, (theirs,) = hand_written(f, table)
      assert type(ours) is type(theirs), (type(ours), type(theirs))
      return tf.convert_to_tensor(ours), tf.convert_to_tensor(theirs)

    return body

  ours, theirs = helpers.run(regime, make)
  helpers.assert_all_close(ours, theirs)
  helpers.assert_all_close(ours, [[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]])


def test_indexed_slices_in_eager_are_indexed_slices():
  table = tf.Variable(tf.ones([4, 2]))
  _, grad = tfm.value_and_gradient(
    lambda t: tf.reduce_sum(tf.gather(t, [1, 3])), table
  )
  assert isinstance(grad, tf.IndexedSlices)
  assert grad.indices.numpy().tolist() == [1, 3]
