"""flat_objective: structured parameters as one vector, for scipy.optimize
and tfp.optimizer."""

from __future__ import annotations

import collections

import keras
import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
import tfgradtools
import tfgradtools.math as tfm

RNG = np.random.default_rng(0)
FEATURES = RNG.normal(size=[60, 3]).astype(np.float32)
LABELS = (FEATURES @ np.array([1.5, -2.0, 0.5]) + 0.3 > 0).astype(np.float32)


def logistic_loss(params):
  """Mean logistic loss with an L2 penalty: strictly convex."""
  dtype = params['w'].dtype
  logits = (
    tf.linalg.matvec(tf.cast(FEATURES, dtype), params['w'][:, 0])
    + params['b'][0]
  )
  return tf.reduce_mean(
    tf.nn.sigmoid_cross_entropy_with_logits(
      labels=tf.cast(LABELS, dtype), logits=logits
    )
  ) + 0.01 * (tf.reduce_sum(params['w'] ** 2) + tf.reduce_sum(params['b'] ** 2))


def initial_params(dtype=tf.float32):
  return {'w': tf.zeros([3, 1], dtype), 'b': tf.zeros([1], dtype)}


def test_round_trip_keeps_structure_shapes_and_dtypes():
  Pair = collections.namedtuple('Pair', ['a', 'b'])
  params = {
    'z': [tf.ones([2, 3]), tf.constant(2.0, tf.float64)],
    'a': Pair(tf.zeros([1]), tf.fill([2, 2], 0.5)),
  }
  objective = tfm.flat_objective(lambda p: tf.constant(0.0), params)
  assert objective.dtype == tf.float64 and objective.size == 12
  x = objective.initial_position
  assert x.dtype == tf.float64 and x.shape == (12,)
  back = objective.unflatten(x)
  assert isinstance(back['a'], Pair)
  for got, want in zip(
    tf.nest.flatten(back), tf.nest.flatten(params), strict=True
  ):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(objective.flatten(back), x)


def test_float32_parameters_give_a_float32_vector():
  objective = tfm.flat_objective(logistic_loss, initial_params())
  assert objective.dtype == tf.float32
  assert objective.numpy_initial_position.dtype == np.float64


@pytest.mark.slow
def test_value_and_gradient_equal_the_structured_ones(evaluate):
  def make():
    params = {
      'w': tf.constant([[0.5], [-1.0], [2.0]]),
      'b': tf.constant([0.25]),
    }

    def body():
      objective = tfm.flat_objective(logistic_loss, params)
      value, flat = objective.value_and_gradient(objective.initial_position)
      expected_value, structured = tfm.value_and_gradient(
        logistic_loss, params, auto_unpack_single_arg=False
      )
      hvp = objective.hvp(objective.initial_position, tf.ones([objective.size]))
      structured_hvp = tfm.hvp(
        logistic_loss,
        params,
        tf.nest.map_structure(tf.ones_like, params),
        auto_unpack_single_arg=False,
      )
      return (
        value,
        flat,
        expected_value,
        objective.flatten(structured),
        hvp,
        objective.flatten(structured_hvp),
      )

    return body

  value, flat, expected_value, expected, hvp, expected_hvp = evaluate(make)
  helpers.assert_all_close((value, flat), (expected_value, expected))
  helpers.assert_all_close(hvp, expected_hvp)


def test_gradient_against_finite_differences():
  objective = tfm.flat_objective(
    logistic_loss,
    {
      'w': tf.constant([[0.5], [-1.0], [2.0]], tf.float64),
      'b': tf.constant([0.25], tf.float64),
    },
  )
  x = objective.initial_position
  _, numerical = tf.test.compute_gradient(
    lambda x: objective.value_and_gradient(x)[0], [x]
  )
  np.testing.assert_allclose(
    objective.value_and_gradient(x)[1],
    np.asarray(numerical[0])[0],
    rtol=1e-4,
    atol=1e-6,
  )


@pytest.mark.slow
def test_variables_are_assigned_and_read(evaluate):
  def make():
    w = tf.Variable([[0.0], [0.0], [0.0]])
    b = tf.Variable([0.0])
    loss = lambda: logistic_loss({'w': w, 'b': b})  # pylint: disable=unnecessary-lambda-assignment
    objective = tfm.flat_objective(loss, [w, b])

    def body():
      x = tf.constant([0.5, -1.0, 2.0, 0.25])
      value, flat = objective.value_and_gradient(x)
      # A TF1 graph orders the reads only through a dependency.
      with tf.control_dependencies([value, flat]):
        return value, flat, tf.identity(w), tf.identity(b)

    return body

  value, flat, w, b = evaluate(make)
  params = {'w': tf.constant([[0.5], [-1.0], [2.0]]), 'b': tf.constant([0.25])}
  expected_value, expected = tfm.value_and_gradient(
    logistic_loss, params, auto_unpack_single_arg=False
  )
  helpers.assert_all_close(
    (value, flat),
    (expected_value, np.concatenate([expected['w'][:, 0], expected['b']])),
  )
  helpers.assert_all_close((w, b), ([[0.5], [-1.0], [2.0]], [0.25]))


def make_model():
  keras.utils.set_random_seed(0)
  return keras.Sequential(
    [keras.Input((3,)), keras.layers.Dense(4, 'tanh'), keras.layers.Dense(1)]
  )


def model_loss(model):
  logits = model(FEATURES)[:, 0]
  return tf.reduce_mean(
    tf.nn.sigmoid_cross_entropy_with_logits(labels=LABELS, logits=logits)
  )


@pytest.mark.slow
def test_keras_model_gradient_and_write_back(keras_regime):
  def make():
    model = make_model()
    objective = tfm.flat_objective(model_loss, model)

    def body():
      x = objective.initial_position * 0.5
      value, flat = objective.value_and_gradient(x)
      with tf.GradientTape() as tape:
        expected = model_loss(model)  # Reads the halved weights.
      grads = tape.gradient(expected, model.trainable_variables)
      return value, flat, expected, objective.flatten(grads)

    return body

  value, flat, expected_value, expected = helpers.run(keras_regime, make)
  helpers.assert_all_close((value, flat), (expected_value, expected))


def test_assign_writes_keras_weights():
  model = make_model()
  objective = tfm.flat_objective(model_loss, model)
  x = np.arange(objective.size, dtype=np.float64) / 100.0
  objective.assign(x)
  np.testing.assert_allclose(
    np.concatenate([v.numpy().ravel() for v in model.trainable_variables]),
    x,
    rtol=1e-6,
  )


def _reference_optimum():
  objective = tfm.flat_objective(logistic_loss, initial_params(tf.float64))
  result = scipy.optimize.minimize(
    objective.numpy_value_and_gradient,
    objective.numpy_initial_position,
    jac=True,
    method='L-BFGS-B',
    options={'gtol': 1e-10, 'ftol': 1e-14},
  )
  return result.x, result.fun


@pytest.mark.slow
@pytest.mark.parametrize(
  'method, dtype',
  [
    ('L-BFGS-B', tf.float32),
    ('L-BFGS-B', tf.float64),
    ('BFGS', tf.float64),
    ('CG', tf.float64),
    ('trust-krylov', tf.float64),
    ('Newton-CG', tf.float64),
  ],
)
def test_scipy_converges(method, dtype):
  objective = tfm.flat_objective(logistic_loss, initial_params(dtype))
  hessp = (
    objective.numpy_hvp if method in ('trust-krylov', 'Newton-CG') else None
  )
  result = scipy.optimize.minimize(
    objective.numpy_value_and_gradient,
    objective.numpy_initial_position,
    jac=True,
    hessp=hessp,
    method=method,
  )
  x_star, f_star = _reference_optimum()
  assert result.success, result.message
  np.testing.assert_allclose(result.fun, f_star, rtol=1e-5)
  np.testing.assert_allclose(result.x, x_star, atol=2e-3)
  _, gradient = objective.numpy_value_and_gradient(result.x)
  assert np.linalg.norm(gradient) < 1e-4


@pytest.mark.slow
def test_numpy_forms_trace_once():
  objective = tfm.flat_objective(logistic_loss, initial_params())
  x = objective.numpy_initial_position
  for i in range(5):
    objective.numpy_value_and_gradient(x + i)
    objective.numpy_hvp(x + i, x + 1.0)
  assert (
    objective._numpy_value_and_gradient.experimental_get_tracing_count(  # pylint: disable=protected-access
    )
    == 1
  )
  assert objective._numpy_hvp.experimental_get_tracing_count() == 1  # pylint: disable=protected-access


@pytest.mark.parametrize(
  'minimize, in_function',
  [
    (tfp.optimizer.lbfgs_minimize, False),
    (tfp.optimizer.bfgs_minimize, False),
    (tfp.optimizer.lbfgs_minimize, True),
  ],
)
@pytest.mark.slow
def test_tfp_optimizers_converge(minimize, in_function):
  params = {'w': tf.zeros([3, 1], tf.float64), 'b': tf.zeros([1], tf.float64)}
  objective = tfm.flat_objective(logistic_loss, params)

  def run():
    return minimize(
      objective.value_and_gradient, objective.initial_position, tolerance=1e-8
    )

  result = (tf.function(run) if in_function else run)()
  x_star, _ = _reference_optimum()
  assert bool(result.converged)
  np.testing.assert_allclose(result.position, x_star, atol=2e-3)


def test_flat_path_adds_one_split_and_one_concat():
  """Deterministic cost: the traced graph is value_and_gradient's plus one
  split, one concat, and reshapes (no copies)."""
  params = initial_params()
  objective = tfm.flat_objective(logistic_loss, params)
  spec = tf.TensorSpec([objective.size], tf.float32)
  flat_ops = (
    tf.function(objective.value_and_gradient)
    .get_concrete_function(spec)
    .graph.get_operations()
  )
  structured = (
    tf.function(
      lambda p: tfm.value_and_gradient(
        logistic_loss, p, auto_unpack_single_arg=False
      )
    )
    .get_concrete_function(
      tf.nest.map_structure(tf.TensorSpec.from_tensor, params)
    )
    .graph.get_operations()
  )
  extra = collections.Counter(op.type for op in flat_ops)
  extra.subtract(collections.Counter(op.type for op in structured))
  extra = {k: v for k, v in extra.items() if v}
  assert extra.pop('SplitV') == 1 and extra.pop('ConcatV2') == 1
  # Fewer inputs (one vector, not two parts): a negative count.
  assert all(extra[k] < 0 for k in ('Placeholder', 'Identity') if k in extra)
  assert set(extra) <= {'Reshape', 'Const', 'Placeholder', 'Identity'}, extra


@pytest.mark.parametrize(
  'params, error, message',
  [
    ([], ValueError, 'holds nothing to optimize'),
    ([tf.constant([1, 2])], TypeError, 'part 0 of `params` has dtype int32'),
    (
      [tf.Variable(1.0), tf.constant(1.0)],
      TypeError,
      'mixes variables and Tensors',
    ),
  ],
)
def test_bad_parameters(params, error, message):
  with pytest.raises(error, match=message):
    tfm.flat_objective(lambda p: tf.constant(0.0), params)


def test_wrong_length_vector():
  objective = tfm.flat_objective(logistic_loss, initial_params())
  with pytest.raises(
    ValueError,
    match=r'must have shape \(4,\), one entry '
    r'per parameter, but has shape \(3,\)',
  ):
    objective.value_and_gradient(tf.zeros([3]))


def test_tensors_need_f_to_take_them():
  with pytest.raises(TypeError, match=r'`f` must take them as its argument'):
    tfm.flat_objective(lambda: tf.constant(0.0), [tf.ones([2])])


def test_tensor_parameters_cannot_be_assigned():
  objective = tfm.flat_objective(logistic_loss, initial_params())
  with pytest.raises(TypeError, match='Use `unflatten'):
    objective.assign(objective.initial_position)


def test_reexported():
  assert tfgradtools.flat_objective is tfm.flat_objective
  assert tfgradtools.FlatObjective is tfm.FlatObjective
