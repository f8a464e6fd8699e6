"""Forward mode and second order: jvp, hvp, jacobian, hessian."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools
import tfgradtools.math as tfm
from tfgradtools import _engines

A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]], np.float32)
X0 = np.array([0.5, -1.0, 2.0], np.float32)
V = np.array([1.0, 2.0, -1.0], np.float32)


def quadratic(x):
  return 0.5 * tf.reduce_sum(x * tf.linalg.matvec(A, x))


def logsumexp(x):
  return tf.reduce_logsumexp(x)


def logsumexp_hessian(x):
  p = np.exp(x - np.log(np.sum(np.exp(x))))
  return np.diag(p) - np.outer(p, p)


def rosenbrock(p):
  return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2


def rosenbrock_hessian(a, b):
  return np.array(
    [
      [2.0 - 400.0 * (b - a * a) + 800.0 * a * a, -400.0 * a],
      [-400.0 * a, 200.0],
    ]
  )


def seed_f(x, y):
  return x * x * x * y - x * y * y


@pytest.mark.slow
def test_jvp_closed_forms(evaluate):
  def make():
    def body():
      x = tf.constant(X0)
      return (
        tfm.value_and_jvp(quadratic, x, tf.constant(V)),
        tfm.jvp(seed_f, [2.0, 3.0], [1.0, 0.0]),
        tfm.jvp(seed_f, [2.0, 3.0], [0.0, 1.0]),
        tfm.jvp(lambda x: [x * x, tf.sin(x)], x, tf.constant(V)),
      )

    return body

  (value, jvp), dx, dy, structured = evaluate(make)
  helpers.assert_all_close(value, 0.5 * X0 @ A @ X0)
  helpers.assert_all_close(jvp, (A @ X0) @ V)
  helpers.assert_all_close((dx, dy), (27.0, -4.0))
  helpers.assert_all_close(structured, [2 * X0 * V, np.cos(X0) * V])


@pytest.mark.slow
def test_hvp_equals_hessian_times_vector(evaluate):
  def make():
    def body():
      x = tf.constant(X0)
      v = tf.constant(V)
      return (
        tfm.value_and_hvp(quadratic, x, v),
        tfm.hvp(logsumexp, x, v),
        tfm.hessian(logsumexp, x),
        tfm.hvp(rosenbrock, tf.constant([0.5, 1.5]), tf.constant([1.0, -2.0])),
      )

    return body

  (value, hvp_q), hvp_l, hess_l, hvp_r = evaluate(make)
  helpers.assert_all_close(value, 0.5 * X0 @ A @ X0)
  helpers.assert_all_close(hvp_q, A @ V, rtol=1e-5)
  helpers.assert_all_close(hess_l, logsumexp_hessian(X0), atol=1e-6)
  helpers.assert_all_close(hvp_l, hess_l @ V, atol=1e-6)
  helpers.assert_all_close(
    hvp_r, rosenbrock_hessian(0.5, 1.5) @ [1.0, -2.0], rtol=1e-5
  )


@pytest.mark.slow
def test_hessian_closed_forms(evaluate):
  def make():
    def body():
      return (
        tfm.value_and_hessian(quadratic, tf.constant(X0)),
        tfm.hessian(rosenbrock, tf.constant([0.5, 1.5])),
        tfm.hessian(seed_f, 2.0, 3.0),
      )

    return body

  (value, hess_q), hess_r, blocks = evaluate(make)
  helpers.assert_all_close(hess_q, A)
  helpers.assert_all_close(hess_r, rosenbrock_hessian(0.5, 1.5), rtol=1e-5)
  # d2f/dx2 = 6xy, d2f/dxdy = 3x^2 - 2y, d2f/dy2 = -2x.
  helpers.assert_all_close(blocks, [[36.0, 6.0], [6.0, -4.0]])


@pytest.mark.slow
def test_hessian_with_tape_in_graph(regime):
  make = lambda: lambda: tfm.hessian(seed_f, 2.0, 3.0, use_gradient_tape=True)
  helpers.assert_all_close(
    helpers.run(regime, make), [[36.0, 6.0], [6.0, -4.0]]
  )


def test_jacobian_shapes_and_values(evaluate):
  def make():
    def body():
      x = tf.constant(X0)
      w = tf.reshape(tf.range(6.0), [2, 3])
      return (
        tfm.value_and_jacobian(lambda x: tf.linalg.matvec(A, x), x),
        tfm.jacobian(lambda w, x: tf.linalg.matvec(w, x), w, x),
      )

    return body

  (value, jac), (d_w, d_x) = evaluate(make)
  helpers.assert_all_close(value, A @ X0)
  helpers.assert_all_close(jac, A)
  assert d_w.shape == (2, 2, 3) and d_x.shape == (2, 3)
  expected_dw = np.zeros([2, 2, 3])
  expected_dw[0, 0], expected_dw[1, 1] = X0, X0
  helpers.assert_all_close(d_w, expected_dw)
  helpers.assert_all_close(d_x, np.arange(6.0).reshape(2, 3))


def test_against_nested_value_and_gradient():
  x = tf.constant(X0)
  v = tf.constant(V)
  grad = lambda x: tfm.value_and_gradient(logsumexp, x)[1]
  helpers.assert_all_close(
    tfm.hvp(logsumexp, x, v), tfm.jvp(grad, x, v), atol=1e-6
  )
  helpers.assert_all_close(
    tfm.hessian(logsumexp, x), tfm.jacobian(grad, x), atol=1e-6
  )


def test_against_finite_differences():
  x = tf.constant(X0.astype(np.float64))
  v = tf.constant(V.astype(np.float64))
  _, (numerical,) = tf.test.compute_gradient(
    lambda x: tf.reshape(tf.exp(x) * tf.reduce_sum(x), [-1]), [x]
  )
  helpers.assert_all_close(
    tfm.jacobian(lambda x: tf.exp(x) * tf.reduce_sum(x), x),
    numerical,
    rtol=1e-5,
  )
  grad = lambda x: tfm.value_and_gradient(
    lambda x: tf.reduce_sum(tf.sin(x) ** 2), x
  )[1]
  _, (hess_fd,) = tf.test.compute_gradient(grad, [x])
  helpers.assert_all_close(
    tfm.hvp(lambda x: tf.reduce_sum(tf.sin(x) ** 2), x, v),
    np.asarray(hess_fd) @ V,
    rtol=1e-5,
  )


def test_has_aux_and_unconnected():
  (value, aux), jvp = tfm.value_and_jvp(
    lambda x, y: (x * 2.0, y), [1.0, 5.0], [1.0, 1.0], has_aux=True
  )
  helpers.assert_all_close((value, aux, jvp), (2.0, 5.0, 2.0))
  hvp = tfm.hvp(lambda x, y: x * x, [1.0, 2.0], [1.0, 1.0])
  helpers.assert_all_close(hvp, [2.0, None])
  hvp = tfm.hvp(
    lambda x, y: x * x, [1.0, 2.0], [1.0, 1.0], unconnected_gradients='zero'
  )
  helpers.assert_all_close(hvp, [2.0, 0.0])


def test_tangents_must_match_primals():
  with pytest.raises(ValueError, match='`tangents` must have the structure'):
    tfm.jvp(seed_f, [2.0, 3.0], [1.0])
  with pytest.raises(
    ValueError,
    match=r'`tangents` has shape \(2,\), but '
    r'primals has shape \(3,\)',
  ):
    tfm.hvp(quadratic, tf.constant(X0), tf.constant([1.0, 2.0]))


def test_hessian_needs_a_scalar():
  with pytest.raises(TypeError, match='must return a scalar'):
    tfm.hessian(lambda x: x * x, tf.constant([1.0, 2.0]))


def test_reexported():
  for name in (
    'jvp',
    'value_and_jvp',
    'hvp',
    'value_and_hvp',
    'jacobian',
    'value_and_jacobian',
    'hessian',
    'value_and_hessian',
  ):
    assert getattr(tfgradtools, name) is getattr(tfm, name)


JACOBIAN_OPTIONS = [
  {},
  {'experimental_use_pfor': False},
  {'experimental_use_pfor': True, 'parallel_iterations': 2},
  {'experimental_use_pfor': False, 'parallel_iterations': 1},
]


@pytest.mark.slow
@pytest.mark.parametrize(
  'options',
  JACOBIAN_OPTIONS,
  ids=lambda o: '-'.join(f'{k}={v}' for k, v in o.items()) or 'default',
)
def test_jacobian_options_as_in_gradient_tape(evaluate, options):
  """`experimental_use_pfor` and `parallel_iterations` change the method,
  never the result."""

  def make():
    def body():
      x = tf.constant(X0)
      batch = tf.constant(np.stack([X0, 2 * X0]))
      return (
        tfm.jacobian(lambda t: tf.sin(t) * t, x, **options),
        tfm.hessian(logsumexp, x, **options),
        tfm.value_and_hessian(rosenbrock, tf.constant([1.5, -0.5]), **options)[
          1
        ],
        tfm.batch_jacobian(lambda t: t * t, batch, **options),
      )

    return body

  jac, hess, rosen, batch = evaluate(make)
  helpers.assert_all_close(jac, np.diag(np.cos(X0) * X0 + np.sin(X0)))
  helpers.assert_all_close(hess, logsumexp_hessian(X0), atol=1e-6)
  helpers.assert_all_close(rosen, rosenbrock_hessian(1.5, -0.5), rtol=1e-5)
  helpers.assert_all_close(batch, [np.diag(2 * X0), np.diag(4 * X0)])


def _refuse_vectorised_jacobians(monkeypatch):
  def refuse(*args, **kwargs):
    raise AssertionError('tf.GradientTape.(batch_)jacobian was called')

  monkeypatch.setattr(tf.GradientTape, 'jacobian', refuse)
  monkeypatch.setattr(tf.GradientTape, 'batch_jacobian', refuse)


# A closure over a Tensor: not traced (see tests/test_traced.py), so eager.
ONE = tf.constant(1.0)


@pytest.mark.slow
def test_small_eager_jacobians_are_loops_of_backward_passes(monkeypatch):
  """No vectorised Jacobian (which traces a function on every eager call)
  for a few rows; results equal to the vectorised ones."""
  x = tf.constant(X0)
  batch = tf.reshape(tf.range(24, dtype=tf.float32), [2, 3, 4]) / 10.0
  w = tf.Variable(tf.ones([5, 3]))
  calls = (
    lambda: (  # pylint: disable=unnecessary-lambda-assignment
      tfm.jacobian(lambda t: tf.sin(t) * tf.reduce_sum(t) * ONE, x),
      tfm.hessian(lambda p: rosenbrock(p) * ONE, tf.constant([1.5, -0.5])),
      tfm.hessian(lambda a, b: tf.reduce_sum(a * a * b) * ONE, x, 2.0 * x),
      tfm.batch_jacobian(lambda t: tf.sin(t) * t[:, :1] * ONE, batch),
      tfm.jacobian(lambda v: tf.gather(v, [0, 2, 2]) * ONE, w),
    )
  )
  vectorised = tf.function(calls)()
  _refuse_vectorised_jacobians(monkeypatch)
  looped = calls()
  assert looped[3].shape == (2, 3, 4, 3, 4)
  assert looped[4].shape == (3, 3, 5, 3)
  helpers.assert_all_close(
    helpers.to_numpy(looped), helpers.to_numpy(vectorised), atol=1e-6
  )
  helpers.assert_all_close(looped[1], rosenbrock_hessian(1.5, -0.5), rtol=1e-5)


def test_looped_jacobians_of_unconnected_sources(monkeypatch):
  _refuse_vectorised_jacobians(monkeypatch)
  f = lambda x, y: tf.sin(x)  # pylint: disable=unnecessary-lambda-assignment
  x, y = tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0, 5.0])
  assert tfm.jacobian(f, x, y)[1] is None
  helpers.assert_all_close(
    tfm.jacobian(f, x, y, unconnected_gradients='zero')[1], np.zeros([2, 3])
  )
  hessian = tfm.hessian(
    lambda x, y: tf.reduce_sum(x * x), x, y, unconnected_gradients='zero'
  )
  helpers.assert_all_close(
    hessian,
    [
      [np.diag([2.0, 2.0]), np.zeros([2, 3])],
      [np.zeros([3, 2]), np.zeros([3, 3])],
    ],
  )


@pytest.mark.slow
def test_larger_eager_jacobians_are_vectorised(monkeypatch):
  calls = []
  original = tf.GradientTape.jacobian

  def spy(self, *args, **kwargs):
    calls.append(kwargs.get('experimental_use_pfor', True))
    return original(self, *args, **kwargs)

  monkeypatch.setattr(tf.GradientTape, 'jacobian', spy)
  x = tf.linspace(-1.0, 1.0, 65)
  jac = tfm.jacobian(lambda t: tf.sin(t) * ONE, x)
  helpers.assert_all_close(jac, np.diag(np.cos(x.numpy())), atol=1e-6)
  assert calls == [True]
  tfm.jacobian(lambda t: tf.sin(t) * ONE, x[:64])  # A loop.
  assert calls == [True]
  hessian = tfm.hessian(lambda t: tf.reduce_sum(t**3) * ONE, x[:33])
  helpers.assert_all_close(hessian, np.diag(6 * x.numpy()[:33]), atol=1e-5)
  assert calls == [True, True]  # A Hessian's rows cost more: vectorised.
  tfm.hessian(lambda t: tf.reduce_sum(t**3) * ONE, x[:32])
  tfm.jacobian(
    lambda t: tf.sin(t) * ONE,
    tf.constant([1.0, 2.0]),
    experimental_use_pfor=False,
  )
  assert calls == [True, True, False]


class _Records(logging.Handler):
  """The messages TensorFlow's logger emits while attached."""

  def __init__(self):
    super().__init__()
    self.messages = []

  def emit(self, record):
    self.messages.append(record.getMessage())


def _sparse_rows(x):
  return tf.gather(x, [0, 1, 1]) * 2.0


def _cond_linear(x):
  return tf.cond(
    tf.reduce_sum(x) > 0.0,
    lambda: tf.reduce_sum(x**3),
    lambda: tf.reduce_sum(x),
  )


@pytest.mark.slow
def test_vectorised_jacobians_print_nothing_about_tensorflow_internals(
  monkeypatch, capfd
):
  # Hand-written `tape.jacobian` makes TensorFlow warn about its own pfor
  # function's retracing and densified gradients; ours says nothing.
  for name in ('LOOPED_JACOBIAN_ROWS', 'LOOPED_HESSIAN_ROWS'):
    monkeypatch.setattr(_engines, name, -1)
  x = tf.range(1.0, 51.0)

  def hand_written():
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = _sparse_rows(x)
    tape.jacobian(y, x)
    with tf.GradientTape() as outer:
      outer.watch(x)
      with tf.GradientTape() as inner:
        inner.watch(x)
        z = _cond_linear(-x)
      g = inner.gradient(z, x)
    outer.jacobian(g, x)

  def ours():
    tfm.jacobian(_sparse_rows, x)
    tfm.hessian(_cond_linear, -x)

  for compute, noisy in ((hand_written, True), (ours, False)):
    records = _Records()
    tf.get_logger().addHandler(records)
    try:
      for _ in range(6):
        compute()
    finally:
      tf.get_logger().removeHandler(records)
    internal = [
      m
      for m in records.messages + capfd.readouterr().err.split('\n')
      if 'pfor' in m or 'dense representation' in m
    ]
    assert bool(internal) == noisy, internal


def test_other_tensorflow_warnings_still_reach_the_user(monkeypatch):
  monkeypatch.setattr(_engines, 'LOOPED_JACOBIAN_ROWS', -1)
  records = _Records()
  tf.get_logger().addHandler(records)

  def warns(x):
    tf.get_logger().warning('a warning of the user')
    return x * x

  try:
    tfm.jacobian(warns, tf.ones([3]))
  finally:
    tf.get_logger().removeHandler(records)
  assert 'a warning of the user' in records.messages
