"""Everyday idioms from real programs, in every regime.

Tensors created outside the function that differentiates them, weights
passed explicitly as structures, Python ints, ragged tensors, and what a
notebook user sees of the functions the `eager` transformers return.
"""

from __future__ import annotations

import collections
import functools
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow.python.eager import backprop  # The anchor, in tests only.

import helpers
import tfgradtools.eager as tfe
import tfgradtools.math as tfm

X = [0.3, -1.2, 2.0]
Y = [1.5, 0.5, -0.7]


def sin_times(t):
  return tf.reduce_sum(tf.sin(t) * t)


def d_sin_times(t):
  t = np.asarray(t)
  return np.cos(t) * t + np.sin(t)


def d2_sin_times(t):
  t = np.asarray(t)
  return 2 * np.cos(t) - np.sin(t) * t


def product(a, b):
  return tf.reduce_sum(tf.sin(a) * b)


# Each API applied to `sin_times` at `x`, and the closed form of the result.
# `v` is a second vector (a tangent).
CAPTURED = {
  'value_and_gradient': (
    lambda x, v: tfm.value_and_gradient(sin_times, x),
    lambda: (np.sum(np.sin(X) * X), d_sin_times(X)),
  ),
  'auto_expansion': (
    lambda x, v: tfm.value_and_gradient_with_auto_expansion(sin_times, x),
    lambda: (np.sum(np.sin(X) * X), d_sin_times(X)),
  ),
  'gradients_function': (
    lambda x, v: tfe.gradients_function(sin_times)(x),
    lambda: [d_sin_times(X)],
  ),
  'value_and_gradients_function': (
    lambda x, v: tfe.value_and_gradients_function(sin_times)(x),
    lambda: (np.sum(np.sin(X) * X), [d_sin_times(X)]),
  ),
  'make_vjp': (
    lambda x, v: tfe.make_vjp(sin_times)(x)[1](2.0),
    lambda: [2 * d_sin_times(X)],
  ),
  'hessian': (
    lambda x, v: tfm.hessian(sin_times, x),
    lambda: np.diag(d2_sin_times(X)),
  ),
  'hvp': (lambda x, v: tfm.hvp(sin_times, x, v), lambda: d2_sin_times(X) * Y),
  'jvp': (lambda x, v: tfm.jvp(tf.sin, x, v), lambda: np.cos(X) * Y),
  'jacobian': (
    lambda x, v: tfm.jacobian(tf.sin, x),
    lambda: np.diag(np.cos(X)),
  ),
  'batch_jacobian': (
    lambda x, v: tfm.batch_jacobian(tf.sin, x[None]),
    lambda: np.diag(np.cos(X))[None],
  ),
}


@pytest.mark.parametrize('api', sorted(CAPTURED))
def test_sources_created_outside_the_differentiating_function(evaluate, api):
  """A Tensor made before the `tf.function` (captured by it) is a source."""
  compute, expected = CAPTURED[api]

  def make():
    x, v = tf.constant(X), tf.constant(Y)
    return lambda: compute(x, v)

  helpers.assert_all_close(evaluate(make), expected(), rtol=1e-5)


def test_captured_and_own_arguments_mixed(evaluate):
  def make():
    outside = tf.constant(X)

    def body():
      inside = tf.constant(Y) * 1.0
      return (
        tfm.value_and_gradient(product, outside, inside)[1],
        tfe.gradients_function(product)(outside, inside),
        tfe.gradients_function(product)(inside, outside),
      )

    return body

  da, db = np.cos(X) * Y, np.sin(X)
  helpers.assert_all_close(
    evaluate(make), ([da, db], [da, db], [np.cos(Y) * X, np.sin(Y)])
  )


def test_captured_tensor_read_through_the_closure_only(evaluate):
  """tfp.math's rule 1: `f` takes no arguments and closes over `x`."""

  def make():
    x = tf.constant(2.0)
    return lambda: tfm.value_and_gradient(lambda: tf.math.log(x), x)

  helpers.assert_all_close(evaluate(make), (np.log(2.0), 0.5))


@pytest.mark.slow
def test_captured_tensor_in_a_jit_compiled_second_derivative():
  x = tf.constant(X)
  grad_fn = tfe.gradients_function(sin_times)

  @tf.function(jit_compile=True)
  def second():
    return tfe.gradients_function(lambda t: tf.reduce_sum(grad_fn(t)[0]))(x)

  np.testing.assert_allclose(second()[0], d2_sin_times(X), rtol=1e-5)


# --- Structures as parameters of the `eager` transformers. -----------------


def test_keras_weights_passed_explicitly(keras_regime):
  """`model.stateless_call(weights, ...)`: weights are one structured param."""

  def make():
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
      [keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)]
    )
    x = tf.constant(np.linspace(-1.0, 1.0, 6).reshape(2, 3), tf.float32)

    def loss(weights, x):
      return tf.reduce_sum(model.stateless_call(weights, [], x)[0] ** 2)

    def body():
      ours = tfe.gradients_function(loss, params=[0])(
        model.trainable_variables, x
      )[0]
      with tf.GradientTape() as tape:
        value = tf.reduce_sum(model(x) ** 2)
      return ours, tape.gradient(value, model.trainable_variables)

    return body

  ours, expected = helpers.run(keras_regime, make)
  assert len(ours) == 4
  helpers.assert_all_close(ours, expected)


Pair = collections.namedtuple('Pair', ['w', 'b'])


def weighted(params, x):
  """Uses a structure of differently shaped tensors."""
  if isinstance(params, dict):
    w, b = params['w'], params['b']
  else:
    w, b = params[0], params[1]
  return tf.reduce_sum(tf.linalg.matvec(w, x) + b)


@pytest.mark.parametrize('kind', ['list', 'tuple', 'dict', 'namedtuple'])
def test_a_structure_is_one_parameter(evaluate, kind):
  wrap = {
    'list': list,
    'tuple': tuple,
    'dict': lambda p: {'w': p[0], 'b': p[1]},
    'namedtuple': lambda p: Pair(*p),
  }[kind]
  x_value = [1.0, 2.0, 3.0]

  def make():
    params = wrap([tf.ones([2, 3]), tf.constant([0.5, -0.5])])

    def body():
      value, grads = tfe.value_and_gradients_function(weighted)(
        params, tf.constant(x_value)
      )
      return value, grads[0]

    return body

  value, grad = evaluate(make)
  dw, db = np.tile(x_value, (2, 1)), np.ones(2)
  helpers.assert_all_close(value, 12.0)
  expected = wrap([dw, db])
  assert type(grad) is type(expected)  # pylint: disable=unidiomatic-typecheck
  helpers.assert_all_close(tf.nest.flatten(grad), tf.nest.flatten(expected))


def test_same_shaped_tensors_in_a_list_are_not_stacked(evaluate):
  def make():
    parts = [tf.constant(2.0), tf.constant(3.0)]
    return lambda: tfe.gradients_function(lambda ps: ps[0] * ps[1] * ps[1])(
      parts
    )

  helpers.assert_all_close(evaluate(make), [[9.0, 12.0]])


def test_a_list_of_numbers_is_still_one_tensor(evaluate):
  """tf.contrib.eager converted it to one Tensor; old code relies on it."""

  def make():
    return lambda: tfe.gradients_function(lambda v: tf.reduce_sum(v * v))(
      [1.0, 2.0, 3.0]
    )

  grads = evaluate(make)
  helpers.assert_all_close(grads, [[2.0, 4.0, 6.0]])
  anchor = backprop.gradients_function(lambda v: tf.reduce_sum(v * v))(
    [1.0, 2.0, 3.0]
  )
  helpers.assert_all_close(grads, helpers.to_numpy(anchor))


def test_structure_with_variables_and_numbers(evaluate):
  def make():
    w = tf.Variable(3.0)

    def body():
      return tfe.gradients_function(lambda d: d['w'] * d['c'] * d['c'])(
        {'w': w, 'c': 2.0}
      )

    return body

  helpers.assert_all_close(evaluate(make), [{'w': 4.0, 'c': 12.0}])


def test_make_vjp_of_a_structure(evaluate):
  def make():
    params = {'a': tf.constant([1.0, 2.0]), 'b': tf.constant(3.0)}

    def body():
      value, vjp = tfe.make_vjp(lambda p: p['a'] * p['b'])(params)
      return value, vjp(tf.constant([1.0, 10.0]))

    return body

  helpers.assert_all_close(
    evaluate(make), ([3.0, 6.0], [{'a': [3.0, 30.0], 'b': 21.0}])
  )


def test_same_tensor_in_a_structure_and_alone_is_two_sources(evaluate):
  def make():
    one = tf.constant(1.0)
    return lambda: tfe.gradients_function(lambda ps, y: ps[0] * y)([one], one)

  helpers.assert_all_close(evaluate(make), [[1.0], 1.0])


# --- Python numbers. -------------------------------------------------------


def square(x):
  return x * x


def test_python_numbers_convert_as_each_anchor_converts_them(evaluate):
  """eager: as tf.convert_to_tensor (an int is int32, no gradient), like
  TensorFlow 2's own copy; math: tfp.math's float32 rule."""

  def make():
    def body():
      value, grads = tfe.value_and_gradients_function(square)(3)
      _, vjp = tfe.make_vjp(square)(3)
      return (
        tfe.gradients_function(square)(3),
        value,
        grads,
        vjp(),
        tfe.gradients_function(square)(3.0),
        tfe.gradients_function(square, unconnected_gradients='zero')(3),
        tfm.value_and_gradient(square, 3),
      )

    return body

  result = evaluate(make)
  helpers.assert_all_close(
    result, ([None], 9, [None], [None], [6.0], [0], (9.0, 6.0))
  )
  assert result[1].dtype == np.int32 and result[5][0].dtype == np.int32
  assert result[6][0].dtype == np.float32


def power(x, n):
  output = 1.0
  for _ in range(n):
    output = tf.multiply(output, x)
  return output


def test_python_ints_are_counts_as_in_the_autodiff_tutorial(regime, evaluate):
  """`for _ in range(n)` with a selected int: eagerly, and where AutoGraph
  turns the loop into a graph loop. A TF1 graph has no AutoGraph, so there
  the count goes unselected (converted, it would be a symbolic Tensor)."""
  counts_selected = regime != 'tf1_session'

  def make():
    def body():
      unselected = tfe.value_and_gradients_function(power, params=[0])(3.0, 2)
      if not counts_selected:
        return unselected
      return (
        unselected,
        tfe.gradients_function(power)(3.0, 2),
        tfe.make_vjp(power)(3.0, 3)[1](),
      )

    return body

  expected = (9.0, [6.0])
  helpers.assert_all_close(
    evaluate(make),
    (expected, [6.0, None], [27.0, None]) if counts_selected else expected,
  )


def test_python_numbers_agree_with_tensorflows_own_copy():
  for f, args in (
    (square, (3,)),
    (square, (3.0,)),
    (power, (3.0, 2)),
    (lambda x, y: x * y, ([1.0, 2.0], [3.0, 4.0])),
  ):
    ours = tfe.gradients_function(f)(*args)
    theirs = backprop.gradients_function(f)(*args)
    helpers.assert_all_close(helpers.to_numpy(ours), helpers.to_numpy(theirs))
    assert [g is None for g in ours] == [g is None for g in theirs]


def test_integer_tensors_keep_no_gradient(evaluate):
  def make():
    def body():
      return (
        tfe.gradients_function(square)(tf.constant(3)),
        tfe.gradients_function(square, unconnected_gradients='zero')(
          tf.constant(3)
        ),
      )

    return body

  helpers.assert_all_close(evaluate(make), ([None], [0]))


# --- Ragged tensors. -------------------------------------------------------

RAGGED = [[1.0], [2.0, 3.0]]


def ragged_loss(r):
  return tf.reduce_sum(r * r * r)


def _hand_ragged_gradient(r):
  with tf.GradientTape() as tape:
    tape.watch(r)
    value = ragged_loss(r)
  return tape.gradient(value, r)


RAGGED_APIS = {
  'value_and_gradient': lambda r: tfm.value_and_gradient(ragged_loss, r)[1],
  'use_gradient_tape': lambda r: tfm.value_and_gradient(
    ragged_loss, r, use_gradient_tape=True
  )[1],
  'auto_expansion': lambda r: tfm.value_and_gradient_with_auto_expansion(
    ragged_loss, r
  )[1],
  'gradients_function': lambda r: tfe.gradients_function(ragged_loss)(r)[0],
  'value_and_gradients_function': lambda r: tfe.value_and_gradients_function(
    ragged_loss
  )(r)[1][0],
  'make_vjp': lambda r: tfe.make_vjp(ragged_loss)(r)[1]()[0],
}


@pytest.mark.parametrize('api', sorted(RAGGED_APIS))
def test_ragged_sources(evaluate, api):
  """The gradient a hand-written tape gives, ragged like the source."""

  def make():
    r = tf.ragged.constant(RAGGED)

    def body():
      grad = RAGGED_APIS[api](r)
      assert isinstance(grad, tf.RaggedTensor), grad
      return grad.flat_values, tf.identity(grad.row_splits)  # One per replica.

    return body

  flat, splits = evaluate(make)
  expected = _hand_ragged_gradient(tf.ragged.constant(RAGGED))
  helpers.assert_all_close(flat, expected.flat_values)  # 3 r^2
  helpers.assert_all_close(splits, expected.row_splits)
  helpers.assert_all_close(flat, [3.0, 12.0, 27.0])


@pytest.mark.parametrize(
  'api', ['jacobian', 'batch_jacobian', 'hessian', 'jvp', 'hvp']
)
def test_ragged_sources_where_tensorflow_cannot(api):
  r = tf.ragged.constant(RAGGED)
  call = {
    'jacobian': lambda: tfm.jacobian(tf.sin, r),
    'batch_jacobian': lambda: tfm.batch_jacobian(tf.sin, r),
    'hessian': lambda: tfm.hessian(ragged_loss, r),
    'jvp': lambda: tfm.jvp(ragged_loss, r, r),
    'hvp': lambda: tfm.hvp(ragged_loss, r, r),
  }[api]
  with pytest.raises(TypeError, match=r'RaggedTensor.*flat_values'):
    call()


def test_sparse_sources_get_a_clear_error():
  sparse = tf.sparse.from_dense(tf.constant([[1.0, 0.0], [0.0, 2.0]]))
  for call in (
    lambda: tfm.value_and_gradient(tf.sparse.reduce_sum, sparse),
    lambda: tfe.gradients_function(tf.sparse.reduce_sum)(sparse),
  ):
    with pytest.raises(
      TypeError,
      match=r'tf\.SparseTensor: pass its '
      r'`values`',
    ):
      call()


# --- The calling rules around one list argument. --------------------------


def test_a_list_with_a_keyword_argument_is_not_unpacked(evaluate):
  f = lambda xs, y: tf.reduce_sum(tf.stack(xs)) * y  # pylint: disable=unnecessary-lambda-assignment

  def make():
    return lambda: tfm.value_and_gradient(f, [1.0, 2.0], y=3.0)

  ours = evaluate(make)
  anchor = helpers.to_numpy(tfp.math.value_and_gradient(f, [1.0, 2.0], y=3.0))
  helpers.assert_all_close(ours, (9.0, [3.0, 3.0], {'y': 3.0}))
  helpers.assert_all_close(ours, anchor)


# --- What a notebook user sees of a transformed function. ------------------


def loss_of(x, y, scale=1.0):
  """The user's own documentation."""
  return scale * x * y


class Scaled:
  def __call__(self, x):
    return 3.0 * x


@pytest.mark.parametrize(
  'transform,extra',
  [
    (tfe.gradients_function, ['dy']),
    (tfe.value_and_gradients_function, ['dy']),
    (tfe.make_vjp, []),
    (tfe.implicit_gradients, []),
    (tfe.implicit_value_and_gradients, []),
  ],
)
def test_returned_functions_present_themselves(transform, extra):
  g = transform(loss_of)
  assert g.__wrapped__ is loss_of
  assert g.__name__ == 'loss_of'
  assert list(inspect.signature(g).parameters) == ['x', 'y', 'scale'] + extra
  for name in extra:
    assert inspect.signature(g).parameters[name].kind is (
      inspect.Parameter.KEYWORD_ONLY
    )
  assert g.__doc__.startswith('Compute')
  assert 'loss_of' in g.__doc__.splitlines()[0]
  assert g.__doc__.endswith("The user's own documentation.")


def test_docstring_names_the_selected_parameters():
  g = tfe.value_and_gradients_function(loss_of, params=['y'])
  assert 'with respect to parameters `y`' in g.__doc__
  assert 'every positional argument' in tfe.gradients_function(loss_of).__doc__


def test_names_of_partials_callable_objects_and_layers():
  assert (
    tfe.gradients_function(functools.partial(loss_of, y=2.0)).__name__
    == 'loss_of'
  )
  assert tfe.gradients_function(Scaled()).__name__ == 'Scaled'
  layer = keras.layers.Dense(2)
  g = tfe.gradients_function(layer)
  assert g.__name__ == 'Dense' and g.__wrapped__ is layer
  # Nothing copied from the layer (AutoGraph's marker is the library's own).
  assert set(vars(g)) == {'__wrapped__', '__signature__', 'autograph_info__'}
  assert list(inspect.signature(g).parameters)[-1] == 'dy'
  # The transformed functions still work as the objects they wrap.
  assert float(tfe.gradients_function(Scaled())(2.0)[0]) == 3.0


def test_signature_of_a_function_with_var_keyword():
  g = tfe.gradients_function(lambda x, **options: x)
  assert str(inspect.signature(g)) == '(x, *, dy=None, **options)'


def test_public_signatures_show_no_private_names():
  import tfgradtools  # pylint: disable=g-import-not-at-top

  for name in tfgradtools.__all__:
    obj = getattr(tfgradtools, name)
    if inspect.isfunction(obj):
      assert '_args.' not in str(inspect.signature(obj)), name
      assert "'_" not in str(inspect.signature(obj)), name


# --- Name scopes of every op, backward passes included, in a graph. -------

SCOPED = {
  'make_vjp': lambda x: tfe.make_vjp(sin_times)(x)[1](),
  'jacobian': lambda x: tfm.jacobian(tf.sin, x),
  'hessian': lambda x: tfm.hessian(sin_times, x),
  'jvp': lambda x: tfm.jvp(tf.sin, x, x),
  'hvp': lambda x: tfm.hvp(sin_times, x, x),
  'value_and_hvp': lambda x: tfm.value_and_hvp(sin_times, x, x),
  'batch_jacobian': lambda x: tfm.batch_jacobian(tf.sin, x),
}


@pytest.mark.parametrize(
  'api', sorted(SCOPED) + ['implicit_gradients', 'implicit_value_and_gradients']
)
def test_every_op_sits_under_the_name_scope(api):
  w = tf.Variable(X)
  if api.startswith('implicit'):
    transform = getattr(tfe, api)
    # The variables themselves are not returned: reading them is not the call.
    call = lambda x: [
      g
      for g in tf.nest.flatten(  # pylint: disable=unnecessary-lambda-assignment
        transform(lambda: sin_times(w * x))()
      )
      if isinstance(g, tf.Tensor)
    ]
  else:
    call = SCOPED[api]
  shape = [1, 3] if api == 'batch_jacobian' else [3]
  graph = (
    tf.function(call)
    .get_concrete_function(tf.TensorSpec(shape, tf.float32))
    .graph
  )
  # Not created by the call: the function's inputs and outputs.
  created = [
    op
    for op in graph.get_operations()
    if op.type not in ('Placeholder', 'NoOp')
    and not (op.type == 'Identity' and '/' not in op.name)
  ]
  # A tape names its backward ops 'gradient_tape/' + the forward op's scope.
  outside = [
    op.name
    for op in created
    if not op.name.startswith((api + '/', f'gradient_tape/{api}/'))
  ]
  assert created and not outside, outside
