"""One call, one answer: nothing the user cannot see changes a result.

An earlier call with a related function, the regime, the engine, and
TensorFlow's vectorisation machinery must not change whether a call works,
what it returns, or what it prints.
"""

from __future__ import annotations

import functools
import inspect
import logging
import warnings
from typing import Any, Callable

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools.eager as tfe
import tfgradtools.math as tfm
from tfgradtools import _args


class Model:
  """A loss as a method, as user code keeps it next to its weights."""

  def __init__(self):
    self.w = tf.Variable(3.0)

  def loss(self):
    return self.w * self.w

  def scaled(self, x):
    return self.w * x * x

  @staticmethod
  def square(x):
    return x * x

  @classmethod
  def constant(cls):
    return tf.constant(2.0)

  def __call__(self, x):
    return 2.0 * x


def _callables(model: Model) -> list[Callable[..., Any]]:
  return [
    Model.loss,
    model.loss,
    Model.scaled,
    model.scaled,
    Model.square,
    model.square,
    Model.constant,
    model.constant,
    model,
    functools.partial(Model.scaled, model),
    functools.partial(Model.loss, model),
    lambda: 1.0,
    lambda *a: 1.0,
    functools.wraps(Model.constant)(lambda *args: 1.0),
  ]


def _inspected(f: Callable[..., Any]) -> bool:
  return bool(inspect.signature(f).parameters)


@pytest.mark.parametrize('order', ['forward', 'backward'])
def test_takes_arguments_is_the_signature_in_any_order(order):
  model = Model()
  callables = _callables(model)
  if order == 'backward':
    callables.reverse()
  for f in callables * 2:
    assert _args.takes_arguments(f) == _inspected(f), f


@pytest.mark.parametrize('unbound_first', [True, False])
def test_bound_method_after_its_unbound_function(unbound_first):
  model = Model()

  def unbound():
    # Calling rule 3: the unbound function takes `self`, passed explicitly.
    _, grad = tfm.value_and_gradient(
      lambda w: Model.scaled(model, w), tf.constant(2.0)
    )
    np.testing.assert_allclose(grad, 12.0)
    assert _args.takes_arguments(Model.loss)

  def bound():
    # Calling rule 1: the bound `loss` takes nothing and is called as f().
    value, grad = tfm.value_and_gradient(model.loss, model.w)
    np.testing.assert_allclose([value, grad], [9.0, 6.0])

  for step in (unbound, bound) if unbound_first else (bound, unbound):
    step()


def loss_and_label(x):
  return tf.reduce_sum(x * x), tf.constant('label'), tf.constant(3)


@pytest.mark.parametrize('use_gradient_tape', [False, True])
def test_strings_and_integers_in_the_value_are_skipped(
  regime, use_gradient_tape
):
  if regime == 'jit':
    pytest.skip('XLA has no string Tensors, by hand either.')

  def make():
    def body():
      x = tf.constant([1.0, 2.0])
      _, grad = tfm.value_and_gradient(
        loss_and_label, x, use_gradient_tape=use_gradient_tape
      )
      _, weighted = tfm.value_and_gradient(
        loss_and_label,
        x,
        use_gradient_tape=use_gradient_tape,
        output_gradients=[tf.constant(3.0), tf.constant('ignored'), 1],
      )
      _, grads = tfe.value_and_gradients_function(
        loss_and_label, use_gradient_tape=use_gradient_tape
      )(x)
      return grad, weighted, grads[0]

    return body

  grad, weighted, transformed = helpers.run(regime, make)
  np.testing.assert_allclose(grad, [2.0, 4.0])
  np.testing.assert_allclose(weighted, [6.0, 12.0])
  np.testing.assert_allclose(transformed, [2.0, 4.0])


def test_only_non_differentiable_parts_give_unconnected_gradients(regime):
  def make():
    def body():
      x = tf.constant([1.0, 2.0])
      label = lambda x: tf.strings.as_string(x)  # pylint: disable=g-long-lambda
      _, none = tfm.value_and_gradient(label, x)
      _, zero = tfm.value_and_gradient(label, x, unconnected_gradients='zero')
      return none, zero

    return body

  if regime == 'jit':
    pytest.skip('XLA has no string Tensors, by hand either.')
  none, zero = helpers.run(regime, make)
  assert none is None
  np.testing.assert_array_equal(zero, [0.0, 0.0])


def branch(x, y):
  return tf.cond(
    tf.reduce_sum(x) > 0.0,
    lambda: tf.reduce_sum(tf.sin(x) * x),
    lambda: tf.reduce_sum(y * y),
  )


def example_branch(w, x):
  return tf.cond(
    tf.reduce_sum(x) > 0.0,
    lambda: tf.reduce_sum(tf.sin(w * x)),
    lambda: tf.reduce_sum(w * w * x),
  )


def per_row_branch(x):
  return tf.cond(tf.reduce_sum(x) > 0.0, lambda: tf.sin(x) * x, lambda: x)


class _Records(logging.Handler):
  """Collects what TensorFlow's logger lets through."""

  def __init__(self):
    super().__init__(logging.DEBUG)
    self.records: list[logging.LogRecord] = []

  def emit(self, record: logging.LogRecord) -> None:
    self.records.append(record)


@pytest.fixture
def tensorflow_log():
  handler = _Records()
  logger = tf.get_logger()
  logger.addHandler(handler)
  level = logger.level
  logger.setLevel(logging.DEBUG)
  try:
    yield handler.records
  finally:
    logger.setLevel(level)
    logger.removeHandler(handler)


@pytest.mark.slow
@pytest.mark.parametrize('n', [3, 40])
def test_vectorised_derivatives_print_no_tensorflow_internals(
  regime, n, tensorflow_log
):
  """pfor cannot convert a `tf.cond`'s gradient and falls back to a loop;
  it logs every op it gave up on, NodeDef and all. None of that reaches the
  user, in any regime, whatever the size."""
  if regime == 'jit':
    pytest.skip('pfor falls back to a while loop XLA cannot compile.')

  def make():
    def body():
      x = tf.range(1.0, n + 1.0)
      y = tf.constant([3.0, 4.0])
      hessian = tfm.hessian(branch, x, y)
      jacobian = tfm.jacobian(per_row_branch, x)
      batch = tfm.batch_jacobian(per_row_branch, tf.reshape(x, [1, n]))
      with warnings.catch_warnings():
        # pfor cannot stack the cond's gradient: the library says so once.
        warnings.simplefilter('ignore', tfm.VectorizationFallbackWarning)
        norms = tfm.per_example_gradient_norms(
          example_branch,
          x[:3],
          tf.reshape(x[: n // 3 * 3], [-1, 3]),
          single_example=True,
        )
      return hessian[0][0], jacobian, batch, norms

    return body

  hessian, jacobian, batch, norms = helpers.run(regime, make)
  x = np.arange(1.0, n + 1.0)
  w, examples = x[:3], x[: n // 3 * 3].reshape([-1, 3])
  np.testing.assert_allclose(
    norms, np.linalg.norm(examples * np.cos(w * examples), axis=1), rtol=1e-5
  )
  np.testing.assert_allclose(
    hessian, np.diag(2 * np.cos(x) - x * np.sin(x)), rtol=1e-5, atol=1e-5
  )
  np.testing.assert_allclose(
    jacobian, np.diag(np.sin(x) + x * np.cos(x)), rtol=1e-5, atol=1e-5
  )
  np.testing.assert_allclose(batch[0], jacobian, rtol=1e-5, atol=1e-5)
  internal = [
    r.getMessage()[:200]
    for r in tensorflow_log
    if 'parallel_for' in r.pathname or 'pfor' in r.getMessage()
  ]
  assert not internal, internal


def test_other_messages_still_pass(tensorflow_log):
  tfm.jacobian(per_row_branch, tf.range(1.0, 41.0))
  tf.get_logger().warning('the user speaks')
  assert [r.getMessage() for r in tensorflow_log] == ['the user speaks']
