"""Per-example gradients, their norms and DP-SGD's clipped aggregate.

The public functions of `tfgradtools.math` for one gradient per example of
a batch. `f` is called as `f(params, *inputs)`, one example at a time
(`batch`), mapped over the batch with `pfor` or in a loop, in chunks,
eagerly in a graph function traced for the call (`mapping`); norms skip the
per-example gradients where the outer-product identity allows (`ghost`),
and so does the clipped aggregate (`clipping`).
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfgradtools import _autograph
from tfgradtools import _calls
from tfgradtools._per_example import batch as batching
from tfgradtools._per_example import clipping as clip
from tfgradtools._per_example import mapping
from tfgradtools._per_example.mapping import (
  VectorizationFallbackWarning as VectorizationFallbackWarning,
)


@_autograph.library_function
def value_and_per_example_gradients(
  f: Callable[..., Any],
  params: Any,
  *inputs: Any,
  single_example: bool = False,
  has_aux: bool = False,
  chunk_size: int | None = None,
  use_gradient_tape: bool = False,
  experimental_use_pfor: bool = True,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
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
  `VectorizationFallbackWarning` naming it. `f` is always traced, as
  `tf.vectorized_map` traces its `fn`: eagerly, in a graph function traced
  for the call, at every batch size and with every keyword, so whether a
  call works and what it returns never depend on them; inside
  `tf.function` nothing is traced again. Each example draws its own random
  values, as in a loop: a seeded Keras 3 random layer (`Dropout`) the very
  masks a loop of tapes draws, stateful ops (`tf.nn.dropout`) independent
  ones.

  #### Examples

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
    single_example: `f` computes one example's scalar loss from inputs
      without their batch axis.
      Default value: `False`.
    has_aux: `f` returns `(losses, aux)`, where `aux` is a structure of
      Tensors per example (with the batch axis of the inputs `f` is given,
      or without it with `single_example`); it is returned stacked over the
      examples, and not differentiated.
      Default value: `False`.
    chunk_size: how many examples are computed at once, to bound memory.
      Default value: `None` (the whole batch: the result holds every
      example's gradient anyway).
    use_gradient_tape: accepted as by every function of `tfgradtools.math`,
      where it makes a graph's backward pass a tape's; here it changes
      nothing, in any regime. Each example's backward pass is vectorised,
      and `pfor` converts the while loops of a tape's backward pass but not
      those of `tf.gradients`, so it is always taken with a
      `tf.GradientTape`; the clipped sum's backward pass goes through the
      vectorised graph, which only `tf.gradients` can differentiate (a tape
      does not record the ops `pfor` builds).
      Default value: `False`.
    experimental_use_pfor: vectorise over the examples; `False` always
      loops (a `tf.while_loop` over the examples: the same results).
      Default value: `True`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_per_example_gradients'`).
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`: the gradient of a parameter the loss does
      not depend on (`'raise'`: one error naming every such parameter and
      why, found on the first example — whether a gradient reaches a
      parameter is a property of `f`'s graph, the same for every example).
      Default value: `'none'`.

  Returns:
    `(losses, gradients)`: the `[batch]` losses, and the gradients
    structured like `params` (a model or module: a list, one per trainable
    variable), each with a leading batch axis. With `has_aux`,
    `((losses, aux), gradients)`, `aux` stacked over the examples.

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
    batch = batching.Batch(
      f,
      params,
      inputs,
      api=api,
      single_example=single_example,
      has_aux=has_aux,
      use_gradient_tape=use_gradient_tape,
      unconnected_gradients=unconnected_gradients,
      experimental_use_pfor=experimental_use_pfor,
      chunk_size=chunk_size,
    )

    def chunk(
      indices: Any, valid: Any, size: Any, how: mapping.Mapping
    ) -> tuple[mapping.Outputs, mapping.Outputs, mapping.Mapping]:
      del valid  # Every example is kept, and the surplus cut.
      stacked, how = how.examples(batch.example_outputs, indices, size)
      return stacked, {}, how

    stacked, _ = mapping.run(
      lambda: mapping.over_chunks(
        chunk, batch.batch_size, batch.chunk_size, batch.first_mapping
      )
    )
    grads = [stacked.get(f'grad/{k}') for k in range(len(batch.sources))]
    batch.check_connected(grads)
    grads = [
      batch.or_unconnected(g, k, batched=True) for k, g in enumerate(grads)
    ]
    return _value(batch, stacked), batch.like_params(grads)


@_autograph.library_function
def per_example_gradients(
  f: Callable[..., Any],
  params: Any,
  *inputs: Any,
  single_example: bool = False,
  has_aux: bool = False,
  chunk_size: int | None = None,
  use_gradient_tape: bool = False,
  experimental_use_pfor: bool = True,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Any:
  """Each example's gradient w.r.t. `params`, without the losses.

  As `value_and_per_example_gradients`, but returns only the gradients.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> w = tf.constant([1., 2.])
      >>> x = tf.constant([[1., 0.], [0., 1.]])
      >>> def loss(w, x):  # One loss per example: w · x.
      ...   return tf.linalg.matvec(x, w)
      >>> tfm.per_example_gradients(loss, w, x).numpy().tolist()
      [[1.0, 0.0], [0.0, 1.0]]

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
    single_example: `f` computes one example's scalar loss from inputs
      without their batch axis.
      Default value: `False`.
    has_aux: `f` returns `(losses, aux)`, where `aux` is a structure of
      Tensors per example (with the batch axis of the inputs `f` is given,
      or without it with `single_example`); it is returned stacked over the
      examples, and not differentiated.
      Default value: `False`.
    chunk_size: how many examples are computed at once, to bound memory.
      Default value: `None` (the whole batch: the result holds every
      example's gradient anyway).
    use_gradient_tape: accepted as by every function of `tfgradtools.math`,
      where it makes a graph's backward pass a tape's; here it changes
      nothing, in any regime. Each example's backward pass is vectorised,
      and `pfor` converts the while loops of a tape's backward pass but not
      those of `tf.gradients`, so it is always taken with a
      `tf.GradientTape`; the clipped sum's backward pass goes through the
      vectorised graph, which only `tf.gradients` can differentiate (a tape
      does not record the ops `pfor` builds).
      Default value: `False`.
    experimental_use_pfor: vectorise over the examples; `False` always
      loops (a `tf.while_loop` over the examples: the same results).
      Default value: `True`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'per_example_gradients'`).
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`: the gradient of a parameter the loss does
      not depend on (`'raise'`: one error naming every such parameter and
      why, found on the first example — whether a gradient reaches a
      parameter is a property of `f`'s graph, the same for every example).
      Default value: `'none'`.

  Returns:
    The gradients structured like `params` (a model or module: a list, one
    per trainable variable), each with a leading batch axis; with
    `has_aux`, `(gradients, aux)`, `aux` stacked over the examples.

  Raises:
    TypeError, ValueError: as `value_and_per_example_gradients`.
  """
  return _calls.without_value(
    value_and_per_example_gradients(
      f,
      params,
      *inputs,
      single_example=single_example,
      has_aux=has_aux,
      chunk_size=chunk_size,
      use_gradient_tape=use_gradient_tape,
      experimental_use_pfor=experimental_use_pfor,
      name=name or 'per_example_gradients',
      unconnected_gradients=unconnected_gradients,
    ),
    has_aux,
  )


@_autograph.library_function
def value_and_per_example_gradient_norms(
  f: Callable[..., Any],
  params: Any,
  *inputs: Any,
  per_parameter: bool = False,
  single_example: bool = False,
  has_aux: bool = False,
  chunk_size: int | None = None,
  materialize_gradients: bool = False,
  use_gradient_tape: bool = False,
  experimental_use_pfor: bool = True,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> tuple[tf.Tensor, Any]:
  """Computes each example's loss and the L2 norm of its gradient.

  `f`, `params` and `inputs` are as in `value_and_per_example_gradients`.
  Where a parameter is used only by matrix products (`tf.matmul`, Keras
  `Dense`), `einsum`s (`EinsumDense`), row gathers (`Embedding`) and as a
  bias, its norms come from the outer-product identity — the products'
  inputs and the gradients of their outputs — without forming its
  per-example gradients: about the cost of one batch gradient. A
  convolution kernel's norms come from the same identity over the input's
  patches where that is cheaper than forming its gradients; broadcast
  scales and offsets (normalisations, biases) are summed per example.
  Other parameters get theirs materialised, a chunk of examples at a time.
  The identity is applied only where it provably holds (the op, which
  operand the parameter is, its rank and the contracted axes), and its
  sums are taken in `float64` where an example's positions could cancel:
  the norms are those of the materialised gradients, to their rounding.

  #### Examples

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
    f: Python callable `f(params, *inputs)` returning one loss per example
      (or, with `single_example`, one example's scalar loss).
    params: what to differentiate: a Tensor, a variable (Keras 3 variables
      too), a list, tuple, dict or nested structure of them, or a Keras 3
      model or layer or a `tf.Module` — differentiated by its
      `trainable_variables`, and passed to `f` as it is. Python numbers
      become `float32` Tensors.
    *inputs: the batch: Tensors, NumPy arrays or structures of them, each
      with the same leading batch axis (integer labels and ids are fine).
    per_parameter: return one norm per parameter (structured like
      `params`) instead of the norm of all of them together.
      Default value: `False`.
    single_example: `f` computes one example's scalar loss from inputs
      without their batch axis.
      Default value: `False`.
    has_aux: `f` returns `(losses, aux)`, where `aux` is a structure of
      Tensors per example (with the batch axis of the inputs `f` is given,
      or without it with `single_example`); it is returned stacked over the
      examples, and not differentiated.
      Default value: `False`.
    chunk_size: how many examples are computed at once, to bound memory.
      Default value: `None` (as many as keep the materialised per-example
      gradients within 256 MiB).
    materialize_gradients: compute every norm from the per-example
      gradients, even where the identity avoids them.
      Default value: `False`.
    use_gradient_tape: accepted as by every function of `tfgradtools.math`,
      where it makes a graph's backward pass a tape's; here it changes
      nothing, in any regime. Each example's backward pass is vectorised,
      and `pfor` converts the while loops of a tape's backward pass but not
      those of `tf.gradients`, so it is always taken with a
      `tf.GradientTape`; the clipped sum's backward pass goes through the
      vectorised graph, which only `tf.gradients` can differentiate (a tape
      does not record the ops `pfor` builds).
      Default value: `False`.
    experimental_use_pfor: vectorise over the examples; `False` always
      loops (a `tf.while_loop` over the examples: the same results).
      Default value: `True`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_per_example_gradient_norms'`).
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`: the gradient of a parameter the loss does
      not depend on (`'raise'`: one error naming every such parameter and
      why, found on the first example — whether a gradient reaches a
      parameter is a property of `f`'s graph, the same for every example).
      Default value: `'none'`.

  Returns:
    `(losses, norms)`: `[batch]` losses, and `[batch]` norms (with
    `per_parameter`, a structure like `params` of `[batch]` norms; `None`,
    or zeros with `unconnected_gradients='zero'`, for a parameter the loss
    does not depend on). With `has_aux`, `((losses, aux), norms)`.

  Raises:
    TypeError, ValueError: as `value_and_per_example_gradients`.
  """
  api = 'value_and_per_example_gradient_norms'
  with tf.name_scope(name or api):
    batch = batching.Batch(
      f,
      params,
      inputs,
      api=api,
      single_example=single_example,
      has_aux=has_aux,
      use_gradient_tape=use_gradient_tape,
      unconnected_gradients=unconnected_gradients,
      experimental_use_pfor=experimental_use_pfor,
      chunk_size=chunk_size,
    )

    def chunk(
      indices: Any, valid: Any, size: Any, how: mapping.Mapping
    ) -> tuple[mapping.Outputs, mapping.Outputs, mapping.Mapping]:
      del valid  # Every example is kept, and the surplus cut.
      outputs, how = how.examples(
        lambda i: batch.example_outputs(i, identity=not materialize_gradients),
        indices,
        size,
      )
      return batch.squared_norms(outputs, keep_gradients=False), {}, how

    stacked, _ = mapping.run(
      lambda: mapping.over_chunks(
        chunk,
        batch.batch_size,
        batch.chunk_for_norms(materialize_gradients),
        batch.first_mapping,
      )
    )
    losses = stacked['loss']
    squared = [stacked.get(f'sq/{k}') for k in range(len(batch.sources))]
    batch.check_connected(squared)
    if per_parameter:
      norms = [
        tf.sqrt(s)
        if s is not None
        else batch.or_unconnected(None, k, like=losses)
        for k, s in enumerate(squared)
      ]
      return _value(batch, stacked), batch.like_params(norms)
    return _value(batch, stacked), batching.total_norm(squared, losses)


@_autograph.library_function
def per_example_gradient_norms(
  f: Callable[..., Any],
  params: Any,
  *inputs: Any,
  per_parameter: bool = False,
  single_example: bool = False,
  has_aux: bool = False,
  chunk_size: int | None = None,
  materialize_gradients: bool = False,
  use_gradient_tape: bool = False,
  experimental_use_pfor: bool = True,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Any:
  """The L2 norm of each example's gradient, without the losses.

  As `value_and_per_example_gradient_norms`, but returns only the norms.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> w = tf.constant([1., 2.])
      >>> x = tf.constant([[3., 0.], [0., 4.]])
      >>> def loss(w, x):
      ...   return tf.linalg.matvec(x, w)
      >>> tfm.per_example_gradient_norms(loss, w, x).numpy().tolist()
      [3.0, 4.0]

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
    per_parameter: return one norm per parameter (structured like
      `params`) instead of the norm of all of them together.
      Default value: `False`.
    single_example: `f` computes one example's scalar loss from inputs
      without their batch axis.
      Default value: `False`.
    has_aux: `f` returns `(losses, aux)`, where `aux` is a structure of
      Tensors per example (with the batch axis of the inputs `f` is given,
      or without it with `single_example`); it is returned stacked over the
      examples, and not differentiated.
      Default value: `False`.
    chunk_size: how many examples are computed at once, to bound memory.
      Default value: `None` (as many as keep the materialised per-example
      gradients within 256 MiB).
    materialize_gradients: compute every norm from the per-example
      gradients, even where the identity avoids them.
      Default value: `False`.
    use_gradient_tape: accepted as by every function of `tfgradtools.math`,
      where it makes a graph's backward pass a tape's; here it changes
      nothing, in any regime. Each example's backward pass is vectorised,
      and `pfor` converts the while loops of a tape's backward pass but not
      those of `tf.gradients`, so it is always taken with a
      `tf.GradientTape`; the clipped sum's backward pass goes through the
      vectorised graph, which only `tf.gradients` can differentiate (a tape
      does not record the ops `pfor` builds).
      Default value: `False`.
    experimental_use_pfor: vectorise over the examples; `False` always
      loops (a `tf.while_loop` over the examples: the same results).
      Default value: `True`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'per_example_gradient_norms'`).
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`: the gradient of a parameter the loss does
      not depend on (`'raise'`: one error naming every such parameter and
      why, found on the first example — whether a gradient reaches a
      parameter is a property of `f`'s graph, the same for every example).
      Default value: `'none'`.

  Returns:
    The `[batch]` norms (with `per_parameter`, a structure like `params`
    of `[batch]` norms); with `has_aux`, `(norms, aux)`.

  Raises:
    TypeError, ValueError: as `value_and_per_example_gradients`.
  """
  return _calls.without_value(
    value_and_per_example_gradient_norms(
      f,
      params,
      *inputs,
      per_parameter=per_parameter,
      single_example=single_example,
      has_aux=has_aux,
      chunk_size=chunk_size,
      materialize_gradients=materialize_gradients,
      use_gradient_tape=use_gradient_tape,
      experimental_use_pfor=experimental_use_pfor,
      name=name or 'per_example_gradient_norms',
      unconnected_gradients=unconnected_gradients,
    ),
    has_aux,
  )


@_autograph.library_function
def value_and_clipped_gradients(
  f: Callable[..., Any],
  params: Any,
  *inputs: Any,
  l2_norm_clip: float,
  noise_multiplier: float = 0.0,
  seed: Any = None,
  expected_batch_size: Any = None,
  single_example: bool = False,
  has_aux: bool = False,
  chunk_size: int | None = None,
  materialize_gradients: bool = False,
  use_gradient_tape: bool = False,
  experimental_use_pfor: bool = True,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> tuple[tf.Tensor, list[tuple[Any, Any]]]:
  """Each example's loss, and DP-SGD's clipped, noised mean gradient.

  Each example's gradient is scaled to an L2 norm of at most
  `l2_norm_clip` (over all parameters together), the scaled gradients are
  summed, Gaussian noise of standard deviation
  `noise_multiplier * l2_norm_clip` is added to the sum, and the sum is
  divided by the batch size (or by `expected_batch_size`): the aggregate of
  DP-SGD (Abadi et al., 2016). An empty batch's sum is zero, so its
  aggregate is zeros plus the noise, never the NaN of a mean over no
  examples: divided by `expected_batch_size`, what DP-SGD on Poisson-sampled
  batches (whose size varies, and may be 0) applies at every step.
  It comes as `(gradient, variable)` pairs, ready for a Keras optimizer's
  `apply_gradients`. Where the outer-product identity covers the
  parameters (see `value_and_per_example_gradient_norms`), the norms cost
  about one batch gradient and the clipped sum one more backward pass; no
  per-example gradient is formed. That backward pass runs through the
  vectorised graph with `tf.gradients` (a tape does not record the ops
  `pfor` builds). Python numbers are taken in the parameters' dtype
  (`float64` stays exact). The clip and the noise are the caller's to
  choose, and the privacy accounting too.

  #### Examples

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
      >>> variables = model.trainable_variables
      >>> [v is w for (_, v), w in zip(grads_and_vars, variables)]
      [True, True]

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
    l2_norm_clip: the largest L2 norm an example's gradient keeps (over all
      parameters together); a Python number is taken in the parameters'
      dtype.
    noise_multiplier: the noise's standard deviation, in units of
      `l2_norm_clip`; `0` adds none.
      Default value: `0.`.
    seed: the noise's seed: `None` (fresh noise every call, from
      TensorFlow's global seed), an int or a shape `[2]` integer Tensor
      (stateless: the same seed gives the same noise; vary it every step),
      or a `tf.random.Generator` (draws from it).
      Default value: `None`.
    expected_batch_size: what the noised sum is divided by, a positive
      number or scalar Tensor: for Poisson-sampled batches, the expected
      size (the sampling rate times the dataset's size), so that every
      step, an empty batch's too, is scaled alike whoever is in the batch.
      Default value: `None` (the batch's own size, or 1 if it is empty).
    single_example: `f` computes one example's scalar loss from inputs
      without their batch axis.
      Default value: `False`.
    has_aux: `f` returns `(losses, aux)`, where `aux` is a structure of
      Tensors per example (with the batch axis of the inputs `f` is given,
      or without it with `single_example`); it is returned stacked over the
      examples, and not differentiated.
      Default value: `False`.
    chunk_size: how many examples are computed at once, to bound memory.
      Default value: `None` (as many as keep the materialised per-example
      gradients within 256 MiB).
    materialize_gradients: clip the materialised per-example gradients even
      where the identity avoids them.
      Default value: `False`.
    use_gradient_tape: accepted as by every function of `tfgradtools.math`,
      where it makes a graph's backward pass a tape's; here it changes
      nothing, in any regime. Each example's backward pass is vectorised,
      and `pfor` converts the while loops of a tape's backward pass but not
      those of `tf.gradients`, so it is always taken with a
      `tf.GradientTape`; the clipped sum's backward pass goes through the
      vectorised graph, which only `tf.gradients` can differentiate (a tape
      does not record the ops `pfor` builds).
      Default value: `False`.
    experimental_use_pfor: vectorise over the examples; `False` always
      loops (a `tf.while_loop` over the examples: the same results).
      Default value: `True`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_clipped_gradients'`).
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`: the gradient of a parameter the loss does
      not depend on: `None` (no noise), zeros (noised), or with `'raise'`
      one error naming every such parameter and why, found on the first
      example — whether a gradient reaches a parameter is a property of
      `f`'s graph, the same for every example.
      Default value: `'none'`.

  Returns:
    `(losses, grads_and_vars)`: the `[batch]` losses, and one
    `(gradient, parameter)` pair per parameter, in the order of
    `tf.nest.flatten(params)` (a model or module: of its
    `trainable_variables`); each parameter is the object the caller holds
    (the Keras 3 variable itself). With `has_aux`,
    `((losses, aux), grads_and_vars)`.

  Raises:
    TypeError, ValueError: as `value_and_per_example_gradients`, and a
      `ValueError` for a negative `l2_norm_clip` or `noise_multiplier`.
  """
  api = 'value_and_clipped_gradients'
  clip.check_arguments(api, l2_norm_clip, noise_multiplier, expected_batch_size)
  with tf.name_scope(name or api):
    batch = batching.Batch(
      f,
      params,
      inputs,
      api=api,
      single_example=single_example,
      has_aux=has_aux,
      use_gradient_tape=use_gradient_tape,
      unconnected_gradients=unconnected_gradients,
      experimental_use_pfor=experimental_use_pfor,
      chunk_size=chunk_size,
    )

    stacked, sums = mapping.run(
      lambda: mapping.over_chunks(
        lambda indices, valid, size, how: clip.clipped_sum(
          batch,
          indices,
          valid,
          size,
          how,
          l2_norm_clip,
          identity=not materialize_gradients,
        ),
        batch.batch_size,
        batch.chunk_for_norms(materialize_gradients),
        batch.first_mapping,
      )
    )
    pairs = clip.noised_mean(
      batch, sums, l2_norm_clip, noise_multiplier, seed, expected_batch_size
    )
    return _value(batch, stacked), pairs


@_autograph.library_function
def clipped_gradients(
  f: Callable[..., Any],
  params: Any,
  *inputs: Any,
  l2_norm_clip: float,
  noise_multiplier: float = 0.0,
  seed: Any = None,
  expected_batch_size: Any = None,
  single_example: bool = False,
  has_aux: bool = False,
  chunk_size: int | None = None,
  materialize_gradients: bool = False,
  use_gradient_tape: bool = False,
  experimental_use_pfor: bool = True,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Any:
  """DP-SGD's clipped, noised mean gradient, without the losses.

  As `value_and_clipped_gradients`, but returns only the `(gradient,
  variable)` pairs.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> w = tf.constant([1., 2.])
      >>> x = tf.constant([[3., 0.], [0., 0.5]])
      >>> def loss(w, x):
      ...   return tf.linalg.matvec(x, w)
      >>> # Gradients [3, 0] (clipped to [1, 0]) and [0, 0.5]: mean [0.5, 0.25].
      >>> (grad, _), = tfm.clipped_gradients(loss, w, x, l2_norm_clip=1.)
      >>> grad.numpy().tolist()
      [0.5, 0.25]

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
    l2_norm_clip: the largest L2 norm an example's gradient keeps (over all
      parameters together); a Python number is taken in the parameters'
      dtype.
    noise_multiplier: the noise's standard deviation, in units of
      `l2_norm_clip`; `0` adds none.
      Default value: `0.`.
    seed: the noise's seed: `None` (fresh noise every call, from
      TensorFlow's global seed), an int or a shape `[2]` integer Tensor
      (stateless: the same seed gives the same noise; vary it every step),
      or a `tf.random.Generator` (draws from it).
      Default value: `None`.
    expected_batch_size: what the noised sum is divided by, a positive
      number or scalar Tensor: for Poisson-sampled batches, the expected
      size (the sampling rate times the dataset's size), so that every
      step, an empty batch's too, is scaled alike whoever is in the batch.
      Default value: `None` (the batch's own size, or 1 if it is empty).
    single_example: `f` computes one example's scalar loss from inputs
      without their batch axis.
      Default value: `False`.
    has_aux: `f` returns `(losses, aux)`, where `aux` is a structure of
      Tensors per example (with the batch axis of the inputs `f` is given,
      or without it with `single_example`); it is returned stacked over the
      examples, and not differentiated.
      Default value: `False`.
    chunk_size: how many examples are computed at once, to bound memory.
      Default value: `None` (as many as keep the materialised per-example
      gradients within 256 MiB).
    materialize_gradients: clip the materialised per-example gradients even
      where the identity avoids them.
      Default value: `False`.
    use_gradient_tape: accepted as by every function of `tfgradtools.math`,
      where it makes a graph's backward pass a tape's; here it changes
      nothing, in any regime. Each example's backward pass is vectorised,
      and `pfor` converts the while loops of a tape's backward pass but not
      those of `tf.gradients`, so it is always taken with a
      `tf.GradientTape`; the clipped sum's backward pass goes through the
      vectorised graph, which only `tf.gradients` can differentiate (a tape
      does not record the ops `pfor` builds).
      Default value: `False`.
    experimental_use_pfor: vectorise over the examples; `False` always
      loops (a `tf.while_loop` over the examples: the same results).
      Default value: `True`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'clipped_gradients'`).
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`: the gradient of a parameter the loss does
      not depend on: `None` (no noise), zeros (noised), or with `'raise'`
      one error naming every such parameter and why, found on the first
      example — whether a gradient reaches a parameter is a property of
      `f`'s graph, the same for every example.
      Default value: `'none'`.

  Returns:
    One `(gradient, parameter)` pair per parameter, as
    `value_and_clipped_gradients` returns them; with `has_aux`,
    `(pairs, aux)`.

  Raises:
    TypeError, ValueError: as `value_and_clipped_gradients`.
  """
  return _calls.without_value(
    value_and_clipped_gradients(
      f,
      params,
      *inputs,
      l2_norm_clip=l2_norm_clip,
      noise_multiplier=noise_multiplier,
      seed=seed,
      expected_batch_size=expected_batch_size,
      single_example=single_example,
      has_aux=has_aux,
      chunk_size=chunk_size,
      materialize_gradients=materialize_gradients,
      use_gradient_tape=use_gradient_tape,
      experimental_use_pfor=experimental_use_pfor,
      name=name or 'clipped_gradients',
      unconnected_gradients=unconnected_gradients,
    ),
    has_aux,
  )


def _value(batch: batching.Batch, stacked: mapping.Outputs) -> Any:
  """The `[batch]` losses, or with `has_aux` `(losses, aux)`."""
  if not batch.has_aux:
    return stacked['loss']
  return stacked['loss'], batch.aux_like_f(stacked)
