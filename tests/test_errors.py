"""Misuse gets a clear error naming what was wrong, and leaves no state."""

from __future__ import annotations

import pytest
import tensorflow as tf
from tensorflow.python import pywrap_tfe  # Tests only.

import tfgradtools.eager as tfe
import tfgradtools.math as tfm


def no_tape_recording() -> bool:
  return pywrap_tfe.TFE_Py_TapeSetIsEmpty()


def my_function(x, y):
  return x * y


@pytest.mark.parametrize('api', [tfm.value_and_gradient,
                                 tfm.value_and_gradient_with_auto_expansion,
                                 tfm.value_and_batch_jacobian,
                                 tfm.batch_jacobian])
def test_no_arguments(api):
  with pytest.raises(ValueError, match='at least one of `args` or `kwargs`'):
    api(lambda: tf.constant(1.))


@pytest.mark.parametrize('transform', [
    tfe.gradients_function, tfe.value_and_gradients_function, tfe.make_vjp,
    tfe.implicit_gradients, tfe.implicit_value_and_gradients])
def test_eager_non_callable(transform):
  with pytest.raises(TypeError, match=r'`f` must be a callable.*got 3\.0'):
    transform(3.0)


def test_math_non_callable():
  with pytest.raises(TypeError, match='value_and_gradient: `f` must be a '
                     'callable'):
    tfm.value_and_gradient(tf.constant(1.), 2.)


def test_has_aux_without_pair():
  with pytest.raises(ValueError, match=r'has_aux=True .* must return a pair '
                     r'`\(y, aux\)`'):
    tfm.value_and_gradient(lambda x: x * x, 2., has_aux=True)
  assert no_tape_recording()


@pytest.mark.parametrize('output_gradients', [
    [tf.constant(1.), tf.constant(2.)],   # Two parts for one value.
    tf.constant([1., 2., 3.]),            # Wrong shape.
])
def test_output_gradients_mismatch(output_gradients):
  with pytest.raises(ValueError, match='`output_gradients` must have the '
                     'same structure and shapes'):
    tfm.value_and_gradient(lambda x: x * x, tf.constant([1., 2.]),
                           output_gradients=output_gradients)
  assert no_tape_recording()


def test_dy_mismatch():
  with pytest.raises(ValueError, match='`dy` must have the same structure'):
    tfe.gradients_function(lambda x: [x, x])(1., dy=tf.constant(1.))


@pytest.mark.parametrize('returned, what', [
    (None, 'returns None; did you forget to return a value from '
           'returns_it'),
    (3.0, 'returned 3.0'),
    ('text', "returned 'text'"),
    ([1.0], r'returned \[1.0\]'),
])
def test_f_returning_a_non_tensor(returned, what):
  def returns_it(x):
    del x
    return returned
  for call in (lambda: tfm.value_and_gradient(returns_it, 1.),
               lambda: tfe.gradients_function(returns_it)(1.),
               lambda: tfe.make_vjp(returns_it)(1.)):
    with pytest.raises((TypeError, ValueError), match=what):
      call()
    assert no_tape_recording()


def test_f_returning_non_tensor_names_f_in_graph():
  @tf.function
  def graph():
    return tfm.value_and_gradient(lambda x: None, 1.)
  with pytest.raises(ValueError, match='did you forget to return a value'):
    graph()


def test_mixed_params():
  with pytest.raises(ValueError, match='params must be all strings or all '
                     'integers'):
    tfe.gradients_function(my_function, params=['x', 1])


def test_unknown_param_name_lists_parameters():
  with pytest.raises(ValueError, match=r"'z', which is not a parameter: "
                     r'my_function has parameters \(x, y\)'):
    tfe.gradients_function(my_function, params=['z'])


def test_out_of_range_position():
  g = tfe.gradients_function(my_function, params=[2])
  with pytest.raises(ValueError, match=r'selects position 2, but the call '
                     r'passed 2 positional argument\(s\); my_function has '
                     r'parameters \(x, y\)'):
    g(1., 2.)


def test_named_param_not_passed():
  g = tfe.gradients_function(lambda x, y=2.: x * y, params=['y'])
  with pytest.raises(ValueError, match="names 'y', but the call passed no "
                     'value for it'):
    g(1.)


def test_exception_in_f_reaches_caller_and_no_tape_is_left():
  class Boom(Exception):
    pass

  def explode(x):
    raise Boom(x)

  for call in (lambda: tfm.value_and_gradient(explode, 1.),
               lambda: tfm.batch_jacobian(explode, tf.ones([1, 1])),
               lambda: tfe.gradients_function(explode)(1.),
               lambda: tfe.implicit_gradients(explode)(1.)):
    with pytest.raises(Boom):
      call()
    assert no_tape_recording()
  assert [float(g) for g in tfe.gradients_function(tf.square)(3.)] == [6.]


def test_implicit_without_variables():
  with pytest.raises(ValueError, match='no trainable variables were '
                     'accessed while <lambda>'):
    tfe.implicit_gradients(lambda x: x * 2.)(tf.constant(1.))
  assert no_tape_recording()


def test_bad_unconnected_gradients():
  with pytest.raises(ValueError, match="unconnected_gradients must be "
                     "'none', 'zero'"):
    tfm.value_and_gradient(tf.square, 1., unconnected_gradients='zeros')
  with pytest.raises(ValueError, match="unconnected_gradients must be"):
    tfe.gradients_function(tf.square, unconnected_gradients='nan')


def test_module_without_auto_expansion():
  module = tf.Module()
  module.w = tf.Variable(1.)
  with pytest.raises(TypeError, match='value_and_gradient_with_auto_'
                     'expansion'):
    tfm.value_and_gradient(lambda m: m.w * 2., module)
