"""Every public function in a process with eager execution disabled."""

from __future__ import annotations

import numpy as np
import pytest

import helpers

# A TensorFlow process of its own.
pytestmark = pytest.mark.slow

# Each line computes one result in the process's default graph; the whole
# list is evaluated by one Session.
CASES = {
  'value_and_gradient': (
    'tfm.value_and_gradient(lambda x, y: x * tf.math.log(y), [2., 3.])',
    [2.0 * np.log(3.0), np.log(3.0), 2.0 / 3],
  ),
  'value_and_gradient_legacy_xs': (
    'tfm.value_and_gradient(lambda x, y: x * y, xs=[2., 3.])',
    [6.0, 3.0, 2.0],
  ),
  'value_and_gradient_tape': (
    'tfm.value_and_gradient(tf.square, 3., use_gradient_tape=True)',
    [9.0, 6.0],
  ),
  'value_and_gradient_variable_zero': (
    'tfm.value_and_gradient(lambda v, x: x * 2., tf.Variable(1.), 3., '
    "unconnected_gradients='zero')",
    [6.0, 0.0, 2.0],
  ),
  'value_and_gradient_with_auto_expansion': (
    'tfm.value_and_gradient_with_auto_expansion('
    'lambda m, x: m.w * x, module, 3.)',
    [6.0, 3.0, 2.0],
  ),
  'value_and_batch_jacobian': (
    'tfm.value_and_batch_jacobian(tf.square, tf.constant([[1., 2.]]))',
    [1.0, 4.0, 2.0, 0.0, 0.0, 4.0],
  ),
  'batch_jacobian': (
    'tfm.batch_jacobian(tf.sin, tf.zeros([1, 2]))',
    [1.0, 0.0, 0.0, 1.0],
  ),
  'gradients_function': ('tfe.gradients_function(f)(2., 3.)', [27.0, -4.0]),
  'second_order': (
    'tfe.gradients_function(lambda x, y: '
    'tfe.gradients_function(f)(x, y)[0])(2., 3.)',
    [36.0, 6.0],
  ),
  'value_and_gradients_function': (
    'tfe.value_and_gradients_function(f, params=[1])(2., 3.)',
    [6.0, -4.0],
  ),
  'make_vjp': ('tfe.make_vjp(f)(2., 3.)[1](2.)', [54.0, -8.0]),
  'implicit_gradients': (
    '[g for g, _ in tfe.implicit_gradients(lambda: w * w)()]',
    [6.0],
  ),
  'value_and_jvp': ('tfm.value_and_jvp(f, [2., 3.], [1., 0.])', [6.0, 27.0]),
  'jvp': ('tfm.jvp(f, [2., 3.], [0., 1.])', [-4.0]),
  'value_and_hvp': (
    'tfm.value_and_hvp(f, [2., 3.], [1., 0.])',
    [6.0, 36.0, 6.0],
  ),
  'hvp': ('tfm.hvp(f, [2., 3.], [0., 1.])', [6.0, -4.0]),
  'value_and_jacobian': (
    'tfm.value_and_jacobian(lambda x: x * x, tf.constant([1., 2.]))',
    [1.0, 4.0, 2.0, 0.0, 0.0, 4.0],
  ),
  'jacobian': ('tfm.jacobian(tf.sin, tf.zeros([2]))', [1.0, 0.0, 0.0, 1.0]),
  'value_and_hessian': (
    'tfm.value_and_hessian(f, 2., 3.)',
    [6.0, 36.0, 6.0, 6.0, -4.0],
  ),
  'hessian': ('tfm.hessian(f, [2., 3.])', [36.0, 6.0, 6.0, -4.0]),
  'implicit_value_and_gradients': (
    'tfe.implicit_value_and_gradients(lambda x: w * x)(2.)[0]',
    [6.0],
  ),
  # Per example i, (v·x_i)²/2 with v = [1, 2] and x the identity: losses
  # [1/2, 2], gradients (v·x_i) x_i = [1, 0] and [0, 2], norms [1, 2]; the
  # second clipped to norm 1.5, the mean of both is [1/2, 3/4].
  'value_and_per_example_gradients': (
    'tfm.value_and_per_example_gradients(pe, v, eye)',
    [0.5, 2.0, 1.0, 0.0, 0.0, 2.0],
  ),
  'per_example_gradients': (
    'tfm.per_example_gradients(pe, v, eye)',
    [1.0, 0.0, 0.0, 2.0],
  ),
  'value_and_per_example_gradient_norms': (
    'tfm.value_and_per_example_gradient_norms(pe, v, eye)',
    [0.5, 2.0, 1.0, 2.0],
  ),
  'per_example_gradient_norms': (
    'tfm.per_example_gradient_norms(pe, v, eye)',
    [1.0, 2.0],
  ),
  'value_and_clipped_gradients': (
    '(lambda r: (r[0], [g for g, _ in r[1]]))('
    'tfm.value_and_clipped_gradients(pe, v, eye, l2_norm_clip=1.5))',
    [0.5, 2.0, 0.5, 0.75],
  ),
  'clipped_gradients': (
    '[g for g, _ in tfm.clipped_gradients(pe, v, eye, l2_norm_clip=1.5)]',
    [0.5, 0.75],
  ),
  'explain_gradients': (
    '(lambda r: [r.value, *r.gradients])(tfm.explain_gradients('
    'lambda x, y: x * tf.math.log(y), [2., 3.]))',
    [2.0 * np.log(3.0), np.log(3.0), 2.0 / 3],
  ),
  'flat_objective': (
    'tfm.flat_objective(lambda u: tf.reduce_sum(u ** 3), v)'
    '.value_and_gradient(tf.constant([1., 2.]))',
    [9.0, 3.0, 12.0],
  ),
}


def test_every_function_without_eager_execution():
  lines = '\n'.join(
    f'      results[{name!r}] = {code}' for name, (code, _) in CASES.items()
  )
  got = helpers.run_without_eager(f'''
      def f(x, y):
        return x * x * x * y - x * y * y
      w = tf.Variable(3.)
      module = tf.Module()
      module.w = tf.Variable(2.)
      def pe(u, x):
        return 0.5 * tf.reduce_sum(u * x, axis=-1) ** 2
      v = tf.Variable([1., 2.])
      eye = tf.eye(2)
      results = {{}}
{lines}
      with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        values = session.run(results)
      result = {{name: np.concatenate([np.ravel(v) for v in
                                      tf.nest.flatten(value)]).tolist()
                for name, value in values.items()}}
  ''')
  assert set(got) == set(CASES)
  for name, (_, expected) in CASES.items():
    np.testing.assert_allclose(got[name], expected, rtol=1e-6, err_msg=name)
