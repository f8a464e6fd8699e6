"""Eager Jacobians, Hessians, JVPs and HVPs of pure functions run a cached
trace; a change of code or captured state never meets a stale one."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools.eager as tfe
import tfgradtools.math as tfm
from tfgradtools import _traced

X = tf.constant([0.5, -1., 2.])
SCALE = 2.
WEIGHTS = np.array([1., 2., 3.], np.float32)
BIG = np.ones(5000, np.float32)
STATE = {'scale': 2.}
LOG = []


@pytest.fixture(autouse=True)
def empty_cache():
  _traced._CACHE.clear()  # pylint: disable=protected-access
  yield
  _traced._CACHE.clear()  # pylint: disable=protected-access


def traces() -> int:
  """How many times the cached functions have been traced so far."""
  entries = _traced._CACHE._entries.values()  # pylint: disable=protected-access
  return sum(entry.function.experimental_get_tracing_count() for entry in entries
             if entry is not _traced._UNTRACEABLE)  # pylint: disable=protected-access


def cubic(x):
  return tf.reduce_sum(SCALE * x ** 3)


def test_repeated_calls_trace_once():
  for _ in range(3):
    hess = tfm.hessian(cubic, X)
    jac = tfm.jacobian(lambda x: x * x, X)
    hvp = tfm.hvp(cubic, X, tf.ones(3))
    jvp = tfm.jvp(tf.sin, X, tf.ones(3))
  assert traces() == 3  # Hessian, Jacobian and HVP; tf.sin is no function.
  helpers.assert_all_close(hess, np.diag(6 * SCALE * X.numpy()))
  helpers.assert_all_close(jac, np.diag(2 * X.numpy()))
  helpers.assert_all_close(hvp, 6 * SCALE * X.numpy())
  helpers.assert_all_close(jvp, np.cos(X.numpy()))


def test_new_lambdas_with_the_same_code_and_state_reuse_the_trace():
  """The loop idiom: a fresh lambda every step."""
  for _ in range(4):
    tfm.hessian(lambda x: tf.reduce_sum(tf.exp(x)), X)
  assert traces() == 1


def test_a_new_shape_is_a_new_trace():
  tfm.jacobian(tf.math.softplus, X)
  helpers.assert_all_close(tfm.hessian(cubic, tf.ones([2])), 6 * SCALE *
                           np.eye(2))
  helpers.assert_all_close(tfm.hessian(cubic, tf.ones([4])), 6 * SCALE *
                           np.eye(4))
  assert traces() == 2


def test_closure_values_are_part_of_the_key():
  results = []
  for scale in (1., 2., 3.):
    results.append(tfm.hessian(lambda x, s=scale: tf.reduce_sum(s * x * x),
                               X))

    def closed(x, scale=scale):
      return tf.reduce_sum(scale * x * x)
    helpers.assert_all_close(tfm.hessian(closed, X), 2 * scale * np.eye(3))
  for scale, hess in zip((1., 2., 3.), results):
    helpers.assert_all_close(hess, 2 * scale * np.eye(3))


def test_closure_cells_are_read_at_every_call():
  scale = 1.

  def f(x):
    return tf.reduce_sum(scale * x * x)

  first = tfm.hessian(f, X)
  scale = 5.  # pylint: disable=unused-variable
  helpers.assert_all_close(first, 2 * np.eye(3))
  helpers.assert_all_close(tfm.hessian(f, X), 10 * np.eye(3))
  assert traces() == 2


def test_captured_tensors_and_variables_are_not_traced():
  """A trace would keep them alive, and read a captured Tensor as a
  constant even where it is also the argument."""
  tensor, variable = tf.constant(2.), tf.Variable(2.)
  assert _traced.fingerprint(lambda x: x * tensor) is None
  assert _traced.fingerprint(lambda x: x * variable) is None


@pytest.mark.parametrize('api, expected', [
    (lambda f, x: tfm.value_and_gradient(f, x)[1], lambda x: 3 * x * x),
    (lambda f, x: tfe.gradients_function(f)(x)[0], lambda x: 3 * x * x),
    (tfm.jacobian, lambda x: 3 * x * x),
    (lambda f, x: tfm.jvp(f, x, tf.ones([])), lambda x: 3 * x * x),
    (tfm.hessian, lambda x: 6 * x),
    (lambda f, x: tfm.hvp(f, x, tf.ones([])), lambda x: 6 * x),
])
def test_argument_also_read_from_the_closure(api, expected):
  """`x` is the argument and, through the closure, a factor: the gradient
  flows through both, as on a tape."""
  x = tf.constant(2.)
  f = lambda a: a * a * x  # pylint: disable=unnecessary-lambda-assignment
  for _ in range(2):
    helpers.assert_all_close(api(f, x), expected(2.))


def test_the_cache_keeps_no_tensor_of_the_user_alive():
  def run():
    big = tf.ones([1000, 1000])
    tfm.value_and_gradient(lambda x: tf.reduce_sum(x * big), tf.constant(1.))
    tfm.hessian(lambda x: tf.reduce_sum(x * x), tf.ones([3]) * 2.)
    return weakref.ref(big)
  reference = run()
  gc.collect()
  assert reference() is None


def test_rebinding_globals_is_seen(monkeypatch):
  helpers.assert_all_close(tfm.hessian(cubic, X), np.diag(12 * X.numpy()))
  monkeypatch.setitem(globals(), 'SCALE', 5.)
  helpers.assert_all_close(tfm.hessian(cubic, X), np.diag(30 * X.numpy()))


def weighted(x):
  return tf.reduce_sum(WEIGHTS * x * x)


def test_small_numpy_arrays_are_keyed_by_value():
  helpers.assert_all_close(tfm.hessian(weighted, X), np.diag(2 * WEIGHTS))
  WEIGHTS[0] = 10.
  try:
    helpers.assert_all_close(tfm.hessian(weighted, X),
                             np.diag([20., 4., 6.]))
  finally:
    WEIGHTS[0] = 1.


def uses_big(x):
  return tf.reduce_sum(BIG[:3] * x * x)


def test_large_numpy_arrays_are_not_traced():
  assert _traced.fingerprint(uses_big) is None
  helpers.assert_all_close(tfm.hessian(uses_big, X), 2 * np.eye(3))
  BIG[:3] = 4.
  try:
    helpers.assert_all_close(tfm.hessian(uses_big, X), 8 * np.eye(3))
  finally:
    BIG[:3] = 1.


def helper_function(x):
  return SCALE * x * x


def uses_helper(x):
  return tf.reduce_sum(helper_function(x))


def test_globals_of_called_functions_are_part_of_the_key(monkeypatch):
  helpers.assert_all_close(tfm.hessian(uses_helper, X), 4 * np.eye(3))
  monkeypatch.setitem(globals(), 'SCALE', 3.)
  helpers.assert_all_close(tfm.hessian(uses_helper, X), 6 * np.eye(3))
  monkeypatch.setitem(globals(), 'helper_function', lambda x: x ** 3)
  helpers.assert_all_close(tfm.hessian(uses_helper, X),
                           np.diag(6 * X.numpy()))


def test_variables_are_read_at_every_call():
  w = tf.Variable([1., 1., 1.])
  f = lambda x: tf.reduce_sum(w * x * x)  # pylint: disable=unnecessary-lambda-assignment
  helpers.assert_all_close(tfm.hessian(f, X), 2 * np.eye(3))
  w.assign([1., 2., 3.])
  helpers.assert_all_close(tfm.hessian(f, X), np.diag([2., 4., 6.]))


class Model:

  def __init__(self):
    self.scale = 1.

  def loss(self, x):
    return tf.reduce_sum(self.scale * x * x)


def reads_state(x):
  return tf.reduce_sum(STATE['scale'] * x * x)


def logs(x):
  LOG.append(1)
  return tf.reduce_sum(x * x)


def prints(x):
  print('called')
  return tf.reduce_sum(x * x)


def draws(x):
  return tf.reduce_sum(x * x) * np.random.uniform(1., 1.)


def stores_global(x):
  global SCALE  # pylint: disable=global-statement
  SCALE = SCALE  # pylint: disable=self-assigning-variable
  return tf.reduce_sum(x * x)


@pytest.mark.parametrize('f', [Model().loss, reads_state, logs, prints, draws,
                               stores_global], ids=lambda f: f.__name__)
def test_impure_functions_are_not_traced(f):
  assert _traced.fingerprint(f) is None


def test_mutable_state_is_read_at_every_call():
  model = Model()
  helpers.assert_all_close(tfm.hessian(model.loss, X), 2 * np.eye(3))
  model.scale = 4.
  helpers.assert_all_close(tfm.hessian(model.loss, X), 8 * np.eye(3))
  STATE['scale'] = 3.
  try:
    helpers.assert_all_close(tfm.hessian(reads_state, X), 6 * np.eye(3))
  finally:
    STATE['scale'] = 2.


def test_side_effects_happen_at_every_call(capsys):
  for _ in range(3):
    tfm.hessian(logs, X)
    tfm.jacobian(prints, X)
  assert len(LOG) >= 3
  assert capsys.readouterr().out.count('called') >= 3
  LOG.clear()


def test_untraceable_functions_are_differentiated_eagerly():
  def branches(x):
    if x[0] > 0:  # Python control flow on a value: eager only.
      return tf.reduce_sum(x * x)
    return tf.reduce_sum(x ** 3)

  for x in (tf.constant([1., 2.]), tf.constant([-1., 2.])):
    expected = (2 * np.eye(2) if x[0] > 0 else np.diag(6 * x.numpy()))
    helpers.assert_all_close(tfm.hessian(branches, x), expected)


def test_errors_of_f_are_reported_as_eagerly():
  def broken(x):
    return tf.reduce_sum(tf.reshape(x, [7]))
  with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
    tfm.hessian(broken, X)


def test_the_cache_is_bounded():
  for i in range(40):
    tfm.jacobian(lambda x, i=i: x * float(i), tf.ones([1]))
  assert len(_traced._CACHE._entries) <= 32  # pylint: disable=protected-access


def test_threads_share_the_cache():
  errors = []

  def work(scale):
    try:
      for _ in range(5):
        hess = tfm.hessian(lambda x, s=scale: tf.reduce_sum(s * x * x), X)
        np.testing.assert_allclose(hess, 2 * scale * np.eye(3), rtol=1e-6)
    except Exception as error:  # pylint: disable=broad-except
      errors.append(error)

  threads = [threading.Thread(target=work, args=(float(i % 3 + 1),))
             for i in range(8)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert not errors


def test_python_values_in_the_result_stay_python_values():
  """A trace would return them as Tensors: such calls run eagerly."""
  def with_aux(x):
    return tf.reduce_sum(x * x), {'name': 'loss', 'count': 3, 'x2': x * 2}
  for _ in range(2):
    (value, aux), grad = tfm.value_and_gradient(with_aux, X, has_aux=True)
    assert aux['name'] == 'loss' and aux['count'] == 3
    helpers.assert_all_close(aux['x2'], 2 * X.numpy())
    helpers.assert_all_close((value, grad), (np.sum(X.numpy() ** 2),
                                             2 * X.numpy()))


def test_tensor_aux_is_traced():
  def with_aux(x):
    return tf.reduce_sum(x * x), x * 2
  for _ in range(3):
    (_, aux), grad = tfm.value_and_gradient(with_aux, X, has_aux=True)
  helpers.assert_all_close((aux, grad), (2 * X.numpy(), 2 * X.numpy()))
  assert traces() == 1
