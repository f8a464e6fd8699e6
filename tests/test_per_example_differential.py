"""Every per-example function against a loop of hand-written tapes, at the
batch sizes and chunk sizes around the paths' thresholds, in every regime.

The model exercises each way a parameter can reach the loss: a kernel
applied to a sequence whose positions cancel (and, the same kernel, to
gathered embeddings), an embedding table, a batch of weight matrices as the
right operand of `tf.matmul`, a convolution kernel and biases.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools.math as tfm

RNG = np.random.default_rng(25)
SHAPES = {
  'w': (8, 5),
  'b': (5,),
  'table': (12, 8),
  'batched': (3, 4, 5),
  'kernel': (3, 3, 2, 4),
  'unused': (2,),
}
VALUES = {k: RNG.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}
MAX_BATCH = 64
CLIP = 1.0


def cancelling_sequences(batch: int) -> np.ndarray:
  """Sequences whose two positions nearly cancel: `x₁ ≈ -x₀`, large."""
  first = 100.0 * RNG.normal(size=(batch, 1, 8))
  second = -first + 1e-2 * RNG.normal(size=(batch, 1, 8))
  return np.concatenate([first, second], 1).astype(np.float32)


INPUTS = (
  cancelling_sequences(MAX_BATCH),
  RNG.integers(0, 12, size=(MAX_BATCH, 4)).astype(np.int32),
  RNG.normal(size=(MAX_BATCH, 3, 2, 4)).astype(np.float32),
  RNG.normal(size=(MAX_BATCH, 5, 5, 2)).astype(np.float32),
)


def losses(p, sequence, ids, matrices, images):
  """One loss per example; linear in the sequence, so its positions'
  contributions to `w`'s gradient cancel."""
  on_sequence = tf.reduce_sum(tf.matmul(sequence, p['w']) + p['b'], [1, 2])
  embedded = tf.reduce_sum(
    tf.sin(tf.matmul(tf.gather(p['table'], ids), p['w'])), [1, 2]
  )
  batched = tf.reduce_sum(tf.sin(tf.matmul(matrices, p['batched'])), [1, 2, 3])
  convolved = tf.reduce_sum(
    tf.tanh(tf.nn.conv2d(images, p['kernel'], 1, 'VALID')), [1, 2, 3]
  )
  return 1e-2 * on_sequence + embedded + batched + convolved


def loop_of_tapes(batch: int) -> dict[str, np.ndarray]:
  """Each example's gradient, one tape per example, eagerly."""
  params = {k: tf.constant(v) for k, v in VALUES.items()}
  used = [k for k in SHAPES if k != 'unused']
  grads = {k: [] for k in used}
  for i in range(batch):
    with tf.GradientTape() as tape:
      tape.watch(params)
      loss = losses(params, *(x[i : i + 1] for x in INPUTS))
    for k, g in zip(
      used, tape.gradient(loss, [params[k] for k in used]), strict=True
    ):
      grads[k].append(tf.convert_to_tensor(g).numpy())
  return {
    k: np.stack(g) if g else np.zeros((0, *SHAPES[k]), np.float32)
    for k, g in grads.items()
  }


@functools.cache
def expected(batch: int) -> dict[str, object]:
  """Gradients, norms and the clipped mean, from the loop of tapes."""
  grads = loop_of_tapes(batch)
  grads['unused'] = None
  formed = {k: g.astype(np.float64) for k, g in grads.items() if g is not None}
  squared = {
    k: (g.reshape(batch, g[0].size if batch else 0) ** 2).sum(1)
    for k, g in formed.items()
  }
  total = np.sqrt(sum(squared.values()))
  scale = np.minimum(1.0, CLIP / np.maximum(total, 1e-30))
  # An empty batch's sum is zero, divided by 1: no mean over no examples.
  clipped = {
    k: np.tensordot(scale, g, 1) / max(batch, 1) for k, g in formed.items()
  }
  return {
    'grads': grads,
    'norms': total,
    'per_parameter': dict(
      {k: np.sqrt(s) for k, s in squared.items()}, unused=None
    ),
    'clipped': dict(clipped, unused=None),
  }


def every_function(batch: int, chunk: int | None):
  """A body computing every per-example function on `batch` examples."""

  def make():
    params = {k: tf.constant(v) for k, v in VALUES.items()}
    inputs = [x[:batch] for x in INPUTS]

    def clipped(pairs):
      return dict(zip(sorted(params), [g for g, _ in pairs], strict=True))

    def body():
      kwargs = dict(chunk_size=chunk)
      losses_, grads = tfm.value_and_per_example_gradients(
        losses, params, *inputs, **kwargs
      )
      norm_losses, norms = tfm.value_and_per_example_gradient_norms(
        losses, params, *inputs, **kwargs
      )
      clip_losses, pairs = tfm.value_and_clipped_gradients(
        losses, params, *inputs, l2_norm_clip=CLIP, **kwargs
      )
      return {
        'losses': [losses_, norm_losses, clip_losses],
        'grads': [
          grads,
          tfm.per_example_gradients(losses, params, *inputs, **kwargs),
        ],
        'norms': [
          norms,
          tfm.per_example_gradient_norms(
            losses, params, *inputs, materialize_gradients=True, **kwargs
          ),
        ],
        'per_parameter': tfm.per_example_gradient_norms(
          losses, params, *inputs, per_parameter=True, **kwargs
        ),
        'clipped': [
          clipped(pairs),
          clipped(
            tfm.clipped_gradients(
              losses,
              params,
              *inputs,
              l2_norm_clip=CLIP,
              materialize_gradients=True,
              **kwargs,
            )
          ),
        ],
      }

    return body

  return make


CASES = [
  (regime, batch, chunk)
  for regime in ('eager', 'function', 'jit', 'tf1_session')
  for batch in (0, 1, 16, 17, 64)
  for chunk in (None, 5)
]


@pytest.mark.slow
@pytest.mark.parametrize('regime,batch,chunk', CASES)
def test_every_function_against_a_loop_of_tapes(regime, batch, chunk):
  got = helpers.run(regime, every_function(batch, chunk))
  want = expected(batch)
  own = losses(
    {k: tf.constant(v) for k, v in VALUES.items()}, *(x[:batch] for x in INPUTS)
  ).numpy()
  helpers.assert_all_close(got['losses'], [own] * 3, rtol=1e-5, atol=1e-5)
  helpers.assert_all_close(
    got['grads'], [want['grads']] * 2, rtol=1e-4, atol=1e-5
  )
  helpers.assert_all_close(got['norms'], [want['norms']] * 2, rtol=1e-5)
  helpers.assert_all_close(
    got['per_parameter'], want['per_parameter'], rtol=1e-5
  )
  helpers.assert_all_close(
    got['clipped'], [want['clipped']] * 2, rtol=1e-4, atol=1e-6
  )


def test_norms_of_cancelling_positions_are_exact():
  # A Dense kernel on sequences whose positions cancel to 1e-4 of their
  # size: the Gram matrices' terms are 1e8 times the squared norm.
  kernel = tf.constant(VALUES['w'])
  sequences = cancelling_sequences(32)

  def dense_on_sequences(w, x):
    return tf.reduce_sum(tf.matmul(x, w), [1, 2])

  grads = np.stack(
    [
      np.einsum('ti,to->io', x.astype(np.float64), np.ones((2, 5)))
      for x in sequences
    ]
  )
  exact = np.sqrt((grads.reshape(32, -1) ** 2).sum(1))
  norms = tfm.per_example_gradient_norms(dense_on_sequences, kernel, sequences)
  # Within float32 rounding of the (materialised) gradient's own entries.
  np.testing.assert_allclose(norms, exact, rtol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize('regime', ['eager', 'function', 'jit'])
def test_a_batch_of_weight_matrices_is_not_taken_for_one(regime):
  # [3, 4, 5] weights, the right operand of a matmul of [3, 2, 4] inputs:
  # not `x @ w` with one matrix, so no outer-product identity.
  weights = tf.constant(VALUES['batched'])
  matrices = INPUTS[2][:20]

  def batched_matmul(w, x):
    return tf.reduce_sum(tf.sin(tf.matmul(x, w)), [1, 2, 3])

  grads = []
  for x in matrices:
    with tf.GradientTape() as tape:
      tape.watch(weights)
      loss = batched_matmul(weights, x[None])
    grads.append(tape.gradient(loss, weights).numpy())
  exact = np.sqrt((np.stack(grads).reshape(20, -1) ** 2).sum(1))
  norms = helpers.run(
    regime,
    lambda: (
      lambda: tfm.per_example_gradient_norms(batched_matmul, weights, matrices)
    ),
  )
  np.testing.assert_allclose(norms, exact, rtol=1e-5)


@pytest.mark.parametrize('dtype', ['float16', 'bfloat16', 'float32', 'float64'])
def test_python_numbers_are_taken_in_the_parameters_dtype(dtype):
  w = tf.constant(VALUES['w'][:4, :3], dtype)
  x = tf.constant(RNG.normal(size=(20, 4)), dtype)

  def squared(w, x):
    return tf.reduce_sum(tf.matmul(x, w) ** 2, -1)

  grads = []
  for i in range(20):
    with tf.GradientTape() as tape:
      tape.watch(w)
      loss = squared(w, x[i : i + 1])
    grads.append(tape.gradient(loss, w))
  grads = np.stack([g.numpy().astype(np.float64) for g in grads])
  norms = np.sqrt((grads.reshape(20, -1) ** 2).sum(1))
  clip = 0.1  # Not a float32 number: rounded to one, float64 results move.
  want = np.tensordot(np.minimum(1.0, clip / norms), grads, 1) / 20
  ((got, _),) = tfm.clipped_gradients(squared, w, x, l2_norm_clip=clip)
  assert got.dtype == dtype
  rtol = {'float16': 2e-2, 'bfloat16': 5e-2, 'float32': 1e-5, 'float64': 1e-13}[
    dtype
  ]
  np.testing.assert_allclose(
    np.asarray(got, np.float64), want, rtol=rtol, atol=rtol * np.abs(want).max()
  )
  # The noise's standard deviation too: noise_multiplier * clip, unrounded.
  seed = tf.constant([4, 2], tf.int64)
  ((noised, _),) = tfm.clipped_gradients(
    squared, w, x, l2_norm_clip=clip, noise_multiplier=1.3, seed=seed
  )
  noise = (
    tf.random.stateless_normal(
      w.shape, tf.random.experimental.stateless_fold_in(seed, 0), dtype=dtype
    )
    * tf.constant(1.3, dtype)
    * tf.constant(clip, dtype)
  )
  np.testing.assert_allclose(
    np.asarray(noised, np.float64),
    np.asarray((got * 20 + noise) / 20, np.float64),
    rtol=rtol,
    atol=rtol * 1e-2,
  )
