"""Memory and state: no growth over many calls, no tape left behind, and
composition with a user's own tape."""

from __future__ import annotations

import gc

import pytest
import tensorflow as tf
from tensorflow.python import pywrap_tfe  # Tests only: the tape stack.

import helpers
import tfgradtools.eager as tfe
import tfgradtools.math as tfm

CALLS = 10_000


def f(x, y):
  return x * x * x * y - x * y * y


def live_tapes() -> int:
  return sum(isinstance(o, tf.GradientTape) for o in gc.get_objects())


@pytest.mark.slow
@pytest.mark.parametrize('api', ['math', 'eager'])
def test_resident_memory_does_not_grow(api):
  # A fresh process, so that what earlier tests left in the allocator does
  # not count.
  call = 'tfm.value_and_gradient(f, x, y)' if api == 'math' else 'grad_fn(x, y)'
  (growth_mib,) = helpers.run_in_fresh_process(f"""
      import gc
      import psutil
      def f(x, y):
        return x * x * x * y - x * y * y
      x, y = tf.constant(2.), tf.constant(3.)
      grad_fn = tfe.value_and_gradients_function(f)
      for _ in range(2000):
        {call}
      gc.collect()
      before = psutil.Process().memory_info().rss
      for _ in range({CALLS}):
        {call}
      gc.collect()
      result = [(psutil.Process().memory_info().rss - before) / 2**20]
  """)
  assert growth_mib < 5, f'{growth_mib:.2f} MiB over {CALLS} calls'


@pytest.mark.slow
def test_no_tape_outlives_its_call():
  gc.collect()
  before = live_tapes()
  tfm.value_and_gradient(f, 2.0, 3.0)
  tfe.gradients_function(f)(2.0, 3.0)
  tfe.implicit_gradients(lambda: tf.Variable(1.0) * 2.0)
  gc.collect()
  assert live_tapes() == before
  assert pywrap_tfe.TFE_Py_TapeSetIsEmpty()


@pytest.mark.slow
def test_make_vjp_tape_is_released_with_its_vjp():
  gc.collect()
  before = live_tapes()
  _, vjp = tfe.make_vjp(f)(2.0, 3.0)
  assert live_tapes() == before + 1
  helpers.assert_all_close(vjp(), [27.0, -4.0])
  helpers.assert_all_close(vjp(), [27.0, -4.0])  # Persistent.
  del vjp
  gc.collect()
  assert live_tapes() == before


def test_exception_in_f_leaves_nothing_recording():
  def boom(x):
    raise RuntimeError('inside f')

  for call in (
    lambda: tfm.value_and_gradient(boom, 1.0),
    lambda: tfm.hvp(boom, 1.0, 1.0),
    lambda: tfm.hessian(boom, 1.0),
    lambda: tfe.make_vjp(boom)(1.0),
  ):
    with pytest.raises(RuntimeError, match='inside f'):
      call()
    assert pywrap_tfe.TFE_Py_TapeSetIsEmpty()
  helpers.assert_all_close(
    tfm.value_and_gradient(f, 2.0, 3.0), (6.0, [27.0, -4.0])
  )


def test_a_users_tape_sees_through_our_calls(regime):
  def make():
    def body():
      x, y = tf.constant(2.0), tf.constant(3.0)
      with tf.GradientTape(persistent=True) as outer:
        outer.watch([x, y])
        value, (dx, _) = tfm.value_and_gradient(f, x, y)
        (dx_eager, _) = tfe.gradients_function(f)(x, y)
      return (
        outer.gradient(value, [x, y]),
        outer.gradient(dx, x),
        outer.gradient(dx_eager, [x, y]),
      )

    return body

  # d/dx (3x^2 y - y^2) = 6xy = 36; d/dy = 3x^2 - 2y = 6.
  helpers.assert_all_close(
    helpers.run(regime, make), ([27.0, -4.0], 36.0, [36.0, 6.0])
  )
