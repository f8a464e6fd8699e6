"""`unconnected_gradients='raise'` on every public function, in every regime.

Each call differentiates `x`, which is connected, and `y`, which reaches the
value only through `tf.argmax` on the line of `F` (or of its siblings): the
error must name `ArgMax` at that line, and nothing else must change.
"""

from __future__ import annotations

import pytest
import tensorflow as tf

import helpers
import tfgradtools
import tfgradtools.eager as tfe
import tfgradtools.math as tfm

RAISE = {'unconnected_gradients': 'raise'}


def _float(t):
  return tf.cast(t, tf.float32)


F = lambda x, y: tf.reduce_sum(x * x) + tf.cast(tf.argmax(y), tf.float32)  # pylint: disable=unnecessary-lambda-assignment
FV = lambda x, y: x * x + tf.cast(tf.argmax(y), tf.float32)  # pylint: disable=unnecessary-lambda-assignment
FB = lambda x, y: x * x + tf.cast(tf.argmax(y, axis=1), tf.float32)[:, None]  # pylint: disable=unnecessary-lambda-assignment
FJ = lambda x, y: [x * x, tf.cast(tf.argmax(y), tf.float32)]  # pylint: disable=unnecessary-lambda-assignment
LOSS = lambda p, xb: tf.reduce_sum(xb * p[0], -1) + _float(tf.argmax(p[1]))  # pylint: disable=unnecessary-lambda-assignment


def vectors():
  return tf.constant([1.0, 2.0, 3.0]), tf.constant([0.5, 3.0, 1.0])


def batches():
  return tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), tf.constant(
    [[0.5, 3.0, 1.0], [2.0, 1.0, 0.0]]
  )


def per_example(name, **options):
  function = getattr(tfm, name)
  return lambda x, y: function(
    LOSS, [x, y], tf.ones([4, 3]), **options, **RAISE
  )


# name: (f whose line is to blame, its arguments, the call with 'raise')
CALLS = {
  'value_and_gradient': (
    F,
    vectors,
    lambda x, y: tfm.value_and_gradient(F, x, y, **RAISE),
  ),
  'value_and_gradient_with_auto_expansion': (
    F,
    vectors,
    lambda x, y: tfm.value_and_gradient_with_auto_expansion(F, x, y, **RAISE),
  ),
  'jacobian': (FV, vectors, lambda x, y: tfm.jacobian(FV, x, y, **RAISE)),
  'value_and_jacobian': (
    FV,
    vectors,
    lambda x, y: tfm.value_and_jacobian(FV, x, y, **RAISE),
  ),
  'batch_jacobian': (
    FB,
    batches,
    lambda x, y: tfm.batch_jacobian(FB, x, y, **RAISE),
  ),
  'value_and_batch_jacobian': (
    FB,
    batches,
    lambda x, y: tfm.value_and_batch_jacobian(FB, x, y, **RAISE),
  ),
  'hessian': (F, vectors, lambda x, y: tfm.hessian(F, x, y, **RAISE)),
  'value_and_hessian': (
    F,
    vectors,
    lambda x, y: tfm.value_and_hessian(F, x, y, **RAISE),
  ),
  'jvp': (
    FJ,
    vectors,
    lambda x, y: tfm.jvp(FJ, [x, y], [tf.ones([3]), tf.ones([3])], **RAISE),
  ),
  'value_and_jvp': (
    FJ,
    vectors,
    lambda x, y: tfm.value_and_jvp(
      FJ, [x, y], [tf.ones([3]), tf.ones([3])], **RAISE
    ),
  ),
  'hvp': (
    F,
    vectors,
    lambda x, y: tfm.hvp(F, [x, y], [tf.ones([3]), tf.ones([3])], **RAISE),
  ),
  'value_and_hvp': (
    F,
    vectors,
    lambda x, y: tfm.value_and_hvp(
      F, [x, y], [tf.ones([3]), tf.ones([3])], **RAISE
    ),
  ),
  'per_example_gradients': (
    LOSS,
    vectors,
    per_example('per_example_gradients'),
  ),
  'value_and_per_example_gradients': (
    LOSS,
    vectors,
    per_example('value_and_per_example_gradients'),
  ),
  'per_example_gradient_norms': (
    LOSS,
    vectors,
    per_example('per_example_gradient_norms'),
  ),
  'value_and_per_example_gradient_norms': (
    LOSS,
    vectors,
    per_example('value_and_per_example_gradient_norms'),
  ),
  'clipped_gradients': (
    LOSS,
    vectors,
    per_example('clipped_gradients', l2_norm_clip=1.0),
  ),
  'value_and_clipped_gradients': (
    LOSS,
    vectors,
    per_example('value_and_clipped_gradients', l2_norm_clip=1.0),
  ),
  'gradients_function': (
    F,
    vectors,
    lambda x, y: tfe.gradients_function(F, **RAISE)(x, y),
  ),
  'value_and_gradients_function': (
    F,
    vectors,
    lambda x, y: tfe.value_and_gradients_function(F, **RAISE)(x, y),
  ),
  'make_vjp': (FV, vectors, lambda x, y: tfe.make_vjp(FV, **RAISE)(x, y)[1]()),
}


def expect_raised(regime, make, f):
  with pytest.raises(tfgradtools.DisconnectedGradientError) as raised:
    helpers.run(regime, make)
  message = str(raised.value)
  assert "unconnected_gradients='raise'" in message
  assert f'test_explain_raise.py:{f.__code__.co_firstlineno}' in message
  assert '`tf.argmax`' in message
  return message


@pytest.mark.parametrize('name', sorted(CALLS))
def test_raise_names_the_op_and_line(regime, name):
  f, arguments, call = CALLS[name]

  def make():
    x, y = arguments()
    return lambda: call(x, y)

  api = expect_raised(regime, make, f).split(':')[0]
  assert api in (name, f'value_and_{name}')  # The non-value one is over it.


@pytest.mark.parametrize(
  'name', ['implicit_gradients', 'implicit_value_and_gradients']
)
def test_raise_implicit(regime, name):
  loss = lambda v, u: tf.reduce_sum(v * v) + tf.cast(tf.argmax(u), tf.float32)  # pylint: disable=unnecessary-lambda-assignment

  def make():
    v = tf.Variable([1.0, 2.0], name='v')
    u = tf.Variable([3.0, 1.0], name='u')
    transformed = getattr(tfe, name)(lambda: loss(v, u), **RAISE)
    return transformed

  message = expect_raised(regime, make, loss)
  assert '`u` reaches the result only through `tf.argmax`' in message
  assert '`v`' not in message


def test_raise_when_connected_returns_what_none_returns(regime):
  f = lambda x, y: tf.reduce_sum(x * tf.sin(y))  # pylint: disable=unnecessary-lambda-assignment

  def make(unconnected):
    x, y = vectors()
    return lambda: tfm.value_and_gradient(
      f, x, y, unconnected_gradients=unconnected
    )

  helpers.assert_all_close(
    helpers.run(regime, lambda: make('raise')),
    helpers.run(regime, lambda: make('none')),
  )


LITERAL = lambda a, b: a * 2.0  # pylint: disable=unnecessary-lambda-assignment
CAME_BACK = lambda a, b: a * tf.constant(tf.get_static_value(b))  # pylint: disable=unnecessary-lambda-assignment


def test_raise_a_literal_equal_to_an_unused_source_is_not_a_round_trip(regime):
  # `b` is 2., as the literal is: a coincidence, not a value that came back.
  with pytest.raises(tfgradtools.DisconnectedGradientError) as raised:
    helpers.run(
      regime, lambda: lambda: tfm.value_and_gradient(LITERAL, 1.0, 2.0, **RAISE)
    )
  message = str(raised.value)
  assert '- `b` is not used to compute the result' in message
  assert 'left TensorFlow' not in message


def test_raise_a_value_that_came_back_is_named(regime):
  with pytest.raises(tfgradtools.DisconnectedGradientError) as raised:
    helpers.run(
      regime,
      lambda: lambda: tfm.value_and_gradient(CAME_BACK, 1.0, 2.0, **RAISE),
    )
  line = CAME_BACK.__code__.co_firstlineno
  assert f"- `b`'s value left TensorFlow (test_explain_raise.py:{line};" in str(
    raised.value
  )


def test_raise_explains_every_source_at_once():
  f = lambda a, b, c, d: (
    tf.cast(tf.argmax(a), tf.float32)
    + tf.reduce_sum(tf.stop_gradient(b))
    + tf.reduce_sum(d * d)
  )  # pylint: disable=unnecessary-lambda-assignment,line-too-long
  with pytest.raises(tfgradtools.DisconnectedGradientError) as raised:
    tfm.value_and_gradient(
      f, tf.ones([2]), tf.ones([2]), tf.constant(1), tf.ones([2]), **RAISE
    )
  lines = str(raised.value).splitlines()
  assert 'no gradient reaches 3 of the 4 sources' in lines[0]
  assert lines[1].startswith(
    '- `a` reaches the result only through `tf.argmax`'
  )
  assert lines[2].startswith(
    '- `b` reaches the result only through `tf.stop_gradient`'
  )
  assert lines[3].startswith('- `c` has dtype int32')
  assert len(lines) == 4


def test_raise_on_keras_variables_names_their_paths():
  keras = pytest.importorskip('keras')
  model = keras.Sequential(
    [keras.Input([3]), keras.layers.Dense(2, name='head')], name='net'
  )
  x = tf.ones([1, 3])
  with pytest.raises(
    tfgradtools.DisconnectedGradientError,
    match='`net/head/kernel` reaches the result only through `tf.argmax`',
  ):
    tfm.value_and_gradient_with_auto_expansion(
      lambda m: tf.cast(tf.argmax(m(x)[0]), tf.float32), model, **RAISE
    )


def test_raise_names_sources_as_explain_gradients_does():
  f = lambda p, x: _float(tf.argmax(p['w'])) + tf.stop_gradient(x)  # pylint: disable=unnecessary-lambda-assignment
  args = ({'w': tf.ones([2]), 'v': tf.ones([2])}, tf.constant(1.0))
  report = tfgradtools.explain_gradients(f, *args)
  paths = [s.path for s in report.sources if s.reason != 'connected']
  for call in (
    lambda: tfm.value_and_gradient(f, *args, **RAISE),
    lambda: tfe.value_and_gradients_function(f, **RAISE)(*args),
  ):
    with pytest.raises(tfgradtools.DisconnectedGradientError) as raised:
      call()
    lines = str(raised.value).splitlines()[1:]
    assert [line.split('`')[1] for line in lines] == paths
  assert paths == ["p['v']", "p['w']", 'x']
