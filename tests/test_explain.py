"""explain_gradients: each cause, in eager, `tf.function` and TF1 graphs.

Each case's `f` is a lambda on one line: the reported location must be
that line of this file. The gradients themselves are checked against
hand-written tapes.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools
import tfgradtools.math as tfm

EXPLAIN_REGIMES = ('eager', 'function', 'tf1_session')


def _tensors(source):
  """A source's fields as Tensors (Python values and Tensors alike)."""
  filename, lineno = ('', 0) if source.location is None else source.location
  return (
    tf.convert_to_tensor(source.reason),
    tf.convert_to_tensor(
      '' if source.op_type is None else source.op_type, tf.string
    ),
    tf.convert_to_tensor(filename, tf.string),
    tf.convert_to_tensor(lineno, tf.int32),
    tf.convert_to_tensor(source.connected),
  )


def _decoded(fields):
  reason, op_type, filename, lineno, connected = (
    np.asarray(x).item() for x in fields
  )
  text = lambda b: b.decode() if isinstance(b, bytes) else b  # pylint: disable=unnecessary-lambda-assignment
  return {
    'reason': text(reason),
    'op_type': text(op_type) or None,
    'location': (text(filename), lineno) if text(filename) else None,
    'connected': bool(connected),
  }


def explained(regime, make, **kwargs):
  """`explain_gradients(f, *args)` in `regime`, `make()` giving `(f, args)`
  where the regime builds its values: each source's fields, `str(report)`
  (at trace time in a graph) and the gradients."""
  texts = []

  def body():
    f, args = make()
    report = tfgradtools.explain_gradients(f, *args, **kwargs)
    texts.append(str(report))
    grads = tf.nest.flatten(report.gradients)
    return [_tensors(s) for s in report.sources], grads

  if regime == 'eager':
    fields, grads = body()
  elif regime == 'function':
    fields, grads = tf.function(body)()
  else:
    fields, grads = helpers.run_in_session(lambda: body)
  return [_decoded(f) for f in fields], texts[0], helpers.to_numpy(grads)


def line_of(f):
  return (f.__code__.co_filename, f.__code__.co_firstlineno)


def _float_sum(t):
  return tf.reduce_sum(tf.cast(t, tf.float32))


def floats():
  return tf.constant([0.5, 1.5, -2.0])


# (case, f, its argument, reason, op_type, whether a line is to blame)
CAUSES = [
  ('unused', lambda x: tf.constant(2.0), floats, 'unused', None, False),
  (
    'argmax',
    lambda x: tf.cast(tf.argmax(x), tf.float32),
    floats,
    'non_differentiable',
    'ArgMax',
    True,
  ),
  (
    'round',
    lambda x: tf.reduce_sum(tf.round(x)),
    floats,
    'non_differentiable',
    'Round',
    True,
  ),
  (
    'cast',
    lambda x: tf.reduce_sum(tf.cast(tf.cast(x, tf.int32), tf.float32)),
    floats,
    'non_differentiable',
    'Cast',
    True,
  ),
  (
    'equal',
    lambda x: tf.reduce_sum(tf.cast(tf.equal(x, 1.5), tf.float32)),
    floats,
    'non_differentiable',
    'Equal',
    True,
  ),
  # (A static shape is a constant in a graph, with no path from `x`.)
  (
    'shape',
    lambda x: tf.cast(tf.shape(tf.boolean_mask(x, x > 0.0))[0], tf.float32),  # pylint: disable=line-too-long
    floats,
    'non_differentiable',
    'Shape',
    True,
  ),
  (
    'sampling',
    lambda x: _float_sum(tf.random.categorical(x[None], 4)),
    floats,
    'non_differentiable',
    'Multinomial',
    True,
  ),
  (
    'stop_gradient',
    lambda x: tf.reduce_sum(tf.stop_gradient(x) * 3.0),
    floats,
    'stop_gradient',
    'StopGradient',
    True,
  ),
  (
    'integer',
    lambda x: tf.reduce_sum(tf.cast(x, tf.float32) * 2.0),
    lambda: tf.constant([1, 2]),
    'integer',
    None,
    False,
  ),
  (
    'left_tensorflow',
    lambda x: tf.reduce_sum(tf.constant(tf.get_static_value(x)) * 2.0),
    floats,
    'left_tensorflow',
    None,
    True,
  ),
  # A literal equal to the value by chance is not the value coming back.
  (
    'literal_equal_to_value',
    lambda x: tf.reduce_sum(tf.constant([0.5, 1.5, -2.0]) * 2.0),
    floats,
    'unused',
    None,
    False,
  ),
  (
    'norm_at_zero',
    lambda x: tf.norm(x),  # pylint: disable=unnecessary-lambda
    lambda: tf.zeros([3]),
    'nonfinite',
    'Sqrt',
    True,
  ),
  # `x` sends its gradient to the norm and, later in the backward pass,
  # to a finite product: the product is not to blame.
  (
    'shared_input',
    lambda x: tf.norm(x) + tf.reduce_sum(x * 2.0),
    lambda: tf.zeros([3]),
    'nonfinite',
    'Sqrt',
    True,
  ),
  (
    'log_under_where',
    lambda x: tf.reduce_sum(tf.where(x > 0.0, tf.math.log(x), 0.0)),
    lambda: tf.constant([0.0, 1.0]),
    'nonfinite',
    'Log',
    True,
  ),
  (
    'connected',
    lambda x: tf.reduce_sum(x * x),
    floats,
    'connected',
    None,
    False,
  ),
]


def hand_gradient(f, x):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = f(x)
  return tape.gradient(y, x)


@pytest.mark.parametrize('regime', EXPLAIN_REGIMES)
@pytest.mark.parametrize('case', CAUSES, ids=[c[0] for c in CAUSES])
def test_each_cause(regime, case):
  _, f, argument, reason, op_type, located = case
  (source,), text, (grad,) = explained(regime, lambda: (f, [argument()]))
  assert source['reason'] == reason
  assert source['op_type'] == op_type
  assert source['location'] == (line_of(f) if located else None)
  assert source['connected'] == (reason in ('connected', 'nonfinite'))
  assert source['connected'] == (grad is not None)
  if grad is not None and reason == 'connected':
    helpers.assert_all_close(grad, hand_gradient(f, argument()))
  if reason == 'nonfinite':
    assert not np.all(np.isfinite(grad))
  if regime == 'eager':
    if reason == 'connected':
      assert (
        text == 'All 1 sources are connected and their gradients are finite.'
      )
    else:
      assert text.startswith('explain_gradients:\n- `x`')
      if located:
        assert f'test_explain.py:{line_of(f)[1]}' in text
  elif reason not in ('connected', 'nonfinite'):  # Known at trace time.
    assert '`x`' in text and reason != 'connected'


@pytest.mark.parametrize(
  'leave',
  [
    lambda x: tf.reduce_sum(tf.constant(x.numpy()) * 2.0),
    lambda x: tf.reduce_sum(tf.constant(np.asarray(x)) * 2.0),
    lambda x: tf.constant(float(x)) * 2.0,
  ],
  ids=['numpy', 'asarray', 'float'],
)
def test_left_tensorflow_eagerly(leave):
  x = tf.constant(1.5)
  (source,), text, _ = explained('eager', lambda: (leave, [x]))
  assert (source['reason'], source['location']) == (
    'left_tensorflow',
    line_of(leave),
  )
  assert 'left TensorFlow' in text
  with pytest.raises(tfgradtools.DisconnectedGradientError) as raised:
    tfm.value_and_gradient(leave, x, unconnected_gradients='raise')
  line = line_of(leave)[1]
  assert f"`x`'s value left TensorFlow (test_explain.py:{line};" in str(
    raised.value
  )


def test_left_tensorflow_from_a_function_capture():
  x = tf.constant([0.5, 1.5, -2.0])  # Eager, so `.numpy()` works in a trace.
  leave = lambda x: tf.reduce_sum(tf.constant(x.numpy()) * 2.0)  # pylint: disable=unnecessary-lambda-assignment
  (source,), _, _ = explained('function', lambda: (leave, [x]))
  assert (source['reason'], source['location']) == (
    'left_tensorflow',
    line_of(leave),
  )


def test_a_changed_round_trip_is_not_guessed():
  x = tf.constant([0.5, 1.5, -2.0])
  (source,), text, _ = explained(
    'eager',
    lambda: (lambda x: tf.reduce_sum(tf.constant(x.numpy() * 3.0)), [x]),
  )
  assert source['reason'] == 'unused'
  assert 'if its value went through `.numpy()`' in text


def test_a_round_trip_of_a_value_f_does_not_receive_is_not_claimed():
  # `f` reads `x` from its closure: it cannot be called with another value
  # of `x` to see the constant follow it, so it is not claimed.
  x = tf.constant([0.5, 1.5, -2.0])
  (source,), text, _ = explained(
    'eager', lambda: (lambda: tf.reduce_sum(tf.constant(x.numpy()) * 2.0), [x])
  )
  assert (source['reason'], source['location']) == ('unused', None)
  assert 'if its value went through `.numpy()`' in text


@pytest.mark.parametrize('regime', ['eager', 'function'])
def test_a_literal_equal_to_an_unused_variable_is_not_claimed(regime):
  f = lambda a, v: a * 2.0  # pylint: disable=unnecessary-lambda-assignment
  v = tf.Variable(2.0)  # Its value is known where the graph is built.
  sources, _, _ = explained(regime, lambda: (f, [tf.constant(1.0), v]))
  assert [s['reason'] for s in sources] == ['connected', 'unused']


def test_a_function_that_cannot_be_traced_is_said_so():
  # `x[1]` is a Tensor in a graph, so `float` of it only works eagerly.
  x = tf.constant([0.5, 1.5, -2.0])
  (source,), text, _ = explained(
    'eager', lambda: (lambda x: tf.constant(float(x[1])) * 2.0, [x])
  )
  assert (source['reason'], source['op_type'], source['location']) == (
    'unknown',
    None,
    None,
  )
  assert 'could not be traced into a graph' in text
  assert 'float() argument must be' in text


@pytest.mark.parametrize('regime', EXPLAIN_REGIMES)
def test_several_causes_and_structures(regime):
  def f(p, x, n):
    blocked = tf.cast(tf.argmax(p['w']), tf.float32)
    stopped = tf.stop_gradient(p['b'])
    return blocked + tf.reduce_sum(stopped + x * x)

  filename, line = line_of(f)

  def make():
    params = {
      'w': tf.constant([1.0, 3.0]),
      'b': tf.constant([2.0, 2.0]),
      'unused': tf.constant(5.0),
    }
    return f, [params, tf.constant([1.0, 2.0]), tf.constant(3)]

  sources, text, grads = explained(regime, make)
  got = [(s['reason'], s['op_type'], s['location']) for s in sources]
  assert got == [
    ('stop_gradient', 'StopGradient', (filename, line + 2)),  # params['b']
    ('unused', None, None),  # params['unused']
    ('non_differentiable', 'ArgMax', (filename, line + 1)),  # params['w']
    ('connected', None, None),  # x
    ('integer', None, None),  # n
  ]
  helpers.assert_all_close(grads, [None, None, None, [2.0, 4.0], None])
  lines = text.splitlines()
  for path in ("`p['b']`", "`p['unused']`", "`p['w']`", '`n`'):
    assert any(line.startswith(f'- {path}') for line in lines), text
  if regime == 'eager':
    assert len(lines) == 5 and '`x`' not in text


def test_paths_name_arguments_keywords_and_variables():
  w = tf.Variable([1.0, 2.0], name='weights')
  report = tfgradtools.explain_gradients(
    lambda a, *rest, k: tf.reduce_sum(a * rest[0][0]) + rest[1] + k,
    tf.constant(1.0),
    [w],
    tf.constant(2.0),
    k=tf.constant(3.0),
  )
  assert [s.path for s in report.sources] == ['a', 'weights', 'args[2]', 'k']
  assert all(s.reason == 'connected' for s in report.sources)


def test_value_and_gradients_are_value_and_gradient():
  f = lambda x, y: tf.reduce_sum(x * tf.sin(y))  # pylint: disable=unnecessary-lambda-assignment
  x, y = tf.constant([1.0, 2.0]), tf.constant([0.5, -1.0])
  report = tfgradtools.explain_gradients(f, x, y)
  value, grads = tfm.value_and_gradient(f, x, y)
  helpers.assert_all_close(report.value, value)
  helpers.assert_all_close(report.gradients, grads)


def test_nonfinite_names_the_first_op_of_the_backward_pass():
  # Sqrt's derivative is infinite at 0, and the Square before it then turns
  # inf * 0 into NaN: the first to fail, going backward, is Sqrt.
  f = lambda x: tf.sqrt(tf.reduce_sum(tf.square(x)))  # pylint: disable=unnecessary-lambda-assignment
  report = tfgradtools.explain_gradients(f, tf.zeros([2]))
  source = report.sources[0]
  assert (source.reason, source.op_type, source.location) == (
    'nonfinite',
    'Sqrt',
    line_of(f),
  )
  assert np.isnan(report.gradients.numpy()).all()


def test_nonfinite_gradient_is_located_inside_a_function_at_run_time():
  f = lambda x: tf.norm(x)  # pylint: disable=unnecessary-lambda,unnecessary-lambda-assignment

  @tf.function
  def explain(x):
    return _tensors(tfgradtools.explain_gradients(f, x).sources[0])

  assert _decoded(explain(tf.zeros([3])))['op_type'] == 'Sqrt'
  assert _decoded(explain(tf.ones([3]))) == {
    'reason': 'connected',
    'op_type': None,
    'location': None,
    'connected': True,
  }


def keras_model(frozen):
  keras = pytest.importorskip('keras')
  model = keras.Sequential(
    [
      keras.Input([3]),
      keras.layers.Dense(4, name='hidden'),
      keras.layers.Dense(2, name='head'),
    ]
  )
  model.get_layer('hidden').trainable = not frozen
  return model


@pytest.mark.parametrize('keras_regime', ['eager', 'function'])
def test_keras_no_gradients_provided(keras_regime):
  model = keras_model(frozen=True)
  x = tf.constant([[1.0, 2.0, 3.0]])
  loss = lambda: tf.cast(tf.argmax(model(x)[0]), tf.float32)  # pylint: disable=unnecessary-lambda-assignment
  texts = []

  def run():
    report = tfgradtools.explain_gradients(loss, model)
    texts.append(str(report))
    return [_tensors(s) for s in report.sources], [
      s.path for s in report.sources
    ]

  if keras_regime == 'eager':
    fields, paths = run()
  else:
    fields, paths = tf.function(run)()
  assert paths == [v.path for v in model.trainable_variables]
  assert len(paths) == 2  # The frozen layer's variables are not sources.
  for field in fields:
    assert _decoded(field)['reason'] == 'non_differentiable'
    assert _decoded(field)['op_type'] == 'ArgMax'
    assert _decoded(field)['location'] == line_of(loss)
  assert 'Layer `hidden` (Dense) is frozen' in texts[0]
  assert 'No gradients provided for any variable' in texts[0]


def test_keras_model_as_argument_connected():
  model = keras_model(frozen=False)
  x = tf.constant([[1.0, 2.0, 3.0]])
  report = tfgradtools.explain_gradients(
    lambda m: tf.reduce_sum(m(x) ** 2), model
  )
  assert [s.reason for s in report.sources] == ['connected'] * 4
  assert str(report) == (
    'All 4 sources are connected and their gradients are finite.'
  )


@pytest.mark.parametrize('regime', ['function', 'tf1_session'])
def test_graph_with_a_tape(regime):
  f = lambda x: tf.reduce_sum(tf.round(x)) + tf.norm(x)  # pylint: disable=unnecessary-lambda-assignment
  (source,), _, (grad,) = explained(
    regime, lambda: (f, [tf.zeros([2])]), use_gradient_tape=True
  )
  # A gradient reaches `x` through the norm, and it is NaN there.
  assert (source['reason'], source['op_type'], source['location']) == (
    'nonfinite',
    'Sqrt',
    line_of(f),
  )
  assert np.isnan(grad).all()


@pytest.mark.slow
def test_with_eager_execution_disabled():
  reason, op_type, filename, rounded, literal, came_back = (
    helpers.run_without_eager('''
      x = tf.constant([0.5, 1.5])
      report = tfm.explain_gradients(
          lambda x: tf.cast(tf.argmax(x), tf.float32), x)
      source = report.sources[0]
      def raised(f, *args):
        try:
          tfm.value_and_gradient(f, *args, unconnected_gradients='raise')
          return ''
        except tfm.DisconnectedGradientError as error:
          return str(error)
      result = [source.reason, source.op_type, source.location[0],
                raised(tf.round, x), raised(lambda a, b: a * 2., 1., 2.),
                raised(lambda a, b: a * tf.constant(tf.get_static_value(b)),
                       1., 2.)]
  ''')
  )
  assert (reason, op_type, filename) == (
    'non_differentiable',
    'ArgMax',
    '<string>',
  )
  assert 'only through `tf.round`' in rounded
  assert '- `b` is not used to compute the result' in literal
  assert "- `b`'s value left TensorFlow (<string>:" in came_back
