"""DP-SGD's aggregate: each example's gradient clipped, summed, noised.

Each example's gradient is scaled to a norm of at most the clip. Where the
outer-product identity gave the norms (`ghost`), the clipped
sum is the gradient of the scaled sum of the losses — one backward pass,
and no per-example gradient formed; where gradients were formed, they are
scaled and summed.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _engines
from tfgradtools._per_example import batch as batching
from tfgradtools._per_example import mapping


def clipped_sum(
  batch: batching.Batch,
  indices: Any,
  valid: Any,
  size: Any,
  how: mapping.Mapping,
  l2_norm_clip: Any,
  identity: bool,
) -> tuple[mapping.Outputs, mapping.Outputs, mapping.Mapping]:
  """One chunk's losses (and aux), and its sum of clipped gradients.

  A chunk function of `mapping.over_chunks`; `identity` lets norms come
  from the outer-product identity.
  """
  outputs, how = how.examples(
    lambda i: batch.example_outputs(i, identity=identity), indices, size
  )
  out = batch.squared_norms(outputs, keep_gradients=True)
  losses = out['loss']
  norms = batching.total_norm(
    [out.get(f'sq/{k}') for k in range(len(batch.sources))], losses
  )
  tiny = tf.experimental.numpy.finfo(norms.dtype.as_numpy_dtype).tiny
  scale = tf.minimum(
    tf.ones_like(norms),
    in_dtype(l2_norm_clip, norms.dtype) / tf.maximum(norms, tiny),
  )
  if valid is not None:
    scale *= tf.cast(valid, scale.dtype)
  sums, identity_covered = {}, []
  for k in range(len(batch.sources)):
    grad = out.get(f'grad/{k}')
    if grad is not None:
      sums[f'grad/{k}'] = tf.tensordot(tf.cast(scale, grad.dtype), grad, 1)
    elif f'sq/{k}' in out:
      identity_covered.append(k)
  if identity_covered and isinstance(size, int) and size == 0:
    # The sum over no examples is zero. (Differentiating the vectorised
    # forward pass of no examples is a loop XLA cannot compile.)
    sums.update(
      {
        f'grad/{k}': tf.zeros(batch.sources[k].shape, batch.sources[k].dtype)
        for k in identity_covered
      }
    )
  elif identity_covered:
    sums.update(
      _scaled_gradients(
        batch, indices, size, how, scale, losses, identity_covered
      )
    )
  kept = {
    name: value
    for name, value in out.items()
    if name == 'loss' or name.startswith('aux/')
  }
  return kept, sums, how


def _scaled_gradients(
  batch: batching.Batch,
  indices: Any,
  size: Any,
  how: mapping.Mapping,
  scale: tf.Tensor,
  losses: tf.Tensor,
  covered: list[int],
) -> mapping.Outputs:
  """The gradients of `sum(scale * losses)` w.r.t. the `covered` sources.

  One backward pass through the vectorised forward pass, in its graph, by
  `tf.gradients` (`_engines.record_symbolically`): a tape does not see the
  ops `pfor` builds. Under XLA, pfor computes in a function of its own,
  and differentiating it would differentiate the per-example backward
  passes too (whose loops want accumulators of a size XLA must know): a
  vectorised forward pass of its own is differentiated there.
  """

  def scaled_losses() -> tf.Tensor:
    if not mapping.under_xla():
      return losses
    outputs, _ = how.examples(batch.example_value, indices, size)
    return outputs['loss']

  scaled, recording = _engines.record_symbolically(scaled_losses, [])
  sources = [_args.watch_target(batch.sources[k]) for k in covered]
  grads = recording.gradient(
    [tf.reduce_sum(tf.stop_gradient(tf.cast(scale, scaled.dtype)) * scaled)],
    sources,
    None,
    tf.UnconnectedGradients.NONE,
  )
  # Dense, with the parameter's shape (a gather's gradient, summed into
  # place under XLA, has a first dimension known only at run time).
  return {
    f'grad/{k}': tf.ensure_shape(
      tf.convert_to_tensor(grad), batch.sources[k].shape
    )
    for k, grad in zip(covered, grads, strict=True)
    if grad is not None
  }


def noised_mean(
  batch: batching.Batch,
  sums: mapping.Outputs,
  l2_norm_clip: Any,
  noise_multiplier: Any,
  seed: Any,
  expected_batch_size: Any = None,
) -> list[tuple[Any, Any]]:
  """`(sum + noise) / denominator` per source, paired with the source.

  The noise's standard deviation is `noise_multiplier * l2_norm_clip`, in
  each gradient's dtype. The denominator is `expected_batch_size` if
  given, else the batch's size, or 1 for an empty batch: its sum is zero,
  and its aggregate zeros or the noise alone, never the NaN of 0 / 0. A
  source no gradient reaches has `None` (no noise), or zeros (noised)
  with `unconnected_gradients='zero'`.
  """
  totals = [sums.get(f'grad/{k}') for k in range(len(batch.sources))]
  batch.check_connected(totals)
  pairs = []
  for k, source in enumerate(batch.sources):
    total = batch.or_unconnected(totals[k], k, batched=False)
    if total is not None:
      if _adds_noise(noise_multiplier):
        stddev = in_dtype(noise_multiplier, total.dtype) * in_dtype(
          l2_norm_clip, total.dtype
        )
        total += _noise(total, stddev, seed, k)
      total /= (
        tf.cast(tf.maximum(batch.batch_size, 1), total.dtype)
        if expected_batch_size is None
        else in_dtype(expected_batch_size, total.dtype)
      )
    pairs.append((total, source))
  return pairs


def in_dtype(value: Any, dtype: tf.DType) -> tf.Tensor:
  """A clip bound or noise multiplier in `dtype`.

  A Python number is converted to `dtype` directly, never rounded to
  `float32` on the way (as `tf.cast` of a Python float is); a Tensor is
  cast.
  """
  return tf.cast(tf.convert_to_tensor(value, dtype_hint=dtype), dtype)


def _adds_noise(noise_multiplier: Any) -> bool:
  """Whether to add noise: `0` (a Python number) adds none."""
  return not (
    isinstance(noise_multiplier, (int, float)) and noise_multiplier == 0
  )


def _noise(
  like: tf.Tensor, stddev: tf.Tensor, seed: Any, index: int
) -> tf.Tensor:
  """Gaussian noise like `like`; a stateless seed is folded with `index`.

  Always drawn by TensorFlow's stateless sampler: without a seed, or from
  a `tf.random.Generator`, from a fresh stateless seed drawn from the
  global generator or from that generator (as `Generator.make_seeds`
  gives). The stateful samplers fill a large Tensor on one thread: for a
  1M-parameter model, their noise cost about 0.6 of a batch gradient, the
  stateless sampler's a tenth of that.
  """
  if seed is None:
    seed = tf.random.uniform([2], tf.int64.min, tf.int64.max, dtype=tf.int64)
  elif isinstance(seed, tf.random.Generator):
    seed = seed.make_seeds(1)[:, 0]
  else:
    if isinstance(seed, int):
      seed = [seed, 0]
    seed = tf.random.experimental.stateless_fold_in(
      tf.cast(seed, tf.int64), index
    )
  return (
    tf.random.stateless_normal(tf.shape(like), seed, dtype=like.dtype) * stddev
  )


def check_arguments(
  api: str, l2_norm_clip: Any, noise_multiplier: Any, expected_batch_size: Any
) -> None:
  """Raises `ValueError` for a negative clip or noise multiplier, or an
  expected batch size that is not positive (Python numbers only: Tensors
  are the caller's to check)."""
  for key, value in (
    ('l2_norm_clip', l2_norm_clip),
    ('noise_multiplier', noise_multiplier),
  ):
    if isinstance(value, (int, float)) and value < 0:
      raise ValueError(f'{api}: {key} must be non-negative, got {value!r}.')
  if isinstance(expected_batch_size, (int, float)) and not (
    expected_batch_size > 0
  ):
    raise ValueError(
      f'{api}: expected_batch_size must be positive (or None: the '
      f'batch\'s own size), got {expected_batch_size!r}.'
    )
