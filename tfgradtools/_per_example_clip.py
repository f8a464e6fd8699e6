"""DP-SGD's aggregate: each example's gradient clipped, summed, noised.

Each example's gradient is scaled to a norm of at most the clip. Where the
outer-product identity gave the norms (`_per_example_ghost`), the clipped
sum is the gradient of the scaled sum of the losses — one backward pass,
and no per-example gradient formed; where gradients were formed, they are
scaled and summed.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfgradtools import _per_example_batch
from tfgradtools import _per_example_map as mapping


def clipped_sum(batch: _per_example_batch.Batch, indices: Any, valid: Any,
                size: Any, l2_norm_clip: float, identity: bool
                ) -> tuple[mapping.Outputs, mapping.Outputs]:
  """One chunk's losses, and its sum of clipped gradients (`grad/k`).

  A chunk function of `_per_example_map.over_chunks`; `identity` lets norms
  come from the outer-product identity.
  """
  out = batch.squared_norms(batch.mapping.examples(
      lambda i: batch.example_outputs(i, identity=identity), indices, size),
                            keep_gradients=True)
  losses = out['loss']
  squared = [tf.cast(out[f'sq/{k}'], losses.dtype)
             for k in range(len(batch.sources)) if f'sq/{k}' in out]
  norms = tf.sqrt(tf.add_n(squared)) if squared else tf.zeros_like(losses)
  tiny = tf.experimental.numpy.finfo(losses.dtype.as_numpy_dtype).tiny
  scale = tf.minimum(tf.ones_like(norms), tf.cast(l2_norm_clip, norms.dtype)
                     / tf.maximum(norms, tiny))
  if valid is not None:
    scale *= tf.cast(valid, scale.dtype)
  sums, identity_covered = {}, []
  for k in range(len(batch.sources)):
    grad = out.get(f'grad/{k}')
    if grad is not None:
      sums[f'grad/{k}'] = tf.tensordot(tf.cast(scale, grad.dtype), grad, 1)
    elif f'sq/{k}' in out:
      identity_covered.append(k)
  if identity_covered:
    sums.update(_scaled_gradients(batch, indices, size, scale, losses,
                                  identity_covered))
  return {'loss': losses}, sums


def _scaled_gradients(batch, indices, size, scale, losses, covered):
  """The gradients of `sum(scale * losses)` w.r.t. the `covered` sources.

  One backward pass through the vectorised forward pass, in its graph.
  Under XLA, pfor computes in a function of its own, and differentiating it
  would differentiate the per-example backward passes too (whose loops
  want accumulators of a size XLA must know): a vectorised forward pass of
  its own is differentiated there.
  """
  if mapping.under_xla():
    losses = batch.mapping.examples(
        lambda i: {'loss': batch.example_loss(i)}, indices, size)['loss']
  sources = [batch.graph_source(batch.sources[k]) for k in covered]
  grads = tf.gradients(
      tf.reduce_sum(tf.stop_gradient(scale) * losses), sources,
      stop_gradients=[s for s in sources if isinstance(s, tf.Tensor)])
  return {f'grad/{k}': tf.convert_to_tensor(grad)
          for k, grad in zip(covered, grads) if grad is not None}


def noised_mean(batch: _per_example_batch.Batch, sums: mapping.Outputs,
                stddev: float, seed: Any) -> list[tuple[Any, Any]]:
  """`(sum + noise) / batch size` per source, paired with the source.

  A source no gradient reaches has `None` (no noise), or zeros (noised)
  with `unconnected_gradients='zero'`.
  """
  pairs = []
  for k, source in enumerate(batch.sources):
    total = batch.or_unconnected(sums.get(f'grad/{k}'), k, batched=False)
    if total is not None:
      if stddev:
        total += _noise(total, stddev, seed, k)
      total /= tf.cast(batch.batch_size, total.dtype)
    pairs.append((total, source))
  return pairs


def _noise(like: tf.Tensor, stddev: float, seed: Any, index: int
           ) -> tf.Tensor:
  """Gaussian noise like `like`; a stateless seed is folded with `index`."""
  shape, dtype = tf.shape(like), like.dtype
  if seed is None:
    return tf.random.normal(shape, stddev=stddev, dtype=dtype)
  if isinstance(seed, tf.random.Generator):
    return seed.normal(shape, stddev=stddev, dtype=dtype)
  if isinstance(seed, int):
    seed = [seed, 0]
  seed = tf.random.experimental.stateless_fold_in(
      tf.cast(seed, tf.int64), index)
  return tf.random.stateless_normal(shape, seed, stddev=stddev, dtype=dtype)


def check_nonnegative(api: str, **values: float) -> None:
  """Raises `ValueError` for a negative clip or noise multiplier."""
  for key, value in values.items():
    if isinstance(value, (int, float)) and value < 0:
      raise ValueError(f'{api}: {key} must be non-negative, got {value!r}.')
