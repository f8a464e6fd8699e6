"""One per-example call: its function, parameters and batch, checked.

`Batch` holds what the public functions of `_per_example` share: the
parameters (Tensors, variables, structures, modules expanded to their
trainable variables), the inputs with their batch size, the checks with
their error messages, and the body that computes one example — its loss,
and its gradients or their squared norms — which `mapping` maps
over the batch.

`f` is called as `f(params, *example_inputs)`: with a batch of one example
(`single_example=False`, `f` returns a `[1]` loss vector), or with one
example without its batch axis (`single_example=True`, a scalar loss). One
example at a time is what makes each gradient that example's alone.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _autograph
from tfgradtools import _core
from tfgradtools import _engines
from tfgradtools import _errors
from tfgradtools import _nest
from tfgradtools._diagnosis import _arguments
from tfgradtools._per_example import ghost
from tfgradtools._per_example import mapping

# Materialised per-example gradients held at once by the norms and the
# clipped aggregate (the default `chunk_size` keeps a chunk within it).
CHUNK_BYTES = 1 << 28


class Batch:
  """`f`, its parameters and its batch of inputs, checked.

  Args:
    f: the loss function, called as `f(params, *inputs)` on one example.
    params: what to differentiate: Tensors, variables, structures of them,
      Keras 3 models and layers or `tf.Module`s (their trainable
      variables).
    inputs: the batch: Tensors (or structures of them) with a leading batch
      axis of the same size.
    api: the public function's name, for error messages.
    single_example: `f` computes one example's scalar loss from inputs
      without their batch axis; else `f` returns a `[batch]` loss vector.
    use_gradient_tape: differentiate each example with a tape in a graph.
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`.
    experimental_use_pfor: vectorise (else loop over the examples).
    chunk_size: examples computed at once, or `None` for the default.
    has_aux: `f` returns `(losses, aux)`, aux per example.
  """

  def __init__(
    self,
    f: Callable[..., Any],
    params: Any,
    inputs: Sequence[Any],
    *,
    api: str,
    single_example: bool,
    use_gradient_tape: bool,
    unconnected_gradients: Any,
    experimental_use_pfor: bool,
    chunk_size: int | None,
    has_aux: bool = False,
  ):
    _errors.check_callable(f, api)
    self.f = f
    self.has_aux = has_aux
    self.aux_structure: Any = None  # Seen when `f` is traced.
    self.api = api
    self.single_example = single_example
    self.use_gradient_tape = use_gradient_tape
    self.unconnected = _args.as_unconnected_gradients(unconnected_gradients)
    self.first_mapping = mapping.mapping_for(experimental_use_pfor, api)
    self.chunk_size = _checked_chunk_size(chunk_size, api)
    leaves = [_args.to_math_source(x) for x in _nest.flatten(params)]
    self.params = _nest.pack(params, leaves)
    self._structure = params
    self._bases = [_args.expand_to_trainable_variables(x) for x in leaves]
    self.sources = _nest.flatten(self._bases)
    self._check_sources()
    self.inputs = list(inputs)
    self._input_leaves = [
      _input_tensor(x, api) for x in _nest.flatten(self.inputs)
    ]
    self.batch_size = self._checked_batch_size()

  def like_params(self, flat: list[Any]) -> Any:
    """`flat` (one entry per source) structured like `params`."""
    return _nest.pack(self._structure, _nest.pack(self._bases, flat))

  def or_unconnected(
    self, value: Any, k: int, batched: bool = False, like: Any = None
  ) -> Any:
    """`value`, or what stands for source `k`'s where nothing reaches it.

    That is `None`, or with `unconnected_gradients='zero'` zeros like
    `like`, or like the source (with a batch axis if `batched`). With
    `'raise'`, `check_connected` has raised first.
    """
    if value is not None or self.unconnected is not (
      tf.UnconnectedGradients.ZERO
    ):
      return value
    if like is not None:
      return tf.zeros_like(like)
    source = self.sources[k]
    shape = tf.TensorShape(source.shape)
    if batched:
      return tf.zeros(tf.concat([[self.batch_size], shape], 0), source.dtype)
    return tf.zeros(shape, source.dtype)

  def check_connected(self, values: Sequence[Any]) -> None:
    """With `unconnected_gradients='raise'`, one error for every source `k`
    whose `values[k]` is `None`, explained on the first example's loss.

    Whether a gradient reaches a parameter is a property of `f`'s graph,
    which is the same for every example, so one example explains them all.
    """
    missing = [k for k, value in enumerate(values) if value is None]
    if missing and self.unconnected is _args.RAISE:
      raise _core.disconnected_error(
        lambda: self.example_value(0)['loss'],
        self.sources,
        missing,
        self.api,
        _arguments.Call(self.f, (self.params, *self.inputs), {}),
      )

  # --- The body: one example.

  def example_value(self, index: Any) -> mapping.Outputs:
    """`f`'s value for example `index`, checked: `loss`, a scalar, and with
    `has_aux` the leaves of its aux, `aux/j` (without a batch axis)."""
    leaves = [tf.gather(x, index) for x in self._input_leaves]
    if not self.single_example:
      leaves = [x[None] for x in leaves]
    example = _nest.pack(self.inputs, leaves)
    try:
      value = _autograph.call(self.f, self.params, *example)
    except TypeError as error:
      if not _args.accepts_positional(self.f, 1 + len(self.inputs)):
        raise TypeError(
          f'{self.api}: {_errors.callable_name(self.f)} is called as '
          f'f(params, *inputs) with {1 + len(self.inputs)} positional '
          'arguments but does not take them. Write f to take the '
          'parameters first, e.g. `lambda model, x, y: loss(y, model(x))`'
          '.'
        ) from error
      raise
    if not self.has_aux:
      return {'loss': self._checked_loss(value)}
    if not isinstance(value, (tuple, list)) or len(value) != 2:
      raise _errors.bad_aux_output(self.f, self.api, value)
    loss, aux = value
    self.aux_structure = aux
    result = {'loss': self._checked_loss(loss)}
    for j, leaf in enumerate(_nest.flatten(aux)):
      result[f'aux/{j}'] = self._example_aux(leaf)
    return result

  def example_outputs(
    self, index: Any, identity: bool = False
  ) -> mapping.Outputs:
    """One example's loss, and for each connected source `k` its gradient.

    The gradient is `grad/k`; with `identity`, where the identity of
    `ghost` covers the source, its squared norm `sq/k` instead. Built in a
    graph (as every per-example call is) to be vectorised, differentiated
    by the engine `_engines.recorder` picks for that: a tape.
    """
    sources = [_args.watch_target(s) for s in self.sources]
    value, recording = _engines.recorder(
      self.use_gradient_tape, vectorised=True
    )(lambda: self.example_value(index), sources)
    loss = value['loss']
    plans: list[list[ghost.Use] | None] = [None] * len(sources)
    if identity:
      plans = self._ghost_plans(loss, sources)
    outputs = [use.output for plan in plans if plan for use in plan]
    formed = [s for s, plan in zip(sources, plans, strict=True) if plan is None]
    grads = recording.gradient(
      [loss], formed, None, tf.UnconnectedGradients.NONE, intermediates=outputs
    )
    formed_grads = iter(grads[: len(formed)])
    output_grads = iter(grads[len(formed) :])
    result = dict(value)
    for k, plan in enumerate(plans):
      if plan is None:
        grad = next(formed_grads)
        if grad is not None:
          result[f'grad/{k}'] = tf.convert_to_tensor(grad)  # IndexedSlices.
      else:
        squared = ghost.squared_norm(plan, [next(output_grads) for _ in plan])
        if squared is not None:
          result[f'sq/{k}'] = squared
    return result

  def squared_norms(
    self, outputs: mapping.Outputs, keep_gradients: bool
  ) -> mapping.Outputs:
    """Stacked `outputs` with `sq/k`, each example's, for every `grad/k`.

    Taken on the stacked gradients by one fused op, without a squared copy
    of them (XLA, which has no such op, fuses its own). `grad/k` stays only
    with `keep_gradients`.
    """
    result = dict(outputs)
    for k in range(len(self.sources)):
      grad = outputs.get(f'grad/{k}')
      if grad is not None:
        rows = tf.reshape(grad, [tf.shape(grad)[0], -1])
        rows = tf.cast(rows, ghost.accumulation_dtype(rows.dtype))
        result[f'sq/{k}'] = (
          tf.reduce_sum(tf.square(rows), axis=1)
          if mapping.under_xla()
          else tf.square(tf.math.reduce_euclidean_norm(rows, axis=1))
        )
        if not keep_gradients:
          del result[f'grad/{k}']
    return result

  def chunk_for_norms(self, materialize_gradients: bool) -> int | None:
    """Examples per chunk for norms: the formed gradients within budget.

    The caller's `chunk_size` if given; else `None` (one chunk) where the
    whole batch's gradients fit `CHUNK_BYTES`, else as many examples as
    fit, counting only the gradients formed — which takes a scratch trace
    to see where the identity applies.
    """
    if self.chunk_size is not None:
      return self.chunk_size
    chunk = self._chunk_within_budget(range(len(self.sources)))
    if chunk is None or materialize_gradients:
      return chunk
    return self._chunk_within_budget(self.materialised_sources())

  def _chunk_within_budget(self, materialised: Sequence[int]) -> int | None:
    per_example = sum(_bytes(self.sources[k]) for k in materialised)
    if not per_example:
      return None
    chunk = max(1, CHUNK_BYTES // per_example)
    if isinstance(self.batch_size, int) and self.batch_size <= chunk:
      return None
    return chunk

  def materialised_sources(self) -> list[int]:
    """The sources whose norms need their gradients, from a scratch trace.

    One example's loss is traced in a graph function that is never run,
    to see which parameters the identity covers.
    """
    covered: set[int] = set()

    def trace() -> tf.Tensor:
      loss = self.example_value(tf.constant(0))['loss']
      sources = [_args.watch_target(s) for s in self.sources]
      covered.update(
        k
        for k, plan in enumerate(self._ghost_plans(loss, sources))
        if plan is not None
      )
      return loss

    tf.function(trace, autograph=False).get_concrete_function()
    return [k for k in range(len(self.sources)) if k not in covered]

  def aux_like_f(self, stacked: mapping.Outputs) -> Any:
    """The stacked `aux/j` of `stacked`, structured as `f`'s aux."""
    leaves = _nest.flatten(self.aux_structure)
    return _nest.pack(
      self.aux_structure, [stacked[f'aux/{j}'] for j in range(len(leaves))]
    )

  # --- Internals.

  def _example_aux(self, leaf: Any) -> tf.Tensor:
    """One example's aux leaf, without the batch axis of one example."""
    leaf = tf.convert_to_tensor(leaf)
    if self.single_example:
      return leaf
    if leaf.shape.rank == 0 or leaf.shape[:1] not in (
      tf.TensorShape([1]),
      tf.TensorShape([None]),
    ):
      raise ValueError(
        f'{self.api}: with has_aux=True, {_errors.callable_name(self.f)} '
        'is called on one example at a time (a batch of 1) and its aux '
        'must follow the batch axis of its inputs, shape [batch, ...], '
        f'but a part of it has shape {leaf.shape}. Return per-example '
        'values, e.g. the logits or each example\'s accuracy.'
      )
    return leaf[0]

  def _ghost_plans(
    self, loss: tf.Tensor, sources: list[Any]
  ) -> list[list[ghost.Use] | None]:
    needed = ghost.ancestors(loss)
    return [
      ghost.plan(_parameter_tensor(s), tf.TensorShape(s.shape), needed)
      for s in sources
    ]

  def _check_sources(self) -> None:
    if not self.sources:
      raise ValueError(
        f'{self.api}: `params` holds no parameters to differentiate, got '
        f'{_errors.describe(self._structure)}. Pass Tensors or variables '
        '(or a structure of them), or a Keras model or tf.Module with '
        'trainable variables — a Keras model has none until it is built: '
        'call it on a batch or `model.build(input_shape)` first.'
      )
    for k, source in enumerate(self.sources):
      where = '`params`' if len(self.sources) == 1 else f'part {k} of `params`'
      if not (isinstance(source, tf.Tensor) or _args.is_variable(source)):
        raise TypeError(
          f'{self.api}: {where} is {_errors.describe(source)}; per-example '
          'gradients are taken with respect to dense Tensors and '
          'variables. Pass its dense values instead.'
        )
      if not tf.as_dtype(source.dtype).is_floating:
        raise TypeError(
          f'{self.api}: {where} has dtype {tf.as_dtype(source.dtype).name}'
          ', and only floating-point parameters have gradients. Cast it '
          '(e.g. `tf.cast(x, tf.float32)`), or pass integer data such as '
          'labels or token ids among the inputs, after `params`.'
        )

  def _checked_batch_size(self) -> Any:
    if not self._input_leaves:
      raise ValueError(
        f'{self.api}: no inputs: pass the batch after `params`, as '
        f'`{self.api}(f, params, x, y)` for f(params, x, y), each input '
        'with a leading batch axis.'
      )
    sizes = {}
    for i, leaf in enumerate(self._input_leaves):
      if leaf.shape.rank == 0:
        raise ValueError(
          f'{self.api}: input {i} is a scalar, {_errors.describe(leaf)}; '
          'every input needs a leading batch axis (one entry per example). '
          'Pass constants through `params`, a closure or a default '
          'argument of f instead.'
        )
      if leaf.shape[0] is not None:
        sizes[i] = leaf.shape[0]
    if len(set(sizes.values())) > 1:
      listing = ', '.join(f'input {i} has {n}' for i, n in sizes.items())
      raise ValueError(
        f'{self.api}: the inputs have different batch sizes ({listing} '
        'examples); every input needs the same leading batch axis.'
      )
    if sizes:
      return next(iter(sizes.values()))
    return tf.shape(self._input_leaves[0])[0]

  def _checked_loss(self, value: Any) -> tf.Tensor:
    """`f`'s value for one example as a scalar, or an error saying why not."""
    if value is None:
      raise _errors.returned_none(self.f, self.api)
    if _args.is_variable(value):
      value = tf.convert_to_tensor(value)
    if not isinstance(value, tf.Tensor):
      raise TypeError(
        f'{self.api}: {_errors.callable_name(self.f)} returned '
        f'{_errors.describe(value)}; it must return one Tensor of '
        f'{self._loss_kind()} computed with TensorFlow ops.'
      )
    if not value.dtype.is_floating:
      raise TypeError(
        f'{self.api}: {_errors.callable_name(self.f)} returned losses of '
        f'dtype {value.dtype.name}; losses must be floating-point (cast '
        'them, e.g. `tf.cast(loss, tf.float32)`).'
      )
    shape = value.shape
    if shape.rank is not None:
      self._check_loss_shape(shape)
    return tf.reshape(value, [])

  def _loss_kind(self) -> str:
    return (
      'one example\'s scalar loss'
      if self.single_example
      else 'per-example losses, shape [batch]'
    )

  def _check_loss_shape(self, shape: tf.TensorShape) -> None:
    name = _errors.callable_name(self.f)
    if self.single_example:
      if shape.rank != 0:
        raise ValueError(
          f'{self.api}: with single_example=True, {name} gets one example '
          f'(inputs without their batch axis) and must return its scalar '
          f'loss, but it returned shape {shape}. Reduce it to a scalar, or '
          f'drop single_example=True if {name} takes a batch and returns '
          'one loss per example.'
        )
      return
    if shape.rank == 0:
      raise ValueError(
        f'{self.api}: {name} returned a scalar, one loss for the whole '
        'batch; per-example gradients need one loss per example, shape '
        '[batch]. Do not reduce over the batch (e.g. a Keras loss with '
        "reduction='none', or tf.reduce_mean over the other axes only), "
        f'or pass single_example=True if {name} computes the loss of one '
        'example.'
      )
    if shape.rank > 1 and shape[0] == 1:
      other = ', '.join(str(d) for d in shape[1:].as_list())
      raise ValueError(
        f'{self.api}: {name} returned losses of shape [batch, {other}]; '
        'it must return one loss per example, shape [batch]. Reduce the '
        'other axes, e.g. `tf.reduce_sum(loss, axis=-1)`.'
      )
    if shape[0] is not None and shape[0] != 1:
      raise ValueError(
        f'{self.api}: {name} is called on one example at a time (a batch '
        f'of 1) and returned losses of shape {shape}, not [1]: its losses '
        'do not follow the batch axis of its inputs. Compute them from '
        f'the inputs {name} is given, one per example, shape [batch].'
      )


def total_norm(
  squared: Sequence[tf.Tensor | None], like: tf.Tensor
) -> tf.Tensor:
  """The norm over all parameters, from their squared norms (`None`: none).

  In the widest of their dtypes, so `float64` parameters keep their
  precision; zeros like `like` where no parameter is connected.
  """
  connected = [s for s in squared if s is not None]
  if not connected:
    return tf.zeros_like(like)
  dtype = max((s.dtype for s in connected), key=lambda d: d.size)
  return tf.sqrt(tf.add_n([tf.cast(s, dtype) for s in connected]))


def _checked_chunk_size(chunk_size: Any, api: str) -> int | None:
  if chunk_size is None:
    return None
  if (
    isinstance(chunk_size, bool)
    or not isinstance(chunk_size, int)
    or (chunk_size < 1)
  ):
    raise ValueError(
      f'{api}: chunk_size must be a positive int or None, got '
      f'{_errors.describe(chunk_size)}.'
    )
  return chunk_size


def _input_tensor(x: Any, api: str) -> tf.Tensor:
  """An input as a dense Tensor (integers stay integers: labels, ids)."""
  if _args.is_variable(x):
    return tf.convert_to_tensor(x)
  if tf.is_tensor(x) and not isinstance(x, tf.Tensor):
    raise TypeError(
      f'{api}: inputs must be dense Tensors, got {_errors.describe(x)}. '
      'Pad ragged or sparse batches to dense Tensors (e.g. '
      '`x.to_tensor()`), with a mask if f needs one.'
    )
  return tf.convert_to_tensor(x)


def _parameter_tensor(source: Any) -> tf.Tensor:
  """The Tensor a graph's ops read a source through: a variable's handle."""
  if isinstance(source, tf.Tensor):
    return source
  return tf.convert_to_tensor(source.handle)


def _bytes(source: Any) -> int:
  shape = tf.TensorShape(source.shape)
  size = shape.num_elements() if shape.is_fully_defined() else 0
  return int(size * tf.as_dtype(source.dtype).size)
