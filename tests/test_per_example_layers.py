"""Per-example gradients of Keras 3's layers and of random ops, against a
loop of hand-written tapes: each example draws its own randomness, and the
common layers vectorise without falling back to a loop."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools.math as tfm

RNG = np.random.default_rng(7)
L = keras.layers


def loop_of_tapes(losses, model, *inputs):
  """Each example's gradient w.r.t. the model's variables, one tape each."""
  variables = [v.value for v in model.trainable_variables]
  grads = []
  for i in range(len(inputs[0])):
    with tf.GradientTape() as tape:
      loss = losses(model, *(x[i : i + 1] for x in inputs))
    grads.append(
      [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
    )
  return [np.stack(g) for g in zip(*grads, strict=True)]


def loop_of_tapes_in_graph(losses, model, *inputs):
  """`loop_of_tapes` as Tensors, for a graph: one tape per example."""
  variables = [v.value for v in model.trainable_variables]
  grads = []
  for i in range(len(inputs[0])):
    with tf.GradientTape() as tape:
      loss = losses(model, *(x[i : i + 1] for x in inputs))
    grads.append(tape.gradient(loss, variables))
  return [list(g) for g in zip(*grads, strict=True)]


def summed(model, x, training=False):
  """One loss per example: the sum of a nonlinearity of the outputs."""
  y = model(x, training=training)
  return tf.reduce_sum(tf.reshape(tf.sin(y), [tf.shape(y)[0], -1]), -1)


def layer_models():
  """One small model per layer, with its input's shape and dtype."""
  keras.utils.set_random_seed(0)
  attention_input = keras.Input((4, 6))
  yield from [
    ('Dense', keras.Sequential([keras.Input((4, 3)), L.Dense(5)]), (4, 3)),
    (
      'EinsumDense',
      keras.Sequential(
        [
          keras.Input((4, 3)),
          L.EinsumDense('abc,cd->abd', (4, 5), bias_axes='d'),
        ]
      ),
      (4, 3),
    ),
    (
      'Embedding',
      keras.Sequential([keras.Input((4,), dtype='int32'), L.Embedding(10, 3)]),
      (4,),
    ),
    ('Conv1D', keras.Sequential([keras.Input((6, 3)), L.Conv1D(4, 3)]), (6, 3)),
    (
      'Conv2D',
      keras.Sequential([keras.Input((5, 5, 2)), L.Conv2D(3, 3)]),
      (5, 5, 2),
    ),
    (
      'Conv3D',
      keras.Sequential([keras.Input((4, 4, 4, 2)), L.Conv3D(3, 2)]),
      (4, 4, 4, 2),
    ),
    (
      'LayerNormalization',
      keras.Sequential([keras.Input((4, 3)), L.LayerNormalization()]),
      (4, 3),
    ),
    (
      'GroupNormalization',
      keras.Sequential([keras.Input((4, 6)), L.GroupNormalization(2)]),
      (4, 6),
    ),
    (
      'MultiHeadAttention',
      keras.Model(
        attention_input,
        L.MultiHeadAttention(2, 3)(attention_input, attention_input),
      ),
      (4, 6),
    ),
    ('LSTM', keras.Sequential([keras.Input((4, 3)), L.LSTM(5)]), (4, 3)),
    ('GRU', keras.Sequential([keras.Input((4, 3)), L.GRU(5)]), (4, 3)),
  ]


LAYERS = list(layer_models())
BATCH = 20


@pytest.mark.slow
@pytest.mark.parametrize(
  'name,model,shape', LAYERS, ids=[name for name, _, _ in LAYERS]
)
def test_keras_layers_vectorise_without_fallback(name, model, shape):
  if name == 'Embedding':
    x = RNG.integers(0, 10, size=(BATCH, *shape)).astype(np.int32)
  else:
    x = RNG.normal(size=(BATCH, *shape)).astype(np.float32)
  expected = loop_of_tapes(summed, model, x)
  with warnings.catch_warnings():
    warnings.simplefilter('error', tfm.VectorizationFallbackWarning)
    grads = tf.function(lambda: tfm.per_example_gradients(summed, model, x))()
  helpers.assert_all_close(
    helpers.to_numpy(grads), expected, rtol=1e-4, atol=1e-5
  )


def test_gather_from_a_variable_vectorises():
  table = tf.Variable(RNG.normal(size=(10, 3)).astype(np.float32))
  ids = RNG.integers(0, 10, size=(BATCH, 4)).astype(np.int32)

  def gathered(table, ids):
    return tf.reduce_sum(tf.sin(tf.gather(table, ids)), [1, 2])

  expected = []
  for i in range(BATCH):
    with tf.GradientTape() as tape:
      loss = gathered(table, ids[i : i + 1])
    expected.append(tf.convert_to_tensor(tape.gradient(loss, table)))
  with warnings.catch_warnings():
    warnings.simplefilter('error', tfm.VectorizationFallbackWarning)
    grads = tfm.per_example_gradients(gathered, table, ids)
    norms = tfm.per_example_gradient_norms(
      gathered, table, ids, materialize_gradients=True
    )
  np.testing.assert_allclose(grads, np.stack(expected), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
    norms, np.sqrt((np.stack(expected) ** 2).sum((1, 2))), rtol=1e-5
  )


def dropout_model(seed):
  keras.utils.set_random_seed(0)
  dropout = L.Dropout(0.5, seed=seed)
  model = keras.Sequential([keras.Input((16,)), L.Dense(16), dropout])
  return model, dropout


def dropped(model, x):
  return summed(model, x, training=True)


@pytest.mark.slow
@pytest.mark.parametrize('regime', ['eager', 'function', 'jit'])
@pytest.mark.parametrize('use_pfor', [True, False])
def test_each_example_draws_its_own_dropout_mask_as_in_a_loop(regime, use_pfor):
  # A seeded Keras Dropout draws example i's mask from its seed generator
  # after i draws: the same masks as a loop of tapes in the same regime (XLA
  # draws other values from a seed), and the generator left where the loop
  # leaves it.
  x = RNG.normal(size=(BATCH, 16)).astype(np.float32)
  looped, dropout = dropout_model(seed=3)

  def loop():
    return tf.stack(loop_of_tapes_in_graph(dropped, looped, x)[0])

  expected = helpers.run(regime, lambda: loop)
  state = dropout.seed_generator.state.numpy()
  model, dropout = dropout_model(seed=3)

  def ours():
    return tfm.per_example_gradients(
      dropped, model, x, experimental_use_pfor=use_pfor
    )[0]

  # Another mask would differ by whole entries; float rounding by 1e-5.
  kernel = helpers.run(regime, lambda: ours)
  helpers.assert_all_close(kernel, expected, rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(dropout.seed_generator.state.numpy(), state)
  masks = expected[:, 0] != 0  # The kernel's gradient: x_0 * mask.
  assert len({m.tobytes() for m in masks}) > BATCH // 2


def test_unmatched_draws_are_independent_across_examples():
  # tf.random.uniform without a seed, and an unseeded Keras Dropout: each
  # example draws its own values, which a loop cannot match value for
  # value, so they are checked for independence.
  size, batch = 500, 64
  w = tf.zeros([size])

  def drawn(w, x):  # The gradient of example i is its draw.
    return tf.reduce_sum(w * tf.random.uniform([size]) * x, -1)

  samples = np.asarray(
    tfm.per_example_gradients(drawn, w, np.ones((batch, size), np.float32))
  )
  assert len({s.tobytes() for s in samples}) == batch
  correlation = np.corrcoef(samples)[np.triu_indices(batch, 1)]
  # Independent uniforms: correlations of 500 pairs are about N(0, 0.045²).
  assert np.abs(correlation).max() < 0.25
  np.testing.assert_allclose(samples.mean(), 0.5, atol=0.01)

  model, _ = dropout_model(seed=None)
  kernel = tfm.per_example_gradients(
    dropped, model, np.ones((batch, 16), np.float32)
  )[0]
  kept = np.asarray(kernel)[:, 0] != 0
  # Each mask keeps about half, and two examples' masks agree on about half.
  np.testing.assert_allclose(kept.mean(), 0.5, atol=0.05)
  agreement = [
    (kept[i] == kept[j]).mean()
    for i in range(batch)
    for j in range(i + 1, batch)
  ]
  np.testing.assert_allclose(np.mean(agreement), 0.5, atol=0.05)
