"""tfgradtools.eager: tf.contrib.eager's examples and rules, in every regime."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import backprop  # The anchor, in tests only.

import helpers
import tfgradtools
import tfgradtools.eager as tfe


def f(x, y):
  return x * x * x * y - x * y * y


def run_value_and_gradients_example(tfe):  # pylint: disable=redefined-outer-name
  """tf.contrib.eager's `value_and_gradients_function` example, as written."""
  val_grads_fn = tfe.value_and_gradients_function(f)

  x = 2.0
  y = 3.0

  f_val, (x_grad, y_grad) = val_grads_fn(x, y)
  assert f_val.numpy() == (2**3) * 3 - 2 * (3**2)
  assert x_grad.numpy() == 3 * (2**2) * 3 - 3**2
  assert y_grad.numpy() == (2**3) - 2 * 2 * 3

  val_ygrad_fn = tfe.value_and_gradients_function(f, params=[1])

  f_val, (y_grad,) = val_ygrad_fn(x, y)
  assert f_val.numpy() == (2**3) * 3 - 2 * (3**2)
  assert y_grad.numpy() == (2**3) - 2 * 2 * 3


def run_gradients_example(tfe):  # pylint: disable=redefined-outer-name
  """tf.contrib.eager's `gradients_function` example, as written."""
  grad_fn = tfe.gradients_function(f)

  x = 2.0
  y = 3.0

  x_grad, y_grad = grad_fn(x, y)
  assert x_grad.numpy() == 3 * (2**2) * 3 - 3**2
  assert y_grad.numpy() == (2**3) - 2 * 2 * 3

  gradgrad_fn = tfe.gradients_function(lambda x, y: grad_fn(x, y)[0])

  x_gradgrad = gradgrad_fn(x, y)[0]
  assert x_gradgrad.numpy() == 6 * 2 * 3

  ygrad_fn = tfe.gradients_function(f, params=[1])

  (y_grad,) = ygrad_fn(x, y)
  assert y_grad.numpy() == (2**3) - 2 * 2 * 3


@pytest.mark.parametrize(
  'example', [run_value_and_gradients_example, run_gradients_example]
)
def test_examples_verbatim(example):
  example(tfe)
  example(tfgradtools)


def test_value_and_gradients_example_in_every_regime(evaluate):
  def make():
    def body():
      val_grads_fn = tfe.value_and_gradients_function(f)
      val_ygrad_fn = tfe.value_and_gradients_function(f, params=[1])
      return val_grads_fn(2.0, 3.0), val_ygrad_fn(2.0, 3.0)

    return body

  helpers.assert_all_close(evaluate(make), ((6.0, [27.0, -4.0]), (6.0, [-4.0])))


def test_seed_004_in_every_regime(evaluate):
  def make():
    def body():
      grad_fn = tfe.gradients_function(f)
      gradgrad_fn = tfe.gradients_function(lambda x, y: grad_fn(x, y)[0])
      ygrad_fn = tfe.gradients_function(f, params=[1])
      return grad_fn(2.0, 3.0), gradgrad_fn(2.0, 3.0), ygrad_fn(2.0, 3.0)

    return body

  helpers.assert_all_close(evaluate(make), ([27.0, -4.0], [36.0, 6.0], [-4.0]))


def test_third_order(evaluate):
  def make():
    def body():
      d1 = tfe.gradients_function(tf.sin)
      d2 = tfe.gradients_function(lambda x: d1(x)[0])
      d3 = tfe.gradients_function(lambda x: d2(x)[0])
      return d1(0.5), d2(0.5), d3(0.5)

    return body

  helpers.assert_all_close(
    evaluate(make), ([np.cos(0.5)], [-np.sin(0.5)], [-np.cos(0.5)])
  )


def test_second_order_with_tape_in_graph(regime):
  def make():
    def body():
      grad_fn = tfe.gradients_function(f, use_gradient_tape=True)
      return tfe.gradients_function(
        lambda x, y: grad_fn(x, y)[0], use_gradient_tape=True
      )(2.0, 3.0)

    return body

  helpers.assert_all_close(helpers.run(regime, make), [36.0, 6.0])


@pytest.mark.parametrize('params', [['y'], [1], ('y',), 'y'])
def test_params_by_name_or_position(params):
  assert [float(g) for g in tfe.gradients_function(f, params)(2.0, 3.0)] == [
    -4.0
  ]


def test_params_order_is_kept():
  grads = tfe.gradients_function(f, params=['y', 'x'])(2.0, 3.0)
  helpers.assert_all_close(grads, [-4.0, 27.0])


class Scaler:
  def __init__(self, scale):
    self.scale = scale

  def __call__(self, x, y):
    return self.scale * x * y

  def method(self, x, y):
    return self.scale * x * y


@pytest.mark.parametrize(
  'callable_kind',
  ['lambda', 'bound_method', 'callable_object', 'partial', 'tf_function'],
)
def test_any_callable_with_named_params(callable_kind):
  fn = {
    'lambda': lambda x, y: 2.0 * x * y,
    'bound_method': Scaler(2.0).method,
    'callable_object': Scaler(2.0),
    'partial': functools.partial(lambda s, x, y: s * x * y, 2.0),
    'tf_function': tf.function(lambda x, y: 2.0 * x * y),
  }[callable_kind]
  grads = tfe.gradients_function(fn, params=['y'])(3.0, 5.0)
  helpers.assert_all_close(grads, [6.0])
  helpers.assert_all_close(tfe.gradients_function(fn)(3.0, 5.0), [10.0, 6.0])


def test_tf_ops_such_as_sin():
  helpers.assert_all_close(tfe.gradients_function(tf.sin)(0.0), [1.0])
  helpers.assert_all_close(
    tfe.gradients_function(tf.sin, params=['x'])(0.0), [1.0]
  )


def test_keras_layer_by_name(keras_regime):
  import keras  # pylint: disable=g-import-not-at-top

  def make():
    layer = keras.layers.Dense(1, kernel_initializer='ones')
    layer.build((None, 2))
    return lambda: tfe.gradients_function(layer, params=['inputs'])(
      tf.constant([[1.0, 2.0]])
    )

  helpers.assert_all_close(helpers.run(keras_regime, make), [[[1.0, 1.0]]])


def test_varargs_function():
  g = tfe.gradients_function(lambda *xs: xs[0] * xs[1] * xs[2])
  helpers.assert_all_close(g(2.0, 3.0, 4.0), [12.0, 8.0, 6.0])


def test_same_tensor_twice_is_two_sources(evaluate):
  def make():
    def body():
      one = tf.constant(1.0)
      return tfe.gradients_function(lambda x, y: x * y)(one, one)

    return body

  helpers.assert_all_close(evaluate(make), [1.0, 1.0])


def test_dy_weights_the_value(evaluate):
  def make():
    def body():
      g = tfe.gradients_function(lambda x: [x * x, 3.0 * x])
      return g(2.0, dy=[tf.constant(10.0), tf.constant(100.0)])

    return body

  helpers.assert_all_close(evaluate(make), [340.0])


def test_structured_value_is_summed(evaluate):
  make = lambda: (
    lambda: tfe.value_and_gradients_function(lambda x: (x * x, {'a': 2.0 * x}))(
      3.0
    )
  )
  helpers.assert_all_close(evaluate(make), ((9.0, {'a': 6.0}), [8.0]))


def test_keyword_arguments_are_forwarded_not_differentiated(evaluate):
  make = lambda: lambda: tfe.value_and_gradients_function(f)(2.0, y=3.0)
  helpers.assert_all_close(evaluate(make), (6.0, [27.0]))


def test_keyword_arguments_named_in_params_are_differentiated(evaluate):
  make = lambda: (
    lambda: tfe.gradients_function(f, params=['x', 'y'])(2.0, y=3.0)
  )
  helpers.assert_all_close(evaluate(make), [27.0, -4.0])


def test_integer_and_string_arguments(evaluate):
  def make():
    def body():
      g = lambda x, n, s: x * tf.cast(n, tf.float32)
      return (
        tfe.gradients_function(g)(2.0, tf.constant(3), tf.constant('s')),
        tfe.gradients_function(g, unconnected_gradients='zero')(
          2.0, tf.constant(3), tf.constant('s')
        ),
      )

    return body

  helpers.assert_all_close(evaluate(make), ([3.0, None, None], [3.0, 0, None]))


def test_unconnected_zero(evaluate):
  make = lambda: (
    lambda: tfe.gradients_function(
      lambda x, y: x * 2.0, unconnected_gradients='zero'
    )(1.0, 2.0)
  )
  helpers.assert_all_close(evaluate(make), [2.0, 0.0])


def test_make_vjp_is_persistent(evaluate):
  def make():
    def body():
      result, vjp = tfe.make_vjp(lambda x, y: x * y)(2.0, 3.0)
      return result, vjp(), vjp(tf.constant(2.0))

    return body

  helpers.assert_all_close(evaluate(make), (6.0, [3.0, 2.0], [6.0, 4.0]))


def test_make_vjp_params(evaluate):
  make = lambda: lambda: tfe.make_vjp(f, params=['y'])(2.0, 3.0)[1]()
  helpers.assert_all_close(evaluate(make), [-4.0])


def test_make_vjp_not_persistent_in_eager():
  _, vjp = tfe.make_vjp(lambda x: x * x, persistent=False)(3.0)
  helpers.assert_all_close(vjp(), [6.0])
  with pytest.raises(RuntimeError):
    vjp()


def test_implicit_gradients(evaluate):
  def make():
    w = tf.Variable(2.0)
    b = tf.Variable(1.0)
    frozen = tf.Variable(5.0, trainable=False)

    def body():
      value, grads_and_vars = tfe.implicit_value_and_gradients(
        lambda x: w * x + b * frozen
      )(3.0)
      assert [v for _, v in grads_and_vars] == [w, b]
      return value, [g for g, _ in grads_and_vars]

    return body

  helpers.assert_all_close(evaluate(make), (11.0, [3.0, 5.0]))


def test_implicit_gradients_order_and_identity():
  variables = [tf.Variable(float(i)) for i in range(5)]
  loss = lambda: tf.add_n([v * v for v in reversed(variables)])
  pairs = tfe.implicit_gradients(loss)()
  assert [v for _, v in pairs] == variables
  helpers.assert_all_close([g for g, _ in pairs], [0.0, 2.0, 4.0, 6.0, 8.0])


def test_implicit_gradients_keras_layer_and_optimizer(keras_regime):
  import keras  # pylint: disable=g-import-not-at-top

  def make():
    layer = keras.layers.Dense(1, kernel_initializer='ones')
    layer.build((None, 2))
    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    optimizer.build(layer.trainable_variables)
    x = tf.constant([[1.0, 2.0]])

    def body():
      grads_and_vars = tfe.implicit_gradients(lambda: tf.reduce_sum(layer(x)))()
      assert [v for _, v in grads_and_vars] == layer.trainable_variables
      assert all(isinstance(v, keras.Variable) for _, v in grads_and_vars)
      optimizer.apply_gradients(grads_and_vars)
      return [tf.identity(v.value) for v in layer.trainable_variables]

    return body

  # Replicas' gradients are summed before they are applied.
  n = helpers.NUM_REPLICAS if keras_regime.startswith('distribute') else 1
  helpers.assert_all_close(
    helpers.run(keras_regime, make), [[[1.0 - 0.5 * n], [1.0 - n]], [-0.5 * n]]
  )


class Trainer:
  def __init__(self, model, data):
    self.model = model
    self.data = data

  def loss(self):
    return tf.reduce_sum(self.model(self.data))


def test_implicit_finds_keras_variables_behind_attributes():
  import keras  # pylint: disable=g-import-not-at-top

  model = keras.Sequential([keras.layers.Dense(2), keras.layers.Dense(1)])
  model.build((None, 3))
  trainer = Trainer(model, tf.ones([4, 3]))
  pairs = tfe.implicit_gradients(trainer.loss)()
  assert [v for _, v in pairs] == model.trainable_variables
  assert all(isinstance(v, keras.Variable) for _, v in pairs)


def test_functions_keep_their_names():
  for transform in (
    tfe.gradients_function,
    tfe.value_and_gradients_function,
    tfe.make_vjp,
    tfe.implicit_gradients,
    tfe.implicit_value_and_gradients,
  ):
    wrapped = transform(f)
    assert wrapped.__name__ == 'f' and wrapped.__wrapped__ is f


# Differential tests against TensorFlow's own implementation, eager only.

FUNCTIONS = [
  (f, (2.0, 3.0)),
  (lambda x, y: tf.reduce_sum(tf.sin(x) * y), ([0.1, 0.2], [3.0, 4.0])),
  (lambda x, y, z: [x * y, tf.exp(z)], (1.5, -2.0, 0.3)),
  (lambda x, y: {'a': x @ y, 'b': tf.tanh(y)}, ([[1.0, 2.0]], [[3.0], [4.0]])),
]


@pytest.mark.parametrize('fn, args', FUNCTIONS)
@pytest.mark.parametrize('params', [None, [0], [1]])
def test_matches_tensorflow_gradients_function(fn, args, params):
  args = [tf.constant(a) for a in args]
  helpers.assert_all_close(
    tfe.gradients_function(fn, params)(*args),
    backprop.gradients_function(fn, params)(*args),
  )
  helpers.assert_all_close(
    tfe.value_and_gradients_function(fn, params)(*args),
    backprop.val_and_grad_function(fn, params)(*args),
  )


@pytest.mark.parametrize('fn, args', FUNCTIONS)
def test_matches_tensorflow_make_vjp_with_dy(fn, args):
  args = [tf.constant(a) for a in args]
  value, _ = backprop.make_vjp(fn)(*args)
  dy = tf.nest.map_structure(
    lambda v: tf.random.stateless_normal(v.shape, [1, 2]), value
  )
  ours_value, ours_vjp = tfe.make_vjp(fn)(*args)
  theirs_value, theirs_vjp = backprop.make_vjp(fn)(*args)
  helpers.assert_all_close(ours_value, theirs_value)
  helpers.assert_all_close(ours_vjp(dy), theirs_vjp(dy))
  helpers.assert_all_close(ours_vjp(), theirs_vjp())


def test_matches_tensorflow_implicit():
  w = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
  b = tf.Variable([0.5, -0.5])
  loss = lambda x: tf.reduce_sum(tf.tanh(x @ w + b))
  x = tf.constant([[0.1, 0.2]])
  ours = tfe.implicit_value_and_gradients(loss)(x)
  theirs = backprop.implicit_val_and_grad(loss)(x)
  helpers.assert_all_close(ours[0], theirs[0])
  assert [v for _, v in ours[1]] == [v for _, v in theirs[1]]
  helpers.assert_all_close([g for g, _ in ours[1]], [g for g, _ in theirs[1]])
  helpers.assert_all_close(
    [g for g, _ in tfe.implicit_gradients(loss)(x)],
    [g for g, _ in backprop.implicit_grad(loss)(x)],
  )


def test_matches_finite_differences():
  x = tf.constant([0.4, -0.7], tf.float64)
  y = tf.constant([1.3, 0.2], tf.float64)
  g = lambda x, y: tf.reduce_sum(tf.sin(x * y) + x**2 * y)
  grads = tfe.gradients_function(g)(x, y)
  _, numerical = tf.test.compute_gradient(g, [x, y])
  for grad, jac in zip(grads, numerical, strict=True):
    np.testing.assert_allclose(grad, np.asarray(jac)[0], rtol=1e-5)


def test_name_scope():
  @tf.function
  def default(x):
    return tfe.gradients_function(tf.square)(x)

  @tf.function
  def named(x):
    return tfe.gradients_function(tf.square, name='my_grad')(x)

  spec = tf.TensorSpec([], tf.float32)
  for fn, scope in ((default, 'gradients_function/'), (named, 'my_grad/')):
    ops = fn.get_concrete_function(spec).graph.get_operations()
    created = [
      op for op in ops if op.type not in ('Placeholder', 'Identity', 'NoOp')
    ]
    assert created and all(op.name.startswith(scope) for op in created), [
      op.name for op in created
    ]
