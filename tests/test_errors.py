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


@pytest.mark.parametrize(
  'api',
  [
    tfm.value_and_gradient,
    tfm.value_and_gradient_with_auto_expansion,
    tfm.value_and_batch_jacobian,
    tfm.batch_jacobian,
  ],
)
def test_no_arguments(api):
  with pytest.raises(ValueError, match='at least one of `args` or `kwargs`'):
    api(lambda: tf.constant(1.0))


@pytest.mark.parametrize(
  'transform',
  [
    tfe.gradients_function,
    tfe.value_and_gradients_function,
    tfe.make_vjp,
    tfe.implicit_gradients,
    tfe.implicit_value_and_gradients,
  ],
)
def test_eager_non_callable(transform):
  with pytest.raises(TypeError, match=r'`f` must be a callable.*got 3\.0'):
    transform(3.0)


def test_math_non_callable():
  with pytest.raises(
    TypeError, match='value_and_gradient: `f` must be a callable'
  ):
    tfm.value_and_gradient(tf.constant(1.0), 2.0)


def test_has_aux_without_pair():
  with pytest.raises(
    ValueError,
    match=r'has_aux=True .* must return a pair '
    r'`\(y, aux\)`',
  ):
    tfm.value_and_gradient(lambda x: x * x, 2.0, has_aux=True)
  assert no_tape_recording()


@pytest.mark.parametrize(
  'output_gradients, message',
  [
    (
      [tf.constant(1.0), tf.constant(2.0)],  # Two parts for one value.
      '`output_gradients` must have the same structure and shapes',
    ),
    (
      tf.constant([1.0, 2.0, 3.0]),  # Wrong shape.
      r"`output_gradients` has shape \(3,\), but f's value has shape \(2,\)",
    ),
  ],
)
def test_output_gradients_mismatch(output_gradients, message):
  with pytest.raises(ValueError, match=message):
    tfm.value_and_gradient(
      lambda x: x * x,
      tf.constant([1.0, 2.0]),
      output_gradients=output_gradients,
    )
  assert no_tape_recording()


def test_dy_mismatch():
  with pytest.raises(ValueError, match='`dy` must have the same structure'):
    tfe.gradients_function(lambda x: [x, x])(1.0, dy=tf.constant(1.0))


@pytest.mark.parametrize(
  'returned, what',
  [
    (None, 'returns None; did you forget to return a value from returns_it'),
    (3.0, 'returned 3.0'),
    ('text', "returned 'text'"),
    ([1.0], r'returned \[1.0\]'),
  ],
)
def test_f_returning_a_non_tensor(returned, what):
  def returns_it(x):
    del x
    return returned

  for call in (
    lambda: tfm.value_and_gradient(returns_it, 1.0),
    lambda: tfe.gradients_function(returns_it)(1.0),
    lambda: tfe.make_vjp(returns_it)(1.0),
  ):
    with pytest.raises((TypeError, ValueError), match=what):
      call()
    assert no_tape_recording()


def test_f_returning_non_tensor_names_f_in_graph():
  @tf.function
  def graph():
    return tfm.value_and_gradient(lambda x: None, 1.0)

  with pytest.raises(ValueError, match='did you forget to return a value'):
    graph()


def test_mixed_params():
  with pytest.raises(
    ValueError, match='params must be all strings or all integers'
  ):
    tfe.gradients_function(my_function, params=['x', 1])


def test_unknown_param_name_lists_parameters():
  with pytest.raises(
    ValueError,
    match=r"'z', which is not a parameter: "
    r'my_function has parameters \(x, y\)',
  ):
    tfe.gradients_function(my_function, params=['z'])


def test_out_of_range_position():
  g = tfe.gradients_function(my_function, params=[2])
  with pytest.raises(
    ValueError,
    match=r'selects position 2, but the call '
    r'passed 2 positional argument\(s\); my_function has '
    r'parameters \(x, y\)',
  ):
    g(1.0, 2.0)


def test_named_param_not_passed():
  g = tfe.gradients_function(lambda x, y=2.0: x * y, params=['y'])
  with pytest.raises(
    ValueError, match="names 'y', but the call passed no value for it"
  ):
    g(1.0)


def test_exception_in_f_reaches_caller_and_no_tape_is_left():
  class Boom(Exception):
    pass

  def explode(x):
    raise Boom(x)

  for call in (
    lambda: tfm.value_and_gradient(explode, 1.0),
    lambda: tfm.batch_jacobian(explode, tf.ones([1, 1])),
    lambda: tfe.gradients_function(explode)(1.0),
    lambda: tfe.implicit_gradients(explode)(1.0),
  ):
    with pytest.raises(Boom):
      call()
    assert no_tape_recording()
  assert [float(g) for g in tfe.gradients_function(tf.square)(3.0)] == [6.0]


def test_implicit_without_variables():
  with pytest.raises(
    ValueError,
    match=r'^No trainable variables were '
    r'accessed while the function was being computed\. '
    r'\(implicit_gradients: <lambda> read none\.\)',
  ):
    tfe.implicit_gradients(lambda x: x * 2.0)(tf.constant(1.0))
  assert no_tape_recording()


def test_bad_unconnected_gradients():
  with pytest.raises(
    ValueError, match="unconnected_gradients must be 'none', 'zero', 'raise'"
  ):
    tfm.value_and_gradient(tf.square, 1.0, unconnected_gradients='zeros')
  with pytest.raises(ValueError, match="unconnected_gradients must be"):
    tfe.gradients_function(tf.square, unconnected_gradients='nan')


def test_module_without_auto_expansion():
  module = tf.Module()
  module.w = tf.Variable(1.0)
  with pytest.raises(TypeError, match='value_and_gradient_with_auto_expansion'):
    tfm.value_and_gradient(lambda m: m.w * 2.0, module)


def _forgets_to_return(x):
  del x


@pytest.mark.parametrize(
  'call',
  [
    lambda: tfe.gradients_function(_forgets_to_return)(1.0),
    lambda: tfe.value_and_gradients_function(_forgets_to_return)(1.0),
    lambda: tfe.make_vjp(_forgets_to_return)(1.0),
    lambda: tfm.value_and_gradient(_forgets_to_return, 1.0),
  ],
)
def test_returning_none_says_tensorflows_sentence(call):
  """Code matches TensorFlow's message with a case-sensitive regex."""
  with pytest.raises(
    ValueError,
    match=r'Cannot differentiate a function that '
    r'returns None; did you forget to return a value from '
    r'_forgets_to_return\?',
  ):
    call()
  assert no_tape_recording()


def test_implicit_reports_no_variables_before_the_value():
  """As in TensorFlow: `f` also returned a Python number, but read no
  variable, and that is the error."""
  for transform in (tfe.implicit_gradients, tfe.implicit_value_and_gradients):
    with pytest.raises(
      ValueError, match='No trainable variables were accessed'
    ):
      transform(lambda x: x * x)(3.0)
    assert no_tape_recording()


def test_implicit_reports_the_value_when_variables_were_read():
  w = tf.Variable(1.0)
  with pytest.raises(TypeError, match=r'returned 3\.0'):
    tfe.implicit_gradients(lambda: (w.assign_add(0.0), 3.0)[1])()


@pytest.mark.parametrize(
  'api', [tfm.value_and_gradient, tfm.hessian, tfm.jacobian]
)
def test_unpacked_list_that_f_cannot_take_names_the_fix(api):
  with pytest.raises(
    TypeError,
    match=r'single list argument was unpacked '
    r'into 2 positional arguments of <lambda>.*'
    r'pass .tf.constant.*auto_unpack_single_arg=False',
  ) as info:
    api(lambda x: tf.reduce_sum(x**2), [1.0, 2.0])
  assert 'takes 1 positional argument' in str(info.value.__cause__)
  assert no_tape_recording()
  # Both fixes work.
  _, grad = tfm.value_and_gradient(
    lambda x: tf.reduce_sum(x**2), tf.constant([1.0, 2.0])
  )
  assert grad.numpy().tolist() == [2.0, 4.0]
  _, grad = tfm.value_and_gradient(
    lambda xs: xs[0] * xs[1], [1.0, 2.0], auto_unpack_single_arg=False
  )
  assert [float(g) for g in grad] == [2.0, 1.0]


def test_unpacked_tuple_is_named_a_tuple():
  with pytest.raises(TypeError, match='single tuple argument was unpacked'):
    tfm.value_and_gradient(lambda x: x, (1.0, 2.0, 3.0))


def test_type_error_of_f_itself_is_not_rewritten():
  def wrong(x, y):
    raise TypeError(f'mine: {x}, {y}')

  with pytest.raises(TypeError, match='^mine'):
    tfm.value_and_gradient(wrong, [1.0, 2.0])


@pytest.mark.parametrize(
  'call, argument',
  [
    (
      lambda: tfm.value_and_gradient(
        tf.square, 1.0, output_gradients=tf.constant(1.0, tf.float64)
      ),
      '`output_gradients` has dtype float64, but f\'s value has dtype float32',
    ),
    (
      lambda: tfe.gradients_function(tf.square)(
        1.0, dy=tf.constant(1.0, tf.float64)
      ),
      '`dy` has dtype float64, but f\'s value has dtype float32',
    ),
    (
      lambda: tfe.make_vjp(lambda x: [x, x])(1.0)[1](
        [tf.constant(1.0), tf.constant(1, tf.int32)]
      ),
      'part 1 of `dy` has dtype int32, but part 1 of f\'s value has dtype '
      'float32',
    ),
    (
      lambda: tfm.jvp(tf.sin, tf.ones(2), tf.ones(2, tf.float64)),
      '`tangents` has dtype float64, but primals has dtype float32',
    ),
    (
      lambda: tfm.hvp(tf.reduce_sum, tf.ones(2), tf.ones(2, tf.float16)),
      '`tangents` has dtype float16, but primals has dtype float32',
    ),
  ],
)
def test_cotangents_and_tangents_of_the_wrong_dtype(call, argument):
  with pytest.raises(TypeError, match=argument + r'.*tf\.cast'):
    call()
  assert no_tape_recording()


@pytest.mark.parametrize('api', [tfm.hvp, tfm.value_and_hvp, tfm.hessian])
def test_second_order_of_a_non_scalar_function(api):
  args = (tf.ones(3), tf.ones(3)) if 'hvp' in api.__name__ else (tf.ones(3),)
  with pytest.raises(
    TypeError,
    match=r'f must return a scalar to take its '
    r'Hessian.*reduce it first',
  ):
    api(tf.sin, *args)
  assert no_tape_recording()


def test_implicit_of_a_function_returning_none_and_reading_nothing():
  """Both facts are in the message: the variables first (they are what
  implicit_* needs), then TensorFlow's None sentence, which code matches."""
  for transform in (tfe.implicit_gradients, tfe.implicit_value_and_gradients):
    with pytest.raises(ValueError) as info:
      transform(_forgets_to_return)(1.0)
    assert 'No trainable variables were accessed' in str(info.value)
    assert (
      'Cannot differentiate a function that returns None; did you '
      'forget to return a value from _forgets_to_return?'
    ) in str(info.value)
