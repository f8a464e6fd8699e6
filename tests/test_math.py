"""tfgradtools.math: tfp.math's calling rules and examples, in every regime."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools
import tfgradtools.math as tfm

LOG2, LOG3 = np.log(2.0), np.log(3.0)


def seed_f(x, y):
  return x * x * x * y - x * y * y


def f_grads(x, y):
  return [3 * x**2 * y - y**2, x**3 - 2 * x * y]


# Calling rule 1: an argless `f`.
def test_argless_f(evaluate):
  def make():
    def body():
      x = tf.constant(2.0)
      return tfm.value_and_gradient(lambda: tf.math.log(x), x)

    return body

  helpers.assert_all_close(evaluate(make), (LOG2, 0.5))


# Calling rule 2: packed arguments.
def test_packed_arguments(evaluate):
  make = lambda: (
    lambda: tfm.value_and_gradient(lambda x, y: x * tf.math.log(y), [2.0, 3.0])
  )
  helpers.assert_all_close(evaluate(make), (2.0 * LOG3, [LOG3, 2.0 / 3]))


# Calling rule 3: the default rule.
def test_single_list_argument_not_unpacked(evaluate):
  make = lambda: (
    lambda: tfm.value_and_gradient(
      tf.math.log, [1.0, 2.0, 3.0], auto_unpack_single_arg=False
    )
  )
  helpers.assert_all_close(
    evaluate(make), ([0.0, LOG2, LOG3], [1.0, 0.5, 1.0 / 3])
  )


# The old tfp.math signature, xs positional or as the only keyword.
@pytest.mark.parametrize('call', ['positional', 'keyword'])
def test_legacy_xs_signature(evaluate, call):
  def make():
    def body():
      xs = [tf.constant(2.0), tf.constant(3.0)]
      if call == 'keyword':
        return tfm.value_and_gradient(seed_f, xs=xs)
      return tfm.value_and_gradient(seed_f, xs)

    return body

  helpers.assert_all_close(evaluate(make), (6.0, f_grads(2.0, 3.0)))


def test_legacy_xs_single_tensor(evaluate):
  make = lambda: lambda: tfm.value_and_gradient(tf.square, xs=3.0)
  helpers.assert_all_close(evaluate(make), (9.0, 6.0))


def test_parameter_named_xs_is_a_keyword_argument():
  y, dydx = tfm.value_and_gradient(lambda xs: xs * 2.0, xs=3.0)
  helpers.assert_all_close((y, dydx), (6.0, {'xs': 2.0}))


def test_several_arguments_give_a_list(evaluate):
  make = lambda: lambda: tfm.value_and_gradient(seed_f, 2.0, 3.0)
  y, dydx = evaluate(make)
  assert isinstance(dydx, list)
  helpers.assert_all_close((y, dydx), (6.0, f_grads(2.0, 3.0)))


def test_packed_tuple_gives_a_tuple():
  _, dydx = tfm.value_and_gradient(seed_f, (2.0, 3.0))
  assert isinstance(dydx, tuple)
  _, dydx = tfm.value_and_gradient(seed_f, [2.0, 3.0])
  assert isinstance(dydx, list)


def test_keyword_arguments_give_a_dict(evaluate):
  make = lambda: lambda: tfm.value_and_gradient(seed_f, x=2.0, y=3.0)
  y, dydx = evaluate(make)
  assert isinstance(dydx, dict)
  helpers.assert_all_close(
    (y, dydx), (6.0, dict(zip('xy', f_grads(2.0, 3.0), strict=True)))
  )


def test_args_and_kwargs_give_both(evaluate):
  make = lambda: lambda: tfm.value_and_gradient(seed_f, 2.0, y=3.0)
  y, d_args, d_kwargs = evaluate(make)
  helpers.assert_all_close((y, d_args, d_kwargs), (6.0, 27.0, {'y': -4.0}))


def test_nested_structures(evaluate):
  point = collections.namedtuple('Point', 'a b')

  def f(p, d):
    return p.a * d['w'][0] + p.b * d['w'][1]

  make = lambda: (
    lambda: tfm.value_and_gradient(f, point(2.0, 3.0), {'w': [5.0, 7.0]})
  )
  y, (dp, dd) = evaluate(make)
  helpers.assert_all_close(y, 31.0)
  helpers.assert_all_close(dp, point(5.0, 7.0))
  helpers.assert_all_close(dd, {'w': [2.0, 3.0]})


def test_python_numbers_become_float32():
  y, dydx = tfm.value_and_gradient(lambda x: x * x, 3)
  assert y.dtype == tf.float32 and dydx.dtype == tf.float32
  assert float(dydx) == 6.0


def test_float64_is_kept(evaluate):
  def make():
    return lambda: tfm.value_and_gradient(
      tf.exp, tf.constant([0.0, 1.0], tf.float64)
    )

  y, dydx = evaluate(make)
  assert dydx.dtype == np.float64
  helpers.assert_all_close(dydx, np.exp([0.0, 1.0]))


def test_structured_value_sums_its_parts(evaluate):
  make = lambda: (
    lambda: tfm.value_and_gradient(lambda x: [x * x, {'c': 3.0 * x}], 2.0)
  )
  y, dydx = evaluate(make)
  helpers.assert_all_close((y, dydx), ([4.0, {'c': 6.0}], 7.0))


def test_output_gradients_weight_the_parts(evaluate):
  def make():
    return lambda: tfm.value_and_gradient(
      lambda x: [x * x, 3.0 * x],
      2.0,
      output_gradients=[tf.constant(10.0), tf.constant(100.0)],
    )

  helpers.assert_all_close(evaluate(make)[1], 10.0 * 4.0 + 100.0 * 3.0)


def test_output_gradients_vector(evaluate):
  def make():
    return lambda: tfm.value_and_gradient(
      lambda x: x * x,
      tf.constant([1.0, 2.0]),
      output_gradients=tf.constant([3.0, 5.0]),
    )

  helpers.assert_all_close(evaluate(make)[1], [6.0, 20.0])


def test_has_aux(evaluate):
  def make():
    return lambda: tfm.value_and_gradient(
      lambda x: (x * x, {'double': 2.0 * x}), 3.0, has_aux=True
    )

  (y, aux), dydx = evaluate(make)
  helpers.assert_all_close((y, aux, dydx), (9.0, {'double': 6.0}, 6.0))


def test_same_tensor_twice_is_one_source(evaluate):
  def make():
    def body():
      x = tf.constant(3.0)
      return tfm.value_and_gradient(lambda a, b: a * b, x, x)

    return body

  helpers.assert_all_close(evaluate(make), (9.0, [6.0, 6.0]))


def test_variables_are_differentiated_as_variables(evaluate):
  def make():
    v = tf.Variable(3.0)
    return lambda: tfm.value_and_gradient(lambda v, x: v * v * x, v, 2.0)

  helpers.assert_all_close(evaluate(make), (18.0, [12.0, 9.0]))


def test_keras_variable(keras_regime):
  import keras  # pylint: disable=g-import-not-at-top

  def make():
    v = keras.Variable(3.0)
    return lambda: tfm.value_and_gradient(lambda v: v * v, v)

  helpers.assert_all_close(helpers.run(keras_regime, make), (9.0, 6.0))


def test_unconnected_gradients(evaluate):
  def make():
    v = tf.Variable(1.0)
    return lambda: (
      tfm.value_and_gradient(lambda x, y, v: x * 2.0, 1.0, 2.0, v),
      tfm.value_and_gradient(
        lambda x, y, v: x * 2.0, 1.0, 2.0, v, unconnected_gradients='zero'
      ),
      tfm.value_and_gradient(
        lambda x, y, v: x * 2.0,
        1.0,
        2.0,
        v,
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
      ),
    )

  none, zero, enum = evaluate(make)
  helpers.assert_all_close(none, (2.0, [2.0, None, None]))
  helpers.assert_all_close(zero, (2.0, [2.0, 0.0, 0.0]))
  helpers.assert_all_close(enum, zero)


def test_unconnected_zero_for_keras_variable(keras_regime):
  import keras  # pylint: disable=g-import-not-at-top

  def make():
    v = keras.Variable([1.0, 2.0])
    return lambda: tfm.value_and_gradient(
      lambda v, x: x * 2.0, v, 1.0, unconnected_gradients='zero'
    )

  helpers.assert_all_close(
    helpers.run(keras_regime, make), (2.0, [[0.0, 0.0], 2.0])
  )


def test_integer_and_string_arguments_get_no_gradient(evaluate):
  def make():
    def body():
      n = tf.constant(3)
      s = tf.constant('label')
      f = lambda x, n, s: x * tf.cast(n, tf.float32)
      return (
        tfm.value_and_gradient(f, 2.0, n, s),
        tfm.value_and_gradient(f, 2.0, n, s, unconnected_gradients='zero'),
      )

    return body

  none, zero = evaluate(make)
  helpers.assert_all_close(none, (6.0, [3.0, None, None]))
  helpers.assert_all_close(zero, (6.0, [3.0, 0, None]))


def test_gradient_tape_in_graph(regime):
  def make():
    return lambda: tfm.value_and_gradient(
      seed_f, 2.0, 3.0, use_gradient_tape=True
    )

  helpers.assert_all_close(helpers.run(regime, make), (6.0, f_grads(2.0, 3.0)))


def test_matches_finite_differences():
  x = tf.constant([0.3, -1.2, 2.0], tf.float64)
  f = lambda x: tf.reduce_sum(tf.sin(x) * tf.exp(x / 3.0))
  _, dydx = tfm.value_and_gradient(f, x)
  theoretical, numerical = tf.test.compute_gradient(f, [x])
  np.testing.assert_allclose(dydx, np.asarray(numerical[0])[0], rtol=1e-5)
  np.testing.assert_allclose(dydx, np.asarray(theoretical[0])[0])


def test_name_scope_on_graph_ops():
  @tf.function
  def default(x):
    return tfm.value_and_gradient(tf.square, x)

  @tf.function
  def named(x):
    return tfm.value_and_gradient(tf.square, x, name='loss_grad')

  spec = tf.TensorSpec([], tf.float32)
  for fn, scope in ((default, 'value_and_gradient/'), (named, 'loss_grad/')):
    ops = fn.get_concrete_function(spec).graph.get_operations()
    created = [
      op for op in ops if op.type not in ('Placeholder', 'Identity', 'NoOp')
    ]
    assert created and all(op.name.startswith(scope) for op in created), [
      op.name for op in created
    ]


def _op_types(fn, *specs):
  return [
    op.type for op in fn.get_concrete_function(*specs).graph.get_operations()
  ]


def test_engine_in_graph_is_tf_gradients():
  spec = tf.TensorSpec([], tf.float32)
  symbolic = tf.function(lambda x: tfm.value_and_gradient(tf.square, x))
  taped = tf.function(
    lambda x: tfm.value_and_gradient(tf.square, x, use_gradient_tape=True)
  )
  symbolic_ops = symbolic.get_concrete_function(spec).graph.get_operations()
  taped_ops = taped.get_concrete_function(spec).graph.get_operations()
  # tf.gradients names its ops '.../gradients/...'; a tape does not.
  assert any('/gradients/' in op.name for op in symbolic_ops)
  assert not any('/gradients/' in op.name for op in taped_ops)


def test_auto_expansion_module(evaluate):
  def make():
    module = tf.Module()
    module.w = tf.Variable(2.0)
    module.b = tf.Variable(1.0, trainable=False)

    def f(m, x):
      return m.w * x + m.b

    return lambda: tfm.value_and_gradient_with_auto_expansion(f, module, 3.0)

  helpers.assert_all_close(evaluate(make), (7.0, [[3.0], 2.0]))


def test_auto_expansion_keras_layer(keras_regime):
  import keras  # pylint: disable=g-import-not-at-top

  def make():
    layer = keras.layers.Dense(1, kernel_initializer='ones')
    layer.build((None, 2))
    x = np.array([[1.0, 2.0]], np.float32)
    return lambda: tfm.value_and_gradient_with_auto_expansion(
      lambda layer: tf.reduce_sum(layer(x)), layer
    )

  y, (d_kernel, d_bias) = helpers.run(keras_regime, make)
  helpers.assert_all_close((y, d_kernel, d_bias), (3.0, [[1.0], [2.0]], [1.0]))


def test_auto_expansion_tfp_distribution():
  tfp = pytest.importorskip('tensorflow_probability')
  tfd = tfp.distributions
  q = tfd.Normal(tf.Variable(1.0), tf.Variable(1.0, trainable=False))
  r = tfd.Normal(0.0, tf.Variable(1.0))
  y, dydx = tfm.value_and_gradient_with_auto_expansion(tfd.kl_divergence, q, r)
  helpers.assert_all_close((y, dydx), (0.5, [[1.0], [-1.0]]))


def test_auto_expansion_tfp_transformed_variable():
  tfp = pytest.importorskip('tensorflow_probability')
  from tensorflow_probability.python.math import gradient  # pylint: disable=g-import-not-at-top

  scale = tfp.util.TransformedVariable(2.0, bijector=tfp.bijectors.Exp())
  f = lambda t, x: t * x
  ours = tfm.value_and_gradient_with_auto_expansion(f, scale, 3.0)
  helpers.assert_all_close(ours, (6.0, [[6.0], 2.0]))  # d(e^u x)/du = e^u x.
  helpers.assert_all_close(
    ours, gradient.value_and_gradient_with_auto_expansion(f, scale, 3.0)
  )
  with pytest.raises(TypeError, match='value_and_gradient_with_auto_expansion'):
    tfm.value_and_gradient(f, scale, 3.0)


def test_batch_jacobian(evaluate):
  def make():
    def body():
      x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
      return tfm.value_and_batch_jacobian(
        lambda x: tf.stack([x[:, 0] * x[:, 1], x[:, 0] ** 2], 1), x
      )

    return body

  y, jac = evaluate(make)
  helpers.assert_all_close(y, [[2.0, 1.0], [12.0, 9.0]])
  helpers.assert_all_close(
    jac, [[[2.0, 1.0], [2.0, 0.0]], [[4.0, 3.0], [6.0, 0.0]]]
  )


def test_batch_jacobian_several_args_and_aux(evaluate):
  def make():
    def body():
      x = tf.constant([[1.0, 2.0]])
      w = tf.constant([[3.0, 4.0]])
      return tfm.batch_jacobian(
        lambda x, w: (x * w, x + 1.0), x, w, has_aux=True
      )

    return body

  jac, aux = evaluate(make)
  helpers.assert_all_close(aux, [[2.0, 3.0]])
  helpers.assert_all_close(
    jac, [[[[3.0, 0.0], [0.0, 4.0]]], [[[1.0, 0.0], [0.0, 2.0]]]]
  )


def test_batch_jacobian_falls_back_to_while_loop(monkeypatch):
  calls = []
  original = tf.GradientTape.batch_jacobian

  def pfor_cannot_vectorise(self, target, source, **kwargs):
    calls.append(kwargs.get('experimental_use_pfor', True))
    if calls[-1]:
      raise ValueError('pfor cannot vectorise this op')
    return original(self, target, source, **kwargs)

  monkeypatch.setattr(tf.GradientTape, 'batch_jacobian', pfor_cannot_vectorise)
  # In a graph: eagerly, a Jacobian this small is a loop of backward passes.
  jac = tf.function(lambda x: tfm.batch_jacobian(lambda x: x * x, x))(
    tf.constant([[1.0, 2.0]])
  )
  assert calls == [True, False]
  helpers.assert_all_close(jac, [[[2.0, 0.0], [0.0, 4.0]]])


def test_top_level_reexports():
  assert tfgradtools.value_and_gradient is tfm.value_and_gradient
  assert tfgradtools.batch_jacobian is tfm.batch_jacobian


# Differential tests against tfp.math (tfp-nightly).

tfp = pytest.importorskip('tensorflow_probability')

ANCHOR_CASES = [
  # (f, args, kwargs)
  (lambda x: x * x, (3.0,), {}),
  (seed_f, ([2.0, 3.0],), {}),
  (seed_f, (2.0,), {'y': 3.0}),
  (seed_f, (), {'x': 2.0, 'y': 3.0}),
  (
    lambda x, y: tf.reduce_sum(tf.sin(x) * y),
    (np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0])),
    {},
  ),
  (
    lambda p: p['a'] * tf.reduce_prod(p['b']),
    ({'a': 2.0, 'b': [3.0, 4.0]},),
    {},
  ),
  (lambda x: [x**2, tf.exp(x)], (np.array([0.5, 1.5]),), {}),
  (tf.math.log, ([1.0, 2.0, 3.0],), {'auto_unpack_single_arg': False}),
]


@pytest.mark.parametrize('dtype', [tf.float32, tf.float64])
@pytest.mark.parametrize('f, args, kwargs', ANCHOR_CASES)
def test_matches_tfp(f, args, kwargs, dtype):
  cast = lambda x: (
    tf.cast(x, dtype) if isinstance(x, (float, np.ndarray)) else x
  )
  args, kwargs = tf.nest.map_structure(cast, (args, kwargs))
  ours = tfm.value_and_gradient(f, *args, **kwargs)
  theirs = tfp.math.value_and_gradient(f, *args, **kwargs)
  helpers.assert_all_close(ours, theirs)


@pytest.mark.parametrize('f, args, kwargs', ANCHOR_CASES)
def test_matches_tfp_in_graph(f, args, kwargs):
  ours = tf.function(lambda: tfm.value_and_gradient(f, *args, **kwargs))()
  theirs = tf.function(
    lambda: tfp.math.value_and_gradient(f, *args, **kwargs)
  )()
  helpers.assert_all_close(ours, theirs)


def test_matches_tfp_output_gradients_and_aux():
  f = lambda x: ([x * x, tf.sin(x)], {'aux': x + 1.0})
  og = [tf.constant([2.0, 3.0]), tf.constant([5.0, 7.0])]
  x = tf.constant([0.3, 0.9])
  helpers.assert_all_close(
    tfm.value_and_gradient(f, x, has_aux=True, output_gradients=og),
    tfp.math.value_and_gradient(f, x, has_aux=True, output_gradients=og),
  )


def test_matches_tfp_variables():
  v = tf.Variable([1.0, 2.0])
  f = lambda v, x: tf.reduce_sum(v * v * x)
  helpers.assert_all_close(
    tfm.value_and_gradient(f, v, 3.0), tfp.math.value_and_gradient(f, v, 3.0)
  )


@pytest.mark.slow
def test_matches_tfp_batch_jacobian():
  f = lambda x, w: tf.tanh(x * w) + x**2
  x = tf.constant([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
  w = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
  # tfp.math exports only part of its gradient module.
  from tensorflow_probability.python.math import gradient  # pylint: disable=g-import-not-at-top

  helpers.assert_all_close(
    tfm.value_and_batch_jacobian(f, x, w),
    gradient.value_and_batch_jacobian(f, x, w),
  )
  helpers.assert_all_close(
    tfm.batch_jacobian(f, [x, w]), gradient.batch_jacobian(f, [x, w])
  )
