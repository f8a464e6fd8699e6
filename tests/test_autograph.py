"""AutoGraph: `f` is converted where hand-written code would have it, and
the library itself is traced as written.

Inside a `tf.function` (AutoGraph on), a loss with Python control flow on
Tensors works through every API, as it does in hand-written tape code; with
AutoGraph off, and in TF1 graphs, it fails as hand-written code fails. None
of the library's own functions is converted (that cost seconds on the first
trace of every process).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.autograph.impl import api as autograph_api  # Tests only.

import helpers
import tfgradtools.eager as tfe
import tfgradtools.math as tfm


def branchy(x):
  """Python control flow on a Tensor: AutoGraph makes it a `tf.cond`."""
  if tf.reduce_sum(x) > 0.0:
    return tf.reduce_sum(x**3)
  return tf.reduce_sum(tf.sin(x))


def per_example_branchy(params, x):
  y = tf.reduce_sum(params * x, axis=-1)
  if tf.reduce_sum(x) > 0.0:
    y = y * y
  return y


W = tf.Variable([1.0, -1.0])


def reads_w():
  return branchy(W)


# Each API on `branchy` (or its per-example form) at `x`.
CALLS = {
  'value_and_gradient': lambda x: tfm.value_and_gradient(branchy, x),
  'auto_expansion': lambda x: tfm.value_and_gradient_with_auto_expansion(
    branchy, x
  ),
  'gradients_function': lambda x: tfe.gradients_function(branchy)(x),
  'make_vjp': lambda x: tfe.make_vjp(branchy)(x)[1](),
  'implicit_gradients': lambda x: [
    g for g, _ in tfe.implicit_gradients(reads_w)()
  ],
  'jacobian': lambda x: tfm.jacobian(branchy, x),
  'hessian': lambda x: tfm.hessian(branchy, x),
  'jvp': lambda x: tfm.jvp(branchy, x, tf.ones_like(x)),
  'hvp': lambda x: tfm.hvp(branchy, x, tf.ones_like(x)),
  'per_example_gradients': lambda x: tfm.per_example_gradients(
    per_example_branchy, tf.constant([1.0, 2.0]), tf.stack([x, -x])
  ),
  'flat_objective': lambda x: tfm.flat_objective(branchy, x).value_and_gradient(
    x
  ),
}


@pytest.mark.slow  # Runs the XLA and replica regimes itself.
@pytest.mark.parametrize('sign', [1.0, -1.0], ids=['then', 'else'])
@pytest.mark.parametrize('name', sorted(CALLS))
def test_python_control_flow_in_f_works_in_tf_function(name, sign):
  # Eagerly a Python `if` is plain Python; every regime that traces with
  # AutoGraph on (replicas' functions included) must agree with it.
  x = tf.constant([sign * 1.0, sign * 2.0])
  eager = helpers.to_numpy(CALLS[name](x))
  for regime in ('function', 'jit', 'distribute'):
    helpers.assert_all_close(
      helpers.run(regime, lambda: lambda: CALLS[name](x)), eager
    )


@pytest.mark.parametrize(
  'regime', helpers.regime_params(['eager', 'function', 'jit', 'distribute'])
)
def test_control_flow_in_f_against_closed_forms(regime):
  x = np.array([1.0, 2.0], np.float32)
  for sign, value, gradient in (
    (1.0, np.sum(x**3), 3.0 * x**2),  # then: sum(x³)
    (-1.0, np.sum(np.sin(-x)), np.cos(-x)),
  ):  # else: sum(sin x)
    got = helpers.run(
      regime,
      lambda s=sign: (
        lambda: tfm.value_and_gradient(branchy, tf.constant(s * x))
      ),
    )
    helpers.assert_all_close(got, (value, gradient))


def test_eager_per_example_graph_converts_f_as_vectorized_map_does():
  # More than 16 examples are vectorised in a graph traced for the call;
  # like `tf.vectorized_map` (and `tf.function`'s default), it converts `f`.
  params = tf.constant([1.0, 2.0])
  xs = tf.random.stateless_normal([40, 2], seed=[1, 2])
  grads = tfm.per_example_gradients(
    per_example_branchy, params, xs, single_example=True
  )
  expected = []
  for x in xs:
    with tf.GradientTape() as tape:
      tape.watch(params)
      loss = per_example_branchy(params, x)
    expected.append(tape.gradient(loss, params))
  helpers.assert_all_close(grads.numpy(), np.stack(expected))


@pytest.mark.parametrize(
  'name',
  ['value_and_gradient', 'gradients_function', 'hvp', 'per_example_gradients'],
)
def test_without_autograph_f_fails_as_hand_written_code_does(name):
  def hand_written():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = branchy(x)
    return tape.gradient(y, x)

  for build in (hand_written, lambda: CALLS[name](tf.constant([1.0, 2.0]))):
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError):
      tf.function(build, autograph=False)()
    with (
      tf.Graph().as_default(),
      pytest.raises(tf.errors.OperatorNotAllowedInGraphError),
    ):
      build()


@pytest.mark.slow
def test_the_library_itself_is_not_converted():
  model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
  objective = tfm.flat_objective(
    lambda m: tf.reduce_sum(m(tf.ones([1, 2]))), model
  )

  @tf.function
  def step(x):
    return (
      [CALLS[name](x) for name in sorted(CALLS)],
      objective.value_and_gradient(tf.ones([3])),
    )

  cache = autograph_api._TRANSPILER._cache._cache  # pylint: disable=protected-access
  cache.clear()  # What this trace converts, not what other tests did.
  step.get_concrete_function(tf.TensorSpec([2]))
  converted = {
    code.co_filename for code in cache.keys() if hasattr(code, 'co_filename')
  }
  assert not [name for name in converted if '/tfgradtools/' in name]
  assert any(name.endswith('test_autograph.py') for name in converted)
  assert np.isfinite(step(tf.constant([1.0, 2.0]))[1][0].numpy())
