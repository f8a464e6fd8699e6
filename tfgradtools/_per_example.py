"""Per-example gradients, their norms and DP-SGD's clipped aggregate.

The public functions of `tfgradtools.math` for one gradient per example of
a batch. `f` is called as `f(params, *inputs)`, one example at a time
(`_per_example_batch`), mapped over the batch with `pfor` or in a loop, in
chunks (`_per_example_map`); norms skip the per-example gradients where the
outer-product identity allows (`_per_example_ghost`). Eagerly, a batch of
more than `EAGER_LOOP_EXAMPLES` examples is vectorised in a graph function
traced for the call (as `tf.vectorized_map` does); a smaller one is a loop
of tapes, which costs less than the trace.
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfgradtools import _per_example_batch
from tfgradtools import _per_example_map as mapping
from tfgradtools._per_example_map import (
    VectorizationFallbackWarning as VectorizationFallbackWarning)

# Library code is traced as it is, not rewritten by AutoGraph inside a
# user's `tf.function` (which costs seconds for this module alone), and so
# is `f`: pfor could not vectorise most of what AutoGraph would make of
# Python control flow on Tensors anyway.
_traced_as_written = tf.autograph.experimental.do_not_convert

# Eagerly, up to this many examples are a loop of tapes; more are vectorised
# in a graph function traced for the call, whose tracing costs about as much
# as 16 to 32 eager forward and backward passes of an MLP
# (`benchmarks/per_example.py`).
EAGER_LOOP_EXAMPLES = 16


@_traced_as_written
def value_and_per_example_gradients(
    f: Callable[..., Any],
    params: Any,
    *inputs: Any,
    single_example: bool = False,
    chunk_size: int | None = None,
    use_gradient_tape: bool = False,
    experimental_use_pfor: bool = True,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none'
) -> tuple[tf.Tensor, Any]:
  """Computes each example's loss and its gradient w.r.t. `params`.

  `f(params, *inputs)` computes the loss of a batch, one entry per example;
  the result holds, for each example, the gradient of its own loss. Two
  ways to write `f`:

  * `single_example=False` (default): `f` takes a batch and returns a
    `[batch]` loss vector — a Keras loss with `reduction='none'`, say. It
    is called on one example at a time, as a batch of one, so each loss
    must depend on its own example only (no batch statistics).
  * `single_example=True`: `f` computes the scalar loss of one example,
    given the inputs without their batch axis (as `jax.vmap(jax.grad(f))`
    would map it).

  Examples are vectorised with TensorFlow's `pfor` (what
  `tf.vectorized_map` uses); where it cannot convert an op, that op (or
  each example) runs in a loop instead, with one
  `VectorizationFallbackWarning` naming it. Eagerly, a batch of more than
  16 examples is vectorised in a graph function traced for the call;
  inside `tf.function` nothing is traced again.

  Example:

  >>> import tensorflow as tf
  >>> import tfgradtools.math as tfm
  >>> w = tf.constant([1., 2.])
  >>> x = tf.constant([[1., 0.], [0., 1.], [1., 1.]])
  >>> y = tf.constant([0., 1., 3.])
  >>> def loss(w, x, y):  # One squared error per example.
  ...   return (tf.linalg.matvec(x, w) - y) ** 2
  >>> losses, grads = tfm.value_and_per_example_gradients(loss, w, x, y)
  >>> losses.numpy().tolist(), grads.numpy().tolist()
  ([1.0, 1.0, 0.0], [[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]])

  Args:
    f: Python callable `f(params, *inputs)` returning one loss per example
      (or, with `single_example`, one example's scalar loss).
    params: what to differentiate: a Tensor, a variable (Keras 3 variables
      too), a list, tuple, dict or nested structure of them, or a Keras 3
      model or layer or a `tf.Module` — differentiated by its
      `trainable_variables`, and passed to `f` as it is. Python numbers
      become `float32` Tensors.
    *inputs: the batch: Tensors, NumPy arrays or structures of them, each
      with the same leading batch axis (integer labels and ids are fine).
    single_example: `f` computes one example's loss from inputs without
      their batch axis.
      Default value: `False`.
    chunk_size: how many examples are computed at once, to bound memory.
      Default value: `None` (the whole batch: the result holds every
      example's gradient anyway).
    use_gradient_tape: differentiate each example with `tf.GradientTape`
      even while building a graph, where `tf.gradients` is used otherwise.
      Default value: `False`.
    experimental_use_pfor: vectorise over the examples; `False` always
      loops.
      Default value: `True`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_per_example_gradients'`).
    unconnected_gradients: `'none'`, `'zero'` or a `tf.UnconnectedGradients`:
      the gradient of a parameter the loss does not depend on.
      Default value: `'none'`.

  Returns:
    `(losses, gradients)`: the `[batch]` losses, and the gradients
    structured like `params` (a model or module: a list, one per trainable
    variable), each with a leading batch axis.

  Raises:
    TypeError: `f` is not callable or returns something that is not a
      floating-point Tensor, or a parameter is not a floating-point Tensor
      or variable.
    ValueError: `params` holds no parameter; there are no inputs, a scalar
      input or inputs of different batch sizes; `f` returns losses of
      another shape than `[batch]` (a scalar with `single_example`).
  """
  api = 'value_and_per_example_gradients'
  with tf.name_scope(name or api):
    batch = _per_example_batch.Batch(
        f, params, inputs, api=api, single_example=single_example,
        use_gradient_tape=use_gradient_tape,
        unconnected_gradients=unconnected_gradients,
        experimental_use_pfor=experimental_use_pfor, chunk_size=chunk_size)

    def compute():
      stacked, _ = mapping.over_chunks(
          lambda indices, valid, size: (batch.mapping.examples(
              lambda i: batch.example_outputs(i, 'gradients'), indices,
              size), {}),
          batch.batch_size, batch.chunk_size)
      return stacked

    stacked = _run(batch, compute)
    grads = [_stacked(stacked, f'grad/{k}', batch, source)
             for k, source in enumerate(batch.sources)]
    return stacked['loss'], batch.like_params(grads)


@_traced_as_written
def per_example_gradients(
    f: Callable[..., Any],
    params: Any,
    *inputs: Any,
    single_example: bool = False,
    chunk_size: int | None = None,
    use_gradient_tape: bool = False,
    experimental_use_pfor: bool = True,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none') -> Any:
  """Each example's gradient w.r.t. `params`, without the losses.

  As `value_and_per_example_gradients` (default name scope
  `'per_example_gradients'`), but returns only the gradients.
  """
  return value_and_per_example_gradients(
      f, params, *inputs, single_example=single_example,
      chunk_size=chunk_size, use_gradient_tape=use_gradient_tape,
      experimental_use_pfor=experimental_use_pfor,
      name=name or 'per_example_gradients',
      unconnected_gradients=unconnected_gradients)[1]


@_traced_as_written
def value_and_per_example_gradient_norms(
    f: Callable[..., Any],
    params: Any,
    *inputs: Any,
    per_parameter: bool = False,
    single_example: bool = False,
    chunk_size: int | None = None,
    materialize_gradients: bool = False,
    use_gradient_tape: bool = False,
    experimental_use_pfor: bool = True,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none'
) -> tuple[tf.Tensor, Any]:
  """Computes each example's loss and the L2 norm of its gradient.

  `f`, `params` and `inputs` are as in `value_and_per_example_gradients`.
  Where a parameter is used only by matrix products (`tf.matmul`, Keras
  `Dense`), `einsum`s (`EinsumDense`), row gathers (`Embedding`) and as a
  bias, its norms come from the outer-product identity — the products'
  inputs and the gradients of their outputs — without forming its
  per-example gradients: about the cost of one batch gradient. Other
  parameters (convolutions, normalisations...) get theirs materialised, a
  chunk of examples at a time. This needs a graph: eagerly, a batch of more
  than 16 examples runs in a graph function traced for the call, and a
  smaller one materialises every gradient.

  Example:

  >>> import tensorflow as tf
  >>> import tfgradtools.math as tfm
  >>> w = {'kernel': tf.constant([[1.], [2.]]), 'bias': tf.constant([0.])}
  >>> x = tf.constant([[3., 0.], [0., 4.]])
  >>> def loss(w, x):
  ...   return tf.reduce_sum(tf.matmul(x, w['kernel']) + w['bias'], axis=-1)
  >>> losses, norms = tfm.value_and_per_example_gradient_norms(loss, w, x)
  >>> [round(float(n), 4) for n in norms]  # sqrt(3² + 1²), sqrt(4² + 1²)
  [3.1623, 4.1231]
  >>> _, norms = tfm.value_and_per_example_gradient_norms(
  ...     loss, w, x, per_parameter=True)
  >>> {k: v.numpy().tolist() for k, v in norms.items()}
  {'kernel': [3.0, 4.0], 'bias': [1.0, 1.0]}

  Args:
    f, params, *inputs, single_example, use_gradient_tape,
      experimental_use_pfor, unconnected_gradients: as in
      `value_and_per_example_gradients`.
    per_parameter: return one norm per parameter (structured like
      `params`) instead of the norm of all of them together.
      Default value: `False`.
    chunk_size: how many examples are computed at once.
      Default value: `None` (as many as keep the materialised per-example
      gradients within 256 MiB).
    materialize_gradients: compute every norm from the per-example
      gradients, even where the identity avoids them.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_per_example_gradient_norms'`).

  Returns:
    `(losses, norms)`: `[batch]` losses, and `[batch]` norms (with
    `per_parameter`, a structure like `params` of `[batch]` norms; `None`,
    or zeros with `unconnected_gradients='zero'`, for a parameter the loss
    does not depend on).

  Raises:
    TypeError, ValueError: as `value_and_per_example_gradients`.
  """
  api = 'value_and_per_example_gradient_norms'
  with tf.name_scope(name or api):
    batch = _per_example_batch.Batch(
        f, params, inputs, api=api, single_example=single_example,
        use_gradient_tape=use_gradient_tape,
        unconnected_gradients=unconnected_gradients,
        experimental_use_pfor=experimental_use_pfor, chunk_size=chunk_size)

    def compute():
      stacked, _ = mapping.over_chunks(
          lambda indices, valid, size: (batch.mapping.examples(
              lambda i: batch.example_outputs(
                  i, 'norms', identity=not materialize_gradients),
              indices, size), {}),
          batch.batch_size, _chunk(batch, materialize_gradients))
      return stacked

    stacked = _run(batch, compute)
    losses = stacked['loss']
    squared = [stacked.get(f'sq/{k}') for k in range(len(batch.sources))]
    if per_parameter:
      norms = [tf.sqrt(s) if s is not None else
               _unconnected_norms(batch, losses) for s in squared]
      return losses, batch.like_params(norms)
    connected = [s for s in squared if s is not None]
    if not connected:
      return losses, tf.zeros_like(losses)
    return losses, tf.sqrt(tf.add_n([tf.cast(s, losses.dtype)
                                     for s in connected]))


@_traced_as_written
def per_example_gradient_norms(
    f: Callable[..., Any],
    params: Any,
    *inputs: Any,
    per_parameter: bool = False,
    single_example: bool = False,
    chunk_size: int | None = None,
    materialize_gradients: bool = False,
    use_gradient_tape: bool = False,
    experimental_use_pfor: bool = True,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none') -> Any:
  """The L2 norm of each example's gradient, without the losses.

  As `value_and_per_example_gradient_norms` (default name scope
  `'per_example_gradient_norms'`), but returns only the norms.
  """
  return value_and_per_example_gradient_norms(
      f, params, *inputs, per_parameter=per_parameter,
      single_example=single_example, chunk_size=chunk_size,
      materialize_gradients=materialize_gradients,
      use_gradient_tape=use_gradient_tape,
      experimental_use_pfor=experimental_use_pfor,
      name=name or 'per_example_gradient_norms',
      unconnected_gradients=unconnected_gradients)[1]


@_traced_as_written
def value_and_clipped_gradients(
    f: Callable[..., Any],
    params: Any,
    *inputs: Any,
    l2_norm_clip: float,
    noise_multiplier: float = 0.,
    seed: Any = None,
    single_example: bool = False,
    chunk_size: int | None = None,
    materialize_gradients: bool = False,
    use_gradient_tape: bool = False,
    experimental_use_pfor: bool = True,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none'
) -> tuple[tf.Tensor, list[tuple[Any, Any]]]:
  """Each example's loss, and DP-SGD's clipped, noised mean gradient.

  Each example's gradient is scaled to an L2 norm of at most
  `l2_norm_clip` (over all parameters together), the scaled gradients are
  summed, Gaussian noise of standard deviation
  `noise_multiplier * l2_norm_clip` is added to the sum, and the sum is
  divided by the batch size: the aggregate of DP-SGD (Abadi et al., 2016).
  It comes as `(gradient, variable)` pairs, ready for a Keras optimizer's
  `apply_gradients`. Where the outer-product identity covers the
  parameters (see `value_and_per_example_gradient_norms`), the norms cost
  about one batch gradient and the clipped sum one more backward pass; no
  per-example gradient is formed. The norms of the noise and of the clip
  are the caller's to choose, and the privacy accounting too.

  Example:

  >>> import keras
  >>> import numpy as np
  >>> import tfgradtools.math as tfm
  >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
  >>> x = np.ones((4, 3), 'float32')
  >>> y = np.zeros((4, 1), 'float32')
  >>> def loss(model, x, y):
  ...   return keras.losses.mean_squared_error(y, model(x))
  >>> losses, grads_and_vars = tfm.value_and_clipped_gradients(
  ...     loss, model, x, y, l2_norm_clip=1.0, noise_multiplier=1.1, seed=0)
  >>> _ = keras.optimizers.SGD(0.1).apply_gradients(grads_and_vars)
  >>> [v is w for (_, v), w in zip(grads_and_vars, model.trainable_variables)]
  [True, True]

  Args:
    f, params, *inputs, single_example, use_gradient_tape,
      experimental_use_pfor: as in `value_and_per_example_gradients`.
    l2_norm_clip: the largest L2 norm an example's gradient keeps.
    noise_multiplier: the noise's standard deviation, in units of
      `l2_norm_clip`; `0` adds none.
      Default value: `0.`.
    seed: the noise's seed: `None` (fresh noise every call, from
      TensorFlow's global seed), an int or a shape `[2]` integer Tensor
      (stateless: the same seed gives the same noise; vary it every step),
      or a `tf.random.Generator` (draws from it).
      Default value: `None`.
    chunk_size: how many examples are computed at once.
      Default value: `None` (as many as keep the materialised per-example
      gradients within 256 MiB).
    materialize_gradients: clip the materialised per-example gradients even
      where the identity avoids them.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_clipped_gradients'`).
    unconnected_gradients: the gradient of a parameter the loss does not
      depend on: `'none'` (`None`, no noise) or `'zero'` (zeros, noised).
      Default value: `'none'`.

  Returns:
    `(losses, grads_and_vars)`: the `[batch]` losses, and one
    `(gradient, parameter)` pair per parameter, in the order of
    `tf.nest.flatten(params)` (a model or module: of its
    `trainable_variables`); each parameter is the object the caller holds
    (the Keras 3 variable itself).

  Raises:
    TypeError, ValueError: as `value_and_per_example_gradients`, and a
      `ValueError` for a negative `l2_norm_clip` or `noise_multiplier`.
  """
  api = 'value_and_clipped_gradients'
  _check_nonnegative(api, l2_norm_clip=l2_norm_clip,
                     noise_multiplier=noise_multiplier)
  with tf.name_scope(name or api):
    batch = _per_example_batch.Batch(
        f, params, inputs, api=api, single_example=single_example,
        use_gradient_tape=use_gradient_tape,
        unconnected_gradients=unconnected_gradients,
        experimental_use_pfor=experimental_use_pfor, chunk_size=chunk_size)

    def compute():
      stacked, sums = mapping.over_chunks(
          lambda indices, valid, size: _clipped_chunk(
              batch, indices, valid, size, l2_norm_clip,
              not materialize_gradients),
          batch.batch_size, _chunk(batch, materialize_gradients))
      return stacked['loss'], sums

    losses, sums = _run(batch, compute)
    pairs = []
    for k, source in enumerate(batch.sources):
      total = sums.get(f'grad/{k}')
      if total is None:
        total = batch.unconnected_like(source, batched=False)
      if total is not None:
        if noise_multiplier:
          total += _noise(total, noise_multiplier * l2_norm_clip, seed, k)
        total /= tf.cast(batch.batch_size, total.dtype)
      pairs.append((total, source))
    return losses, pairs


@_traced_as_written
def clipped_gradients(
    f: Callable[..., Any],
    params: Any,
    *inputs: Any,
    l2_norm_clip: float,
    noise_multiplier: float = 0.,
    seed: Any = None,
    single_example: bool = False,
    chunk_size: int | None = None,
    materialize_gradients: bool = False,
    use_gradient_tape: bool = False,
    experimental_use_pfor: bool = True,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none'
) -> list[tuple[Any, Any]]:
  """DP-SGD's clipped, noised mean gradient, without the losses.

  As `value_and_clipped_gradients` (default name scope
  `'clipped_gradients'`), but returns only the `(gradient, variable)`
  pairs.
  """
  return value_and_clipped_gradients(
      f, params, *inputs, l2_norm_clip=l2_norm_clip,
      noise_multiplier=noise_multiplier, seed=seed,
      single_example=single_example, chunk_size=chunk_size,
      materialize_gradients=materialize_gradients,
      use_gradient_tape=use_gradient_tape,
      experimental_use_pfor=experimental_use_pfor,
      name=name or 'clipped_gradients',
      unconnected_gradients=unconnected_gradients)[1]


class _GraphCall:
  """One eager call's computation, as the Python function of a graph.

  A new object per call: `tf.function` counts retraces per function code,
  and a call traced afresh by design is not a retrace to warn about.
  """

  def __init__(self, compute: Callable[[], Any]):
    self._compute = compute

  def __call__(self) -> Any:
    return self._compute()


def _run(batch: _per_example_batch.Batch, compute: Callable[[], Any]) -> Any:
  """`compute()` in the regime: see the module docstring for eager calls."""
  if tf.executing_eagerly():
    if batch.mapping.vectorize and batch.batch_size > EAGER_LOOP_EXAMPLES:
      return tf.function(_GraphCall(compute), autograph=False)()
    batch.mapping.vectorize = False
  return compute()


def _chunk(batch: _per_example_batch.Batch,
           materialize_gradients: bool) -> int | None:
  """The chunk size for norms: budget the gradients that are materialised."""
  chunk = batch.default_chunk(None)
  if (chunk is None or batch.chunk_size is not None or materialize_gradients
      or not batch.mapping.vectorize):
    return chunk
  return batch.default_chunk(batch.materialised_sources())


def _clipped_chunk(batch, indices, valid, size, l2_norm_clip, identity):
  """One chunk's losses, and its sum of clipped gradients (`grad/k`)."""
  out = batch.mapping.examples(
      lambda i: batch.example_outputs(i, 'clipped', identity=identity),
      indices, size)
  losses = out['loss']
  squared = [tf.cast(out[f'sq/{k}'], losses.dtype)
             for k in range(len(batch.sources)) if f'sq/{k}' in out]
  norms = tf.sqrt(tf.add_n(squared)) if squared else tf.zeros_like(losses)
  clip = tf.cast(l2_norm_clip, losses.dtype)
  scale = tf.minimum(tf.ones_like(norms),
                     clip / tf.maximum(norms, tf.experimental.numpy.finfo(
                         losses.dtype.as_numpy_dtype).tiny))
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
    # The clipped sum is the gradient of the scaled sum of the losses: one
    # backward pass through the vectorised forward pass, in its graph.
    # Under XLA, pfor computes in a function of its own, and differentiating
    # it would differentiate the per-example backward passes too (their
    # loops want accumulators of a size XLA must know): a vectorised
    # forward pass of its own is differentiated there.
    if mapping.under_xla():
      losses = batch.mapping.examples(
          lambda i: {'loss': batch.example_loss(i)}, indices, size)['loss']
    sources = [batch.graph_source(batch.sources[k]) for k in identity_covered]
    grads = tf.gradients(
        tf.reduce_sum(tf.stop_gradient(scale) * losses), sources,
        stop_gradients=[s for s in sources if isinstance(s, tf.Tensor)])
    for k, grad in zip(identity_covered, grads):
      if grad is not None:
        sums[f'grad/{k}'] = tf.convert_to_tensor(grad)
  return {'loss': out['loss']}, sums


def _stacked(stacked, key, batch, source):
  value = stacked.get(key)
  return value if value is not None else batch.unconnected_like(
      source, batched=True)


def _unconnected_norms(batch, losses):
  if batch.unconnected is tf.UnconnectedGradients.ZERO:
    return tf.zeros_like(losses)
  return None


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


def _check_nonnegative(api: str, **values: float) -> None:
  for key, value in values.items():
    if isinstance(value, (int, float)) and value < 0:
      raise ValueError(f'{api}: {key} must be non-negative, got {value!r}.')
