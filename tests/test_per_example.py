"""Per-example gradients, their norms and the clipped aggregate, checked
against loops of hand-written tapes, `tape.jacobian` and NumPy in every
regime."""

from __future__ import annotations

import functools
import logging
import types
import warnings

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

import helpers
import tfgradtools
import tfgradtools.math as tfm
from tfgradtools._per_example import converters as _per_example_converters
from tfgradtools._per_example import mapping as _per_example_map

RNG = np.random.default_rng(0)
# More examples than eager calls loop over: eagerly too, they are vectorised.
BATCH = 36
SHAPES = {'w1': (4, 6), 'b1': (6,), 'w2': (6, 3), 'b2': (3,)}
VALUES = {k: RNG.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}
X = RNG.normal(size=(BATCH, 4)).astype(np.float32)
LABELS = RNG.integers(0, 3, size=BATCH).astype(np.int32)
CLIP = 0.5


def mlp_losses(p, x, y):
  """One loss per example of a batch."""
  hidden = tf.tanh(tf.matmul(x, p['w1']) + p['b1'])
  logits = tf.matmul(hidden, p['w2']) + p['b2']
  return tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)


def mlp_loss_of_one(p, x, y):
  """The loss of one example, given without its batch axis."""
  return mlp_losses(p, x[None], y[None])[0]


def constants():
  return {k: tf.constant(v) for k, v in VALUES.items()}


def loop_of_tapes(losses, params, *inputs):
  """What users write by hand: one tape per example, eagerly.

  A Keras model is differentiated by the `tf.Variable`s its variables hold
  (a tape watches those).
  """
  sources = params
  if isinstance(params, keras.Model):
    sources = [v.value for v in params.trainable_variables]
  grads = []
  for i in range(len(inputs[0])):
    with tf.GradientTape() as tape:
      tape.watch(sources)
      loss = losses(params, *(x[i : i + 1] for x in inputs))
    grads.append(tape.gradient(loss, sources))
  return tf.nest.map_structure(
    lambda *g: np.stack([tf.convert_to_tensor(x) for x in g]), *grads
  )


@functools.cache
def reference():
  """Each example's gradient of the MLP, from a loop of tapes."""
  return loop_of_tapes(mlp_losses, constants(), X, LABELS)


def numpy_norms(grads):
  return {
    k: np.sqrt((g.reshape(len(g), -1) ** 2).sum(1)) for k, g in grads.items()
  }


def numpy_clipped_mean(grads, clip):
  total = np.sqrt(sum(n**2 for n in numpy_norms(grads).values()))
  scale = np.minimum(1.0, clip / total)
  return {k: np.tensordot(scale, g, 1) / len(scale) for k, g in grads.items()}


def test_gradients_match_a_loop_of_tapes_and_the_jacobian(evaluate):
  def make():
    params = constants()

    def body():
      losses, grads = tfm.value_and_per_example_gradients(
        mlp_losses, params, X, LABELS
      )
      of_one = tfm.per_example_gradients(
        mlp_loss_of_one, params, X, LABELS, single_example=True
      )
      with tf.GradientTape() as tape:
        tape.watch(params)
        loss_vector = mlp_losses(params, X, LABELS)
      return (
        losses,
        grads,
        of_one,
        loss_vector,
        tape.jacobian(loss_vector, params),
      )

    return body

  losses, grads, of_one, loss_vector, jacobian = evaluate(make)
  helpers.assert_all_close(
    [grads, of_one, jacobian], [reference()] * 3, rtol=1e-4, atol=1e-6
  )
  helpers.assert_all_close(losses, loss_vector, rtol=1e-5)


@pytest.mark.slow
def test_norms_and_clipped_aggregate_against_numpy(evaluate):
  def make():
    # An unused parameter too: it has no gradient, or zeros.
    params = {k: tf.Variable(v) for k, v in VALUES.items()}
    params['unused'] = tf.Variable(2.0)

    def clipped(**kwargs):
      pairs = tfm.clipped_gradients(
        mlp_losses, params, X, LABELS, l2_norm_clip=CLIP, **kwargs
      )
      return dict(zip(sorted(params), [g for g, _ in pairs], strict=True))

    def body():
      # The clipped means need each example's norm: by the identity, then
      # from formed gradients, in chunks.
      return (
        tfm.per_example_gradient_norms(
          mlp_losses, params, X, LABELS, per_parameter=True
        ),
        [
          clipped(),
          clipped(
            chunk_size=7,
            materialize_gradients=True,
            unconnected_gradients='zero',
          ),
        ],
      )

    return body

  norms, clipped = evaluate(make)
  helpers.assert_all_close(
    norms, dict(numpy_norms(reference()), unused=None), rtol=1e-4, atol=1e-6
  )
  expected = numpy_clipped_mean(reference(), CLIP)
  helpers.assert_all_close(
    clipped,
    [dict(expected, unused=None), dict(expected, unused=0.0)],
    rtol=1e-4,
    atol=1e-6,
  )


def cumulative_logsumexp_losses(w, x):
  """A loss with an op pfor cannot vectorise (CumulativeLogsumexp)."""
  return tf.reduce_sum(
    tf.math.cumulative_logsumexp(tf.matmul(x, w), axis=-1), axis=-1
  )


def test_unvectorisable_op_falls_back_with_one_warning(regime):
  w = VALUES['w1']
  expected = loop_of_tapes(cumulative_logsumexp_losses, tf.constant(w), X)

  def make():
    def body():
      return [
        tfm.per_example_gradients(
          cumulative_logsumexp_losses,
          tf.constant(w),
          X,
          chunk_size=chunk,
          experimental_use_pfor=use_pfor,
        )
        for chunk, use_pfor in ((None, True), (10, False))
      ]

    return body

  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    grads = helpers.run(regime, make)
  helpers.assert_all_close(grads, [expected] * 2, rtol=1e-4, atol=1e-6)
  fallbacks = [
    str(w.message)
    for w in caught
    if w.category is tfm.VectorizationFallbackWarning
  ]
  # One for the vectorised call (on each replica); none for the loop.
  replicas = helpers.NUM_REPLICAS if 'distribute' in regime else 1
  assert len(fallbacks) == replicas, fallbacks
  assert all('op CumulativeLogsumexp' in m for m in fallbacks)


def test_loop_of_examples_when_pfor_fails_outright(monkeypatch):
  def failing_pfor(loop_fn, iters, fallback_to_while_loop):
    del iters, fallback_to_while_loop
    loop_fn(tf.constant(0))
    raise ValueError('No pfor vectorization defined for MadeUpOp')

  assert _per_example_converters.private_pfor()  # Checked before the patch.
  monkeypatch.setattr(
    _per_example_converters.control_flow_ops, 'pfor', failing_pfor
  )
  fn = tf.function(
    lambda: tfm.per_example_gradient_norms(
      mlp_losses, constants(), X, LABELS, per_parameter=True, chunk_size=7
    )
  )
  with pytest.warns(
    tfm.VectorizationFallbackWarning, match='MadeUpOp.*every example'
  ) as caught:
    norms = fn()
  # Only ours: AutoGraph may add its own (DeprecationWarnings on 3.13).
  ours = [w for w in caught if w.category is tfm.VectorizationFallbackWarning]
  assert len(ours) == 1
  helpers.assert_all_close(
    helpers.to_numpy(norms), numpy_norms(reference()), rtol=1e-4, atol=1e-6
  )


def test_unconnected_parameters_get_none_or_zeros():
  params = {'used': tf.constant(VALUES['w1']), 'unused': tf.constant(2.0)}
  losses = lambda p, x: tf.reduce_sum(tf.matmul(x, p['used']), axis=-1)
  assert tfm.per_example_gradients(losses, params, X)['unused'] is None
  zeros = tfm.per_example_gradients(
    losses, params, X, unconnected_gradients='zero'
  )
  np.testing.assert_array_equal(zeros['unused'], np.zeros(BATCH))
  norms = tfm.per_example_gradient_norms(
    losses, params, X, per_parameter=True, unconnected_gradients='zero'
  )
  np.testing.assert_array_equal(norms['unused'], np.zeros(BATCH))
  for unconnected, noised in (('none', False), ('zero', True)):
    (unused, _), _ = tfm.clipped_gradients(
      losses,
      params,
      X,
      l2_norm_clip=CLIP,
      noise_multiplier=1.0,
      seed=3,
      unconnected_gradients=unconnected,
    )  # 'unused' sorts first.
    assert (unused is not None and float(unused) != 0.0) == noised


def disconnected_call(name, **options):
  """A call of `name` with 'raise' on parameters three of which no gradient
  reaches: through `tf.argmax`, `tf.stop_gradient`, and not at all."""
  params = {
    'argmax': tf.constant([1.0, 2.0]),
    'stopped': tf.constant(2.0),
    'used': tf.constant(VALUES['w1']),
    'unused': tf.constant(1.0),
  }

  def losses(p, x):
    return (
      tf.reduce_sum(tf.matmul(x, p['used']), axis=-1)
      + tf.cast(tf.argmax(p['argmax']), tf.float32)
      + tf.stop_gradient(p['stopped'])
    )

  return lambda: getattr(tfm, name)(
    losses, params, X[:5], unconnected_gradients='raise', **options
  )


def assert_names_every_disconnected_parameter(run):
  with pytest.raises(tfgradtools.DisconnectedGradientError) as raised:
    run()
  lines = str(raised.value).splitlines()
  # The parameters in the order of `tf.nest.flatten(params)`.
  assert 'no gradient reaches 3 of the 4 sources' in lines[0], lines
  # Each named by its place in `params`, as explain_gradients names it.
  assert "`p['argmax']`" in lines[1] and '`tf.argmax`' in lines[1], lines
  assert "`p['stopped']`" in lines[2], lines
  assert '`tf.stop_gradient`' in lines[2], lines
  assert "`p['unused']` is not used" in lines[3], lines
  assert len(lines) == 4, lines


def test_raise_names_every_disconnected_parameter_at_once():
  assert_names_every_disconnected_parameter(
    disconnected_call(
      'clipped_gradients', l2_norm_clip=CLIP, noise_multiplier=1.0
    )
  )


@pytest.mark.slow
@pytest.mark.parametrize(
  'name, options',
  [
    ('per_example_gradients', {}),
    ('per_example_gradient_norms', {}),
    ('per_example_gradient_norms', {'per_parameter': True}),
    ('clipped_gradients', {'l2_norm_clip': CLIP}),
    ('clipped_gradients', {'l2_norm_clip': CLIP, 'noise_multiplier': 1.0}),
  ],
)
def test_raise_names_every_disconnected_parameter_in_every_regime(
  regime, name, options
):
  assert_names_every_disconnected_parameter(
    lambda: helpers.run(regime, lambda: disconnected_call(name, **options))
  )


@pytest.mark.slow
def test_noise_is_seeded_and_scaled():
  size = 20_000  # Enough noise to measure its standard deviation.
  w = tf.zeros([size])
  x = RNG.normal(size=(8, size)).astype(np.float32)

  def losses(w, x):
    return tf.reduce_sum(w * x, axis=-1)

  def clipped(**kwargs):
    return tfm.clipped_gradients(losses, w, x, l2_norm_clip=2.0, **kwargs)[0][0]

  clean = clipped().numpy()
  first = clipped(noise_multiplier=3.0, seed=7).numpy()
  np.testing.assert_array_equal(first, clipped(noise_multiplier=3.0, seed=7))
  assert not np.array_equal(first, clipped(noise_multiplier=3.0, seed=8))
  in_graph = tf.function(lambda: clipped(noise_multiplier=3.0, seed=[7, 0]))
  np.testing.assert_allclose(in_graph(), first, rtol=1e-5, atol=1e-6)
  for noised in (
    first,
    clipped(noise_multiplier=3.0).numpy(),
    clipped(
      noise_multiplier=3.0, seed=tf.random.Generator.from_seed(1)
    ).numpy(),
  ):
    # Noise of stddev 3 × 2 on the sum of 8 clipped gradients, then / 8.
    np.testing.assert_allclose(np.std(noised - clean), 6.0 / 8, rtol=0.03)
    # Normal: the Kolmogorov–Smirnov test does not reject it.
    standard = (noised - clean) * 8 / 6
    assert scipy.stats.kstest(standard, 'norm').pvalue > 1e-3


def test_an_empty_batch_is_noise_over_the_expected_batch_size():
  seed = tf.constant([3, 4], tf.int64)
  pairs = tfm.clipped_gradients(
    mlp_losses,
    constants(),
    X[:0],
    LABELS[:0],
    l2_norm_clip=CLIP,
    noise_multiplier=2.0,
    seed=seed,
    expected_batch_size=8,
  )
  for i, (k, (grad, _)) in enumerate(zip(sorted(SHAPES), pairs, strict=True)):
    noise = tf.random.stateless_normal(
      SHAPES[k], tf.random.experimental.stateless_fold_in(seed, i)
    )
    np.testing.assert_allclose(grad, noise * 2.0 * CLIP / 8, rtol=1e-6)


@pytest.mark.slow
def test_an_empty_batch_is_zeros_and_noise_never_nan(regime):
  # DP-SGD on Poisson-sampled batches applies a step for an empty batch
  # too: zeros plus the noise, divided by the expected batch size.
  def make():
    params = constants()
    seed = tf.constant([3, 4], tf.int64)

    def clipped(batch, **options):
      return [
        g
        for g, _ in tfm.clipped_gradients(
          mlp_losses,
          params,
          X[:batch],
          LABELS[:batch],
          l2_norm_clip=CLIP,
          **options,
        )
      ]

    return lambda: {
      'clean': clipped(0),
      'noised': clipped(0, noise_multiplier=2.0, seed=seed),
      'expected': clipped(
        0, noise_multiplier=2.0, seed=seed, expected_batch_size=8
      ),
      'mean': clipped(BATCH),
      'sum_by_8': clipped(BATCH, expected_batch_size=8.0),
      'losses': tfm.value_and_clipped_gradients(
        mlp_losses, params, X[:0], LABELS[:0], l2_norm_clip=CLIP
      )[0],
      # Drawn in the regime: XLA picks another stateless algorithm.
      'noise': [
        tf.random.stateless_normal(
          SHAPES[k], tf.random.experimental.stateless_fold_in(seed, i)
        )
        * 2.0
        * CLIP
        for i, k in enumerate(sorted(SHAPES))
      ],
    }

  got = helpers.run(regime, make)
  noise = got['noise']
  assert all(np.any(n != 0) for n in noise)
  helpers.assert_all_close(
    got['clean'], [np.zeros(SHAPES[k]) for k in sorted(SHAPES)]
  )
  helpers.assert_all_close(got['noised'], noise, rtol=1e-6)
  helpers.assert_all_close(got['expected'], [n / 8 for n in noise], rtol=1e-6)
  helpers.assert_all_close(
    got['sum_by_8'], [m * BATCH / 8 for m in got['mean']], rtol=1e-5
  )
  assert got['losses'].shape == (0,)


def test_expected_batch_size_must_be_positive():
  for bad in (0, -1.0, float('nan')):
    with pytest.raises(
      ValueError, match='expected_batch_size must be positive'
    ):
      tfm.clipped_gradients(
        mlp_losses,
        constants(),
        X,
        LABELS,
        l2_norm_clip=CLIP,
        expected_batch_size=bad,
      )


def test_without_private_pfor_gradients_loop_alike(monkeypatch):
  monkeypatch.setattr(_per_example_converters, 'private_pfor', lambda: False)
  got = tfm.per_example_gradients(mlp_losses, constants(), X[:3], LABELS[:3])
  helpers.assert_all_close(
    got,
    loop_of_tapes(mlp_losses, constants(), X[:3], LABELS[:3]),
    rtol=1e-5,
    atol=1e-6,
  )


@pytest.mark.slow
def test_without_private_pfor_every_function_loops_alike(regime, monkeypatch):
  # Where TensorFlow's private pfor is not as expected, every call maps its
  # examples with a tf.while_loop, with the same answers.
  x, labels = X[:5], LABELS[:5]

  def make():
    params = constants()
    return lambda: {
      'grads': tfm.per_example_gradients(mlp_losses, params, x, labels),
      'norms': tfm.per_example_gradient_norms(mlp_losses, params, x, labels),
      'clipped': [
        g
        for g, _ in tfm.clipped_gradients(
          mlp_losses, params, x, labels, l2_norm_clip=CLIP, chunk_size=3
        )
      ],
    }

  vectorised = helpers.run(regime, make)
  monkeypatch.setattr(_per_example_converters, 'private_pfor', lambda: False)
  assert _per_example_map.mapping_for(True, 'api').strategies == (
    _per_example_map.looped,
  )
  looped = helpers.run(regime, make)
  helpers.assert_all_close(looped, vectorised, rtol=1e-5, atol=1e-6)
  want = loop_of_tapes(mlp_losses, constants(), x, labels)
  helpers.assert_all_close(looped['grads'], want, rtol=1e-5, atol=1e-6)


def test_private_pfor_is_checked_before_use():
  modules = {
    'control_flow_ops': _per_example_converters.control_flow_ops,
    'pfor_lib': _per_example_converters.pfor_lib,
  }
  assert _per_example_converters.pfor_is_usable(modules)
  # A name gone, a module gone, or a pfor that ignores our conversions.
  without_wrap = types.SimpleNamespace(
    **{k: v for k, v in vars(modules['pfor_lib']).items() if k != 'wrap'}
  )
  ignoring = types.SimpleNamespace(
    pfor=lambda loop_fn, n, **_: tf.stack(
      [loop_fn(tf.constant(i)) for i in range(n)]
    ),
    _is_under_xla_context=lambda: False,
  )
  for changed in (
    {'pfor_lib': without_wrap},
    {'pfor_lib': None},
    {'control_flow_ops': ignoring},
  ):
    assert not _per_example_converters.pfor_is_usable({**modules, **changed})


@pytest.mark.slow
def test_use_gradient_tape_changes_nothing():
  # Each example's backward pass is a tape's whatever the flag (pfor
  # converts a tape's loops), and the clipped sum's is tf.gradients' (a
  # tape does not see pfor's ops): the graphs are the same op for op.
  def op_types(use_gradient_tape):
    def call(x, y):
      return tfm.clipped_gradients(
        mlp_losses,
        constants(),
        x,
        y,
        l2_norm_clip=CLIP,
        use_gradient_tape=use_gradient_tape,
      )

    graph = (
      tf.function(call, autograph=False)
      .get_concrete_function(X[:4], LABELS[:4])
      .graph
    )
    return sorted(op.type for op in graph.get_operations())

  assert op_types(True) == op_types(False)


def make_keras_model():
  """Embeddings, einsum, convolution and dense layers, each of which the
  outer-product identity covers in its own way."""
  keras.utils.set_random_seed(0)
  return keras.Sequential(
    [
      keras.Input((6,), dtype='int32'),
      keras.layers.Embedding(20, 8),
      keras.layers.Conv1D(6, 3),
      keras.layers.EinsumDense('abc,cd->abd', (4, 5), bias_axes='d'),
      keras.layers.GlobalAveragePooling1D(),
      keras.layers.Dense(3),
    ]
  )


# Few examples: eagerly, a loop of tapes (the graph path is the other
# regimes', and the MLP's above).
KERAS_BATCH = 8
TOKENS = RNG.integers(0, 20, size=(KERAS_BATCH, 6)).astype(np.int32)
TOKEN_LABELS = LABELS[:KERAS_BATCH]
CROSS_ENTROPY = keras.losses.SparseCategoricalCrossentropy(
  from_logits=True, reduction='none'
)


def keras_losses(model, tokens, labels):
  return CROSS_ENTROPY(labels, model(tokens))


@functools.cache
def keras_model_and_reference():
  model = make_keras_model()
  return model, loop_of_tapes(keras_losses, model, TOKENS, TOKEN_LABELS)


@pytest.mark.slow
def test_keras_models(keras_regime):
  model, expected = keras_model_and_reference()
  norms = np.sqrt(
    sum((g.reshape(KERAS_BATCH, -1) ** 2).sum(1) for g in expected)
  )
  assert np.sum(norms > CLIP) >= KERAS_BATCH // 2  # Clipping matters.
  pairs = []

  def make():
    def body():
      clipped = tfm.clipped_gradients(
        keras_losses, model, TOKENS, TOKEN_LABELS, l2_norm_clip=CLIP
      )
      pairs.append(clipped)
      return (
        tfm.per_example_gradients(keras_losses, model, TOKENS, TOKEN_LABELS),
        [g for g, _ in clipped],
      )

    return body

  grads, clipped = helpers.run(keras_regime, make)
  helpers.assert_all_close(grads, expected, rtol=1e-4, atol=1e-6)
  # The clipped mean needs every example's norm: by the identity for the
  # embeddings, einsum and dense layers, by the patches' products for the
  # convolution.
  scale = np.minimum(1.0, CLIP / norms)
  helpers.assert_all_close(
    clipped,
    [np.tensordot(scale, g, 1) / KERAS_BATCH for g in expected],
    rtol=1e-4,
    atol=1e-6,
  )
  for variables in pairs:  # The user's own Keras variables, in order.
    assert [v for _, v in variables] == list(model.trainable_variables)
    assert all(isinstance(v, keras.Variable) for _, v in variables)


@pytest.mark.slow
def test_keras_norms_per_parameter():
  model, expected = keras_model_and_reference()
  norms = tf.function(
    lambda: tfm.per_example_gradient_norms(
      keras_losses, model, TOKENS, TOKEN_LABELS, per_parameter=True
    )
  )()
  helpers.assert_all_close(
    helpers.to_numpy(norms),
    [np.sqrt((g.reshape(KERAS_BATCH, -1) ** 2).sum(1)) for g in expected],
    rtol=1e-4,
    atol=1e-6,
  )


@pytest.mark.slow
def test_clipped_gradients_train_a_keras_model_in_a_tf_function():
  model = make_keras_model()
  optimizer = keras.optimizers.SGD(0.5)
  before = [v.numpy() for v in model.trainable_variables]
  expected = numpy_clipped_mean(
    dict(enumerate(loop_of_tapes(keras_losses, model, TOKENS, TOKEN_LABELS))),
    CLIP,
  )

  @tf.function
  def step(tokens, labels):
    optimizer.apply_gradients(
      tfm.clipped_gradients(
        keras_losses, model, tokens, labels, l2_norm_clip=CLIP
      )
    )

  step(TOKENS, TOKEN_LABELS)
  for k, (old, new) in enumerate(
    zip(before, model.trainable_variables, strict=True)
  ):
    np.testing.assert_allclose(
      new.numpy(), old - 0.5 * expected[k], rtol=1e-4, atol=1e-6
    )


class Affine(tf.Module):
  def __init__(self):
    super().__init__()
    self.w = tf.Variable(VALUES['w1'])
    self.b = tf.Variable(VALUES['b1'])


def test_modules_layers_structures_and_closures():
  expected = loop_of_tapes(mlp_losses, constants(), X, LABELS)
  module, head = Affine(), keras.layers.Dense(3)
  head.build((None, 6))
  head.kernel.assign(VALUES['w2'])
  head.bias.assign(VALUES['b2'])

  def module_and_layer(params, x, y):
    module, head = params
    hidden = tf.tanh(tf.matmul(x, module.w) + module.b)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(y, head(hidden))

  (module_grads, head_grads) = tfm.per_example_gradients(
    module_and_layer, (module, head), X, LABELS
  )
  # tf.Module sorts its variables by name: b before w.
  helpers.assert_all_close(
    [module_grads, head_grads],
    [[expected['b1'], expected['w1']], [expected['w2'], expected['b2']]],
    rtol=1e-4,
    atol=1e-6,
  )

  nested = {
    'layer': [constants()['w1'], (constants()['b1'],)],
    'head': {'w': constants()['w2'], 'b': constants()['b2']},
  }

  def nested_losses(p, x, y):
    return mlp_losses(
      {
        'w1': p['layer'][0],
        'b1': p['layer'][1][0],
        'w2': p['head']['w'],
        'b2': p['head']['b'],
      },
      x,
      y,
    )

  grads = tfm.per_example_gradients(nested_losses, nested, X, LABELS)
  helpers.assert_all_close(
    grads,
    {
      'layer': [expected['w1'], (expected['b1'],)],
      'head': {'w': expected['w2'], 'b': expected['b2']},
    },
    rtol=1e-4,
    atol=1e-6,
  )

  # A loss that reads the model itself, given the model's variables.
  variables = [module.w, module.b, head.kernel, head.bias]
  grads = tfm.per_example_gradients(
    lambda unused, x, y: module_and_layer((module, head), x, y),
    variables,
    X,
    LABELS,
  )
  helpers.assert_all_close(
    grads, [expected[k] for k in ('w1', 'b1', 'w2', 'b2')], rtol=1e-4, atol=1e-6
  )


@pytest.mark.slow
def test_the_identity_forms_no_per_example_gradient():
  keras.utils.set_random_seed(0)
  model = keras.Sequential(
    [keras.Input((64,)), keras.layers.Dense(128, 'relu'), keras.layers.Dense(3)]
  )
  x = RNG.normal(size=(16, 64)).astype(np.float32)
  y = RNG.integers(0, 3, size=16).astype(np.int32)

  def calls(materialize):
    return tf.function(
      lambda: (
        tfm.per_example_gradient_norms(
          keras_losses, model, x, y, materialize_gradients=materialize
        ),
        tfm.clipped_gradients(
          keras_losses,
          model,
          x,
          y,
          l2_norm_clip=CLIP,
          materialize_gradients=materialize,
        ),
      )
    )

  assert not helpers.per_example_sized_tensors(calls(False), 16, 64 * 128)
  # The test can fail: materialised, they are there.
  assert helpers.per_example_sized_tensors(calls(True), 16, 64 * 128)


def test_each_replica_its_own_examples():
  strategy = helpers._strategy()  # pylint: disable=protected-access
  half = BATCH // 2
  values = strategy.experimental_distribute_values_from_function(
    lambda context: (
      X[context.replica_id_in_sync_group * half :][:half],
      LABELS[context.replica_id_in_sync_group * half :][:half],
    )
  )
  with strategy.scope():
    params = {k: tf.Variable(v) for k, v in VALUES.items()}

  @tf.function
  def replicated(x, y):
    return tfm.value_and_per_example_gradient_norms(mlp_losses, params, x, y)

  losses, norms = strategy.run(replicated, args=values)
  total = np.sqrt(sum(n**2 for n in numpy_norms(reference()).values()))
  for replica, (replica_losses, n) in enumerate(
    zip(
      strategy.experimental_local_results(losses),
      strategy.experimental_local_results(norms),
      strict=True,
    )
  ):
    examples = slice(replica * half, (replica + 1) * half)
    np.testing.assert_allclose(n, total[examples], rtol=1e-4)
    np.testing.assert_allclose(
      replica_losses,
      mlp_losses(constants(), X[examples], LABELS[examples]),
      rtol=1e-5,
    )


@pytest.mark.slow
def test_without_eager_execution():
  got = helpers.run_without_eager('''
      w = tf.compat.v1.get_variable('w', initializer=[[1.], [2.]])
      x = tf.constant([[3., 0.], [0., 4.], [1., 1.]])
      losses = lambda w, x: tf.reduce_sum(tf.matmul(x, w) ** 2, axis=-1)
      results = [tfm.per_example_gradients(losses, w, x),
                 tfm.per_example_gradient_norms(losses, w, x),
                 tfm.clipped_gradients(losses, w, x, l2_norm_clip=1.)[0][0]]
      with tf.compat.v1.Session() as session:
        session.run(tf.compat.v1.global_variables_initializer())
        result = session.run(results)
  ''')
  grads = [[[18.0], [0.0]], [[0.0], [64.0]], [[6.0], [6.0]]]  # 2 (x·w) x.
  norms = np.sqrt([324.0, 4096.0, 72.0])
  helpers.assert_all_close(got[0], grads)
  helpers.assert_all_close(got[1], norms, rtol=1e-6)
  helpers.assert_all_close(
    got[2], np.tensordot(np.minimum(1.0, 1.0 / norms), grads, 1) / 3, rtol=1e-6
  )


@pytest.mark.slow
def test_unknown_batch_size_tape_and_chunks_in_a_tf_function():
  @tf.function(
    input_signature=[tf.TensorSpec([None, 4]), tf.TensorSpec([None], tf.int32)]
  )
  def calls(x, y):
    return [
      tfm.per_example_gradients(
        mlp_losses, constants(), x, y, chunk_size=chunk, use_gradient_tape=tape
      )
      for chunk in (None, 5)
      for tape in (False, True)
    ]

  helpers.assert_all_close(
    helpers.to_numpy(calls(X, LABELS)), [reference()] * 4, rtol=1e-4, atol=1e-6
  )


@pytest.mark.slow
def test_eager_loop_and_graph_agree_and_print_nothing():
  messages = []
  handler = logging.Handler()
  handler.emit = lambda record: messages.append(record.getMessage())
  tf.get_logger().addHandler(handler)
  try:
    for _ in range(6):  # tf.function warns of retracing after 5 traces.
      many = tfm.per_example_gradient_norms(
        mlp_losses, constants(), X, LABELS, per_parameter=True
      )
    few = tfm.per_example_gradient_norms(
      mlp_losses, constants(), X[:3], LABELS[:3], per_parameter=True
    )
  finally:
    tf.get_logger().removeHandler(handler)
  assert not messages, messages
  expected = numpy_norms(reference())
  helpers.assert_all_close(helpers.to_numpy(many), expected, rtol=1e-4)
  helpers.assert_all_close(
    helpers.to_numpy(few), {k: v[:3] for k, v in expected.items()}, rtol=1e-4
  )


# --- Errors name what was wrong and the fix.


def scalar_loss(p, x, y):
  return tf.reduce_mean(mlp_losses(p, x, y))


def loss_per_class(p, x, y):
  del y
  return tf.matmul(tf.tanh(tf.matmul(x, p['w1']) + p['b1']), p['w2'])


def loss_of_a_captured_batch(p, x, y):
  del x, y
  return mlp_losses(p, X, LABELS)


ERRORS = [
  (
    lambda: tfm.per_example_gradients(scalar_loss, constants(), X, LABELS),
    ValueError,
    r"returned a scalar.*reduction='none'.*single_example=True",
  ),
  (
    lambda: tfm.per_example_gradients(loss_per_class, constants(), X, LABELS),
    ValueError,
    r'shape \[batch, 3\].*reduce_sum',
  ),
  (
    lambda: tfm.per_example_gradients(
      loss_of_a_captured_batch, constants(), X, LABELS
    ),
    ValueError,
    r'shape \(36,\), not \[1\].*do not follow the batch',
  ),
  (
    lambda: tfm.per_example_gradients(
      lambda p, x, y: mlp_losses(p, x[None], y[None]),
      constants(),
      X,
      LABELS,
      single_example=True,
    ),
    ValueError,
    r'single_example=True.*scalar.*shape \(1,\).*drop single',
  ),
  (
    lambda: tfm.per_example_gradients(mlp_losses, [], X, LABELS),
    ValueError,
    r'no parameters.*model.build',
  ),
  (
    lambda: tfm.per_example_gradients(
      keras_losses, keras.Sequential([keras.layers.Dense(3)]), X, LABELS
    ),
    ValueError,
    r'no parameters.*until it is built',
  ),
  (
    lambda: tfm.per_example_gradients(mlp_losses, tf.constant([1, 2]), X),
    TypeError,
    r'dtype int32.*tf.cast.*labels',
  ),
  (
    lambda: tfm.per_example_gradients(mlp_losses, constants()),
    ValueError,
    r'no inputs.*after `params`',
  ),
  (
    lambda: tfm.per_example_gradients(mlp_losses, constants(), X, 3),
    ValueError,
    r'input 1 is a scalar.*leading batch axis',
  ),
  (
    lambda: tfm.per_example_gradients(mlp_losses, constants(), X, LABELS[:-1]),
    ValueError,
    r'different batch sizes \(input 0 has 36, input 1 has 35',
  ),
  (
    lambda: tfm.per_example_gradients(lambda x, y: x, constants(), X, LABELS),
    TypeError,
    r'called as f\(params, \*inputs\).*lambda model, x, y',
  ),
  (
    lambda: tfm.per_example_gradients(
      lambda p, x, y: None, constants(), X, LABELS
    ),
    ValueError,
    r'Cannot differentiate a function that returns None',
  ),
  (
    lambda: tfm.per_example_gradients(
      mlp_losses, constants(), tf.ragged.constant([[1.0], [2.0, 3.0]])
    ),
    TypeError,
    r'dense Tensors.*to_tensor',
  ),
  (
    lambda: tfm.per_example_gradients(
      mlp_losses, constants(), X, LABELS, chunk_size=0
    ),
    ValueError,
    r'chunk_size must be a positive int',
  ),
  (
    lambda: tfm.clipped_gradients(
      mlp_losses, constants(), X, LABELS, l2_norm_clip=-1.0
    ),
    ValueError,
    r'l2_norm_clip must be non-negative',
  ),
]


@pytest.mark.parametrize(
  'call,error,match', ERRORS, ids=[m.split('.*')[0] for _, _, m in ERRORS]
)
def test_errors(call, error, match):
  with pytest.raises(error, match=match):
    call()


def test_errors_are_the_same_in_a_graph():
  with pytest.raises(ValueError, match=r"returned a scalar.*reduction='none'"):
    tf.function(
      lambda: tfm.per_example_gradient_norms(
        scalar_loss, constants(), X, LABELS
      )
    )()


def mlp_losses_and_logits(p, x, y):
  """One loss per example, and each example's logits as aux."""
  hidden = tf.tanh(tf.matmul(x, p['w1']) + p['b1'])
  logits = tf.matmul(hidden, p['w2']) + p['b2']
  return (
    tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits),
    {'logits': logits, 'label': y},
  )


def without_variables(result):
  """`(x, pairs)` of a clipped call as `(x, gradients)` (tf.distribute
  returns no variables from replicas)."""
  first, pairs = result
  return first, [g for g, _ in pairs]


@pytest.mark.slow
def test_has_aux_returns_each_examples_aux(evaluate):
  def make():
    params = constants()

    def body():
      def call(fn, **kwargs):
        return fn(
          mlp_losses_and_logits, params, X, LABELS, has_aux=True, **kwargs
        )

      def of_one(p, x, y):
        losses, aux = mlp_losses_and_logits(p, x[None], y[None])
        return losses[0], tf.nest.map_structure(lambda a: a[0], aux)

      return {
        'value_and_gradients': call(tfm.value_and_per_example_gradients),
        'gradients': call(tfm.per_example_gradients, chunk_size=7),
        'single_example': tfm.per_example_gradients(
          of_one, params, X, LABELS, has_aux=True, single_example=True
        ),
        'value_and_norms': call(
          tfm.value_and_per_example_gradient_norms, per_parameter=True
        ),
        'norms': call(
          tfm.per_example_gradient_norms,
          materialize_gradients=True,
          per_parameter=True,
        ),
        'value_and_clipped': without_variables(
          call(tfm.value_and_clipped_gradients, l2_norm_clip=CLIP)
        ),
        'clipped': without_variables(
          call(tfm.clipped_gradients, l2_norm_clip=CLIP, chunk_size=7)[::-1]
        )[::-1],
      }

    return body

  got = evaluate(make)
  losses, aux = mlp_losses_and_logits(constants(), X, LABELS)
  aux = helpers.to_numpy(aux)
  norms = numpy_norms(reference())
  clipped = numpy_clipped_mean(reference(), CLIP)
  for key in ('value_and_gradients', 'value_and_norms', 'value_and_clipped'):
    (got_losses, got_aux), _ = got[key]
    helpers.assert_all_close(
      [got_losses, got_aux], [losses.numpy(), aux], rtol=1e-5
    )
  for key in ('gradients', 'single_example', 'norms', 'clipped'):
    helpers.assert_all_close(got[key][1], aux, rtol=1e-5)
  for grads in (
    got['value_and_gradients'][1],
    got['gradients'][0],
    got['single_example'][0],
  ):
    helpers.assert_all_close(grads, reference(), rtol=1e-4, atol=1e-6)
  for per_parameter in (got['value_and_norms'][1], got['norms'][0]):
    helpers.assert_all_close(per_parameter, norms, rtol=1e-4, atol=1e-6)
  for grads in (got['value_and_clipped'][1], got['clipped'][0]):
    helpers.assert_all_close(
      dict(zip(sorted(VALUES), grads, strict=True)),
      clipped,
      rtol=1e-4,
      atol=1e-6,
    )


def test_has_aux_errors():
  with pytest.raises(ValueError, match=r'has_aux=True.*must return a pair'):
    tfm.per_example_gradients(mlp_losses, constants(), X, LABELS, has_aux=True)
  with pytest.raises(ValueError, match=r'aux.*follow the batch axis.*shape'):
    tfm.per_example_gradients(
      lambda p, x, y: (mlp_losses(p, x, y), tf.reduce_mean(x)),
      constants(),
      X,
      LABELS,
      has_aux=True,
    )
