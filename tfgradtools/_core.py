"""The dispatch core: run `f` under an engine, then differentiate it.

Both facades come here. `record` calls `f` inside a name scope under the
engine `_engines.uses_tape` picks, watching the sources (Tensors,
`tf.Variable`s, Keras 3 variables); the returned `Recorded` computes
vector-Jacobian products (`vjp`) or Jacobians of `f`'s value with respect to
those sources, honouring `unconnected_gradients`. `differentiate` records and
differentiates in one step (also the Hessian); `jvp` is forward mode and
`hvp` a second backward pass over the gradient. With
`unconnected_gradients='raise'` the engines compute `None` as with
`'none'`, and `_checked` turns each `None` into one
`DisconnectedGradientError` that explains them all.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Protocol, Sequence

import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _autograph
from tfgradtools import _engines
from tfgradtools import _errors
from tfgradtools import _variable_owners
from tfgradtools._diagnosis import _arguments
from tfgradtools._diagnosis import _disconnected
from tfgradtools._diagnosis import _graph

Prepare = Callable[
  [], tuple[Sequence[Any], dict[str, Any], Sequence[Any] | None]
]


def _flat_targets(f: Callable[..., Any], y: Any, api: str) -> list[Any]:
  """The Tensors to differentiate in `f`'s value `y`, checked."""
  if isinstance(y, tf.Tensor):
    return [y]
  if y is None:
    raise _errors.returned_none(f, api)
  targets: list[Any] = tf.nest.flatten(y)
  for i, part in enumerate(targets):
    if isinstance(part, tf.Tensor):
      continue
    if _args.is_variable(part):
      # A tape cannot differentiate a variable itself: read it while recording.
      targets[i] = tf.convert_to_tensor(part)
    elif not tf.is_tensor(part):
      raise _errors.returned_non_tensor(f, api, y, part)
  if not targets:
    raise _errors.returned_non_tensor(f, api, y, y)
  return targets


def _split(
  f: Callable[..., Any], out: Any, has_aux: bool, api: str
) -> tuple[Any, Any, list[Any]]:
  """`f`'s result split into value, aux and flat targets."""
  if has_aux:
    if not isinstance(out, (tuple, list)) or len(out) != 2:
      raise _errors.bad_aux_output(f, api, out)
    y, aux = out
  else:
    y, aux = out, None
  return y, aux, _flat_targets(f, y, api)


def _call(
  f: Callable[..., Any],
  args: Sequence[Any],
  kwargs: dict[str, Any],
  has_aux: bool,
  api: str,
) -> tuple[Any, Any, list[Any]]:
  """`f(*args, **kwargs)` split into value, aux and flat targets."""
  return _split(f, _autograph.call(f, *args, **kwargs), has_aux, api)


def converted_like(
  part: Any,
  like: Any,
  *,
  api: str,
  arg_name: str,
  like_name: str,
  index: int | None,
) -> Any:
  """`part` of a cotangent or tangent as a Tensor like `like`, or an error.

  Python numbers take `like`'s dtype; a Tensor of another dtype or shape is
  an error naming `arg_name` (part `index` of it), `like_name` and both
  dtypes or shapes.
  """
  if not tf.is_tensor(part):
    part = tf.convert_to_tensor(part, dtype_hint=like.dtype)
  if part.dtype != like.dtype or not part.shape.is_compatible_with(like.shape):
    raise _errors.mismatched_part(api, arg_name, part, like, like_name, index)
  return part


def _differentiable(
  targets: list[Any], cotangents: list[Any] | None
) -> tuple[list[Any], list[Any] | None]:
  """The parts of a value a gradient can flow from, with their cotangents.

  A string, integer or boolean part (a label returned beside a loss, say)
  carries no gradient: a tape skips it, but `tf.gradients` would build a
  ones-like cotangent for it and fail on a string. Both engines are given
  the floating and complex parts only, so every regime skips the same
  parts.
  """
  keep = [_args.is_differentiable(t) for t in targets]
  if all(keep):
    return targets, cotangents
  return (
    [t for t, k in zip(targets, keep, strict=True) if k],
    None
    if cotangents is None
    else [c for c, k in zip(cotangents, keep, strict=True) if k],
  )


def _check_scalar(recorded: Recorded, what: str, instead: str) -> None:
  """Second derivatives here are of scalar functions only."""
  targets, _ = _differentiable(recorded._targets, None)
  if any(t.shape.rank != 0 for t in targets):
    raise TypeError(
      f'{recorded._api}: f must return a scalar to take its {what}, got '
      f'{_errors.describe(recorded.value)}; reduce it first (e.g. '
      f'`tf.reduce_sum`) or use {instead}.'
    )


def _unconnected(source: Any, unconnected: tf.UnconnectedGradients) -> Any:
  """The gradient of a source no gradient can reach (e.g. of integer dtype)."""
  if unconnected is tf.UnconnectedGradients.ZERO and source.dtype != tf.string:
    return tf.zeros_like(source)
  return None


def _checked(
  recorded: Recorded,
  derivatives: list[Any],
  unconnected: _args.Unconnected,
  cotangent: Any = None,
) -> list[Any]:
  """`derivatives` (one per source), or with `'raise'`, where one is `None`
  (or holds one), the error that explains each such source."""
  if unconnected is _args.RAISE:
    missing = [
      k
      for k, d in enumerate(derivatives)
      if d is None or (isinstance(d, list) and any(part is None for part in d))
    ]
    if missing:
      raise _disconnected.error(
        recorded.subject(cotangent), missing, recorded._api
      )
  return derivatives


def disconnected_error(
  f: Callable[[], Any],
  sources: Sequence[Any],
  missing: Sequence[int],
  api: str,
  call: _arguments.Call | None = None,
) -> ValueError:
  """The error of `'raise'` for a call recorded outside the core: `f()`
  computes the value from `sources`, and `missing` have no derivative;
  `call`, the user's function and the arguments that hold the sources,
  names them (`params['w']`)."""
  recorded = _record(
    f, lambda: ((), {}, sources), api, api + '/', False, False, False
  )
  subject = recorded.subject()
  if call is not None:
    subject = subject._replace(call=call)
  return _disconnected.error(subject, missing, api)


class Recorded:
  """`f`'s value, recorded for differentiation with respect to `sources`."""

  __slots__ = (
    'value',
    'aux',
    'sources',
    'engine',
    '_targets',
    '_watched',
    '_recording',
    '_scope',
    '_api',
    '_replay',
    '_call',
  )

  def __init__(
    self,
    value: Any,
    aux: Any,
    targets: list[Any],
    sources: Sequence[Any],
    watched: list[Any],
    recording: Any,
    scope: str,
    api: str,
    replay: Callable[[], Recorded],
    call: _arguments.Call,
  ):
    self.value = value
    self.aux = aux
    self.sources = sources
    self.engine = recording.engine
    self._targets = targets
    self._watched = watched
    self._recording = recording
    self._scope = scope
    self._api = api
    self._replay = replay
    self._call = call

  def subject(self, cotangent: Any = None) -> _graph.Subject:
    """What was differentiated, for a diagnosis; `replay` records the same
    call again in the graph being built."""
    return _graph.Subject(
      self._targets,
      self._cotangents(cotangent, 'output_gradients'),
      self.sources,
      self._watched,
      lambda: self._replay().subject(cotangent),
      self._call,
    )

  def _cotangents(self, cotangent: Any, arg_name: str) -> list[Any] | None:
    """`cotangent` flattened and checked against the targets."""
    if cotangent is None:
      return None
    flat = tf.nest.flatten(cotangent)
    if len(flat) != len(self._targets):
      raise _errors.mismatched_cotangent(
        self._api, arg_name, self.value, cotangent
      )
    converted: list[Any] = []
    for i, (target, part) in enumerate(zip(self._targets, flat, strict=True)):
      if not _args.is_differentiable(target):
        converted.append(None)  # Skipped with its target: see `_vjp`.
        continue
      if part is None:
        raise _errors.mismatched_cotangent(
          self._api, arg_name, self.value, cotangent
        )
      converted.append(
        converted_like(
          part,
          target,
          api=self._api,
          arg_name=arg_name,
          like_name="f's value",
          index=i if len(flat) > 1 else None,
        )
      )
    return converted

  def vjp(
    self,
    cotangent: Any = None,
    *,
    unconnected: _args.Unconnected = tf.UnconnectedGradients.NONE,
    arg_name: str = 'output_gradients',
  ) -> list[Any]:
    """The gradient of `sum(cotangent * value)`, one entry per source.

    `cotangent` defaults to ones, so the parts of a structured value are
    summed.
    """
    with tf.name_scope(self._scope):
      return _checked(
        self,
        self._vjp(cotangent, _args.engine_unconnected(unconnected), arg_name),
        unconnected,
        cotangent,
      )

  def _vjp(
    self, cotangent: Any, unconnected: tf.UnconnectedGradients, arg_name: str
  ) -> list[Any]:
    cotangents = self._cotangents(cotangent, arg_name)
    targets, cotangents = _differentiable(self._targets, cotangents)
    watched = [w for w in self._watched if w is not None]
    grads = iter(
      self._recording.gradient(targets, watched, cotangents, unconnected)
      if watched and targets
      else (_unconnected(w, unconnected) for w in watched)
    )
    return [
      next(grads) if w is not None else _unconnected(s, unconnected)
      for s, w in zip(self.sources, self._watched, strict=True)
    ]

  def _jacobian(
    self,
    unconnected: tf.UnconnectedGradients,
    batch: bool,
    use_pfor: bool,
    parallel_iterations: int | None,
  ) -> list[Any]:
    """`d value / d source` for each source (batched over axis 0 if `batch`)."""
    if len(self._targets) != 1:
      raise TypeError(
        f'{self._api}: f must return a single Tensor to take its Jacobian, '
        f'got {_errors.describe(self.value)}.'
      )
    target = self._targets[0]
    if batch:
      for source, watched in zip(self.sources, self._watched, strict=True):
        _check_batch_shapes(
          self._api, target, source if watched is None else watched
        )
    return [
      self._recording.jacobian(
        target, w, unconnected, batch, use_pfor, parallel_iterations
      )
      if w is not None
      else _unconnected_jacobian(target, s, unconnected)
      for s, w in zip(self.sources, self._watched, strict=True)
    ]


def _check_batch_shapes(api: str, target: Any, source: Any) -> None:
  """A batch Jacobian's value and source: rank 2 or more, one batch size.

  Checked as `tf.GradientTape.batch_jacobian` checks them, on every path.
  """
  if (
    target.shape.rank is not None
    and target.shape.rank < 2
    or source.shape.rank is not None
    and source.shape.rank < 2
    or not target.shape[:1].is_compatible_with(source.shape[:1])
  ):
    raise ValueError(
      f'{api}: Need first dimension of target shape {target.shape} and '
      f'source shape {source.shape} to match, both of rank 2 or more: '
      "f's value and each argument are [batch, ...] Tensors with the same "
      'batch size. Use jacobian for a Jacobian without a batch dimension.'
    )


def _unconnected_jacobian(
  target: Any, source: Any, unconnected: tf.UnconnectedGradients
) -> Any:
  """The Jacobian where no gradient flows: zeros of the source's dtype (as
  `tape.jacobian` stacks zero gradients), or `None`."""
  if unconnected is tf.UnconnectedGradients.ZERO and source.dtype != tf.string:
    return tf.zeros(
      tf.concat([tf.shape(target), tf.shape(source)], 0), source.dtype
    )
  return None


def _watch_list(
  sources: Sequence[Any], api: str, dense_only: bool = False
) -> list[Any]:
  """What to watch for each source; `None` where no gradient can flow.

  Each is `_args.watch_target` of the source. Composite sources other than
  `tf.RaggedTensor`s cannot be differentiated; `dense_only` (forward mode,
  Jacobians) refuses those too.
  """
  watched = []
  for source in sources:
    target = _args.watch_target(source)
    if not (
      isinstance(target, tf.Tensor)
      or _args.is_variable(target)
      or (isinstance(target, tf.RaggedTensor) and not dense_only)
    ):
      raise _errors.not_a_source(api, source)
    watched.append(target if _args.is_differentiable(target) else None)
  return watched


def record(
  f: Callable[..., Any],
  prepare: Prepare,
  *,
  api: str,
  name: str,
  use_gradient_tape: bool = False,
  has_aux: bool = False,
  persistent: bool = False,
) -> Recorded:
  """Calls `f` under the engine, watching the sources `prepare` picks.

  Args:
    f: the function to differentiate.
    prepare: returns `(args, kwargs, sources)`: `f` is called as
      `f(*args, **kwargs)` and differentiated with respect to `sources`
      (Tensors, `tf.Variable`s or Keras variables), or with respect to the
      trainable variables it reads if `sources` is `None` (which always uses
      a tape). It runs inside the name scope, so its conversions are too.
    api: the public function's name, for error messages.
    name: the name scope of every op created.
    use_gradient_tape: use a tape even when building a graph.
    has_aux: `f` returns `(value, aux)`.
    persistent: the result may be differentiated more than once.

  Returns:
    A `Recorded` with `f`'s value, ready to be differentiated.
  """
  with tf.name_scope(name) as scope:
    return _record(
      f, prepare, api, scope, use_gradient_tape, has_aux, persistent
    )


@dataclasses.dataclass(frozen=True)
class Request:
  """What one call of `differentiate` asks of its kind of derivative."""

  api: str
  scope: str
  use_gradient_tape: bool
  has_aux: bool
  cotangent: Any
  unconnected: _args.Unconnected
  arg_name: str
  use_pfor: bool
  parallel_iterations: int | None

  @property
  def mode(self) -> tf.UnconnectedGradients:
    """What the engines compute where nothing reaches a source."""
    return _args.engine_unconnected(self.unconnected)


class Derivative(Protocol):
  """A kind of derivative: records `f` as it needs, and computes it.

  Called as `kind(f, prepare, request)`, it returns the `Recorded` call
  and its derivatives, one per source; `per_pair` kinds (the Hessian)
  return one list per source, a derivative per pair of sources.
  """

  per_pair: bool

  def __call__(
    self, f: Callable[..., Any], prepare: Prepare, request: Request
  ) -> tuple[Recorded, list[Any]]: ...


class _VectorJacobianProduct:
  """The gradient of `sum(cotangent * value)`, on the engine's recording."""

  per_pair = False

  def __call__(
    self, f: Callable[..., Any], prepare: Prepare, request: Request
  ) -> tuple[Recorded, list[Any]]:
    recorded = _record(
      f,
      prepare,
      request.api,
      request.scope,
      request.use_gradient_tape,
      request.has_aux,
      persistent=False,
    )
    return recorded, recorded._vjp(
      request.cotangent, request.mode, request.arg_name
    )


class _Jacobian:
  """`d value / d source` (batched over axis 0 if `batch`), on a tape."""

  per_pair = False

  def __init__(self, batch: bool):
    self.batch = batch

  def __call__(
    self, f: Callable[..., Any], prepare: Prepare, request: Request
  ) -> tuple[Recorded, list[Any]]:
    recorded = _record(
      f,
      prepare,
      request.api,
      request.scope,
      True,
      request.has_aux,
      persistent=True,
      dense_only=True,
    )
    if request.unconnected is _args.RAISE:
      # A vectorised Jacobian built in a graph is zeros, not `None`, where
      # nothing reaches a source: a backward pass tells.
      _checked(
        recorded,
        recorded._vjp(None, request.mode, request.arg_name),
        request.unconnected,
      )
    return recorded, recorded._jacobian(
      request.mode, self.batch, request.use_pfor, request.parallel_iterations
    )


class _Hessian:
  """The Jacobian of the gradient: one derivative per pair of sources."""

  per_pair = True

  def __call__(
    self, f: Callable[..., Any], prepare: Prepare, request: Request
  ) -> tuple[Recorded, list[Any]]:
    return _hessian(f, prepare, request)


VJP: Derivative = _VectorJacobianProduct()
JACOBIAN: Derivative = _Jacobian(batch=False)
BATCH_JACOBIAN: Derivative = _Jacobian(batch=True)
HESSIAN: Derivative = _Hessian()


def differentiate(
  f: Callable[..., Any],
  prepare: Prepare,
  *,
  api: str,
  name: str,
  use_gradient_tape: bool = False,
  has_aux: bool = False,
  cotangent: Any = None,
  unconnected: _args.Unconnected = (tf.UnconnectedGradients.NONE),
  derivative: Derivative = VJP,
  arg_name: str = 'output_gradients',
  use_pfor: bool = True,
  parallel_iterations: int | None = None,
) -> tuple[Recorded, list[Any]]:
  """`record`, then one derivative of `f`'s value, in one name scope.

  Args:
    f, prepare, api, name, use_gradient_tape, has_aux: as in `record`.
    cotangent: the `VJP`'s cotangent (named `arg_name` in errors).
    unconnected: the gradient of a source the value does not depend on.
    derivative: the kind of derivative, which records `f` and computes it:
      `VJP` (the default), `JACOBIAN` or `BATCH_JACOBIAN` (always with a
      tape, as in tfp.math), or `HESSIAN` (a Jacobian of the gradient).
    arg_name: the cotangent's name in error messages.
    use_pfor, parallel_iterations: for Jacobians, as in
      `tf.GradientTape.jacobian`.

  Returns:
    The `Recorded` call and a list with one derivative per source (for a
    kind with `per_pair`, one list per source).
  """
  with tf.name_scope(name) as scope:
    recorded, derivatives = derivative(
      f,
      prepare,
      Request(
        api=api,
        scope=scope,
        use_gradient_tape=use_gradient_tape,
        has_aux=has_aux,
        cotangent=cotangent,
        unconnected=unconnected,
        arg_name=arg_name,
        use_pfor=use_pfor,
        parallel_iterations=parallel_iterations,
      ),
    )
    return recorded, _checked(recorded, derivatives, unconnected, cotangent)


def _dense(grads: list[Any]) -> list[Any]:
  """Gradients to differentiate again, dense (a gather's are sparse).

  Summed into place as `tf.convert_to_tensor` does, without its warning
  about a dense shape known only at run time, which would name internal
  Tensors.
  """
  return [
    tf.math.unsorted_segment_sum(g.values, g.indices, g.dense_shape[0])
    if isinstance(g, tf.IndexedSlices)
    else g
    for g in grads
  ]


def _hessian(
  f: Callable[..., Any], prepare: Prepare, request: Request
) -> tuple[Recorded, list[Any]]:
  """The Jacobian (on a persistent outer tape) of the gradient."""
  api, unconnected = request.api, request.mode
  args, kwargs, sources = prepare()
  if sources is None:
    raise ValueError(f'{api}: a Hessian needs explicit sources.')
  watched = [
    w for w in _watch_list(sources, api, dense_only=True) if w is not None
  ]
  outer = tf.GradientTape(persistent=True, watch_accessed_variables=False)
  with outer:
    outer.watch(watched)
    recorded = _record(
      f,
      lambda: (args, kwargs, sources),
      api,
      request.scope,
      request.use_gradient_tape,
      request.has_aux,
      persistent=False,
    )
    _check_scalar(recorded, 'Hessian', 'jacobian')
    grads = _dense(recorded._vjp(None, unconnected, 'output_gradients'))
  outer_recording = _engines.TapeRecording(outer, persistent=True)
  rows = []
  for grad, source_i, watched_i in zip(
    grads, sources, recorded._watched, strict=True
  ):
    row = []
    for source_j, watched_j in zip(sources, recorded._watched, strict=True):
      if grad is None or watched_i is None or watched_j is None:
        shape_of = tf.zeros_like(source_i) if grad is None else grad
        row.append(_unconnected_jacobian(shape_of, source_j, unconnected))
      else:
        row.append(
          outer_recording.jacobian(
            grad,
            watched_j,
            unconnected,
            False,
            request.use_pfor,
            request.parallel_iterations,
            _engines.LOOPED_HESSIAN_ROWS,
          )
        )
    rows.append(row)
  return recorded, rows


def _with_tangents(
  prepare: Prepare, tangents: Sequence[Any], api: str
) -> tuple[Sequence[Any], dict[str, Any], Sequence[Any], list[Any], list[Any]]:
  """The call's arguments and sources, what to watch for each source, and
  the tangents of the watched ones, checked against them."""
  args, kwargs, sources = prepare()
  if sources is None:
    raise ValueError(f'{api}: tangents need explicit sources.')
  watched = _watch_list(sources, api, dense_only=True)
  if len(tangents) != len(sources):
    raise _errors.mismatched_tangents(api, sources, tangents)
  converted = [
    converted_like(
      tangent,
      target,
      api=api,
      arg_name='tangents',
      like_name='primals',
      index=i if len(sources) > 1 else None,
    )
    for i, (target, tangent) in enumerate(zip(watched, tangents, strict=True))
    if target is not None
  ]
  return args, kwargs, sources, watched, converted


def jvp(
  f: Callable[..., Any],
  prepare: Prepare,
  tangents: Sequence[Any],
  *,
  api: str,
  name: str,
  has_aux: bool = False,
  unconnected: _args.Unconnected = tf.UnconnectedGradients.NONE,
) -> tuple[Any, Any, list[Any]]:
  """Forward mode: `f`'s value and its Jacobian-vector product.

  The tangents (one per source) are pushed forward with a
  `tf.autodiff.ForwardAccumulator` alongside the value, in one pass.

  Returns:
    `(value, aux, derivatives)`: one JVP per flat part of the value.
  """
  mode = _args.engine_unconnected(unconnected)
  with tf.name_scope(name) as scope:
    args, kwargs, _, watched, pushed = _with_tangents(prepare, tangents, api)
    (y, aux, outputs), acc = _engines.record_forward(
      lambda: _call(f, args, kwargs, has_aux, api),
      [w for w in watched if w is not None],
      pushed,
    )
    products = [
      _unconnected(out, mode)
      if acc is None
      else acc.jvp(out, unconnected_gradients=mode)
      for out in outputs
    ]
    if unconnected is _args.RAISE and any(p is None for p in products):
      # Every source is unconnected to an output without a product.
      recorded = _record(f, prepare, api, scope, False, has_aux, False, True)
      parts = [i for i, p in enumerate(products) if p is None]
      raise _disconnected.error(
        _only(recorded.subject(), parts), range(len(watched)), api
      )
    return y, aux, products


def _only(subject: _graph.Subject, parts: list[int]) -> _graph.Subject:
  """`subject` with only the targets at `parts`, replayed alike."""
  replay = subject.replay
  return subject._replace(
    targets=[subject.targets[i] for i in parts],
    replay=None if replay is None else lambda: _only(replay(), parts),
  )


def hvp(
  f: Callable[..., Any],
  prepare: Prepare,
  tangents: Sequence[Any],
  *,
  api: str,
  name: str,
  has_aux: bool = False,
  unconnected: _args.Unconnected = tf.UnconnectedGradients.NONE,
  use_gradient_tape: bool = False,
) -> tuple[Any, Any, list[Any]]:
  """`f`'s scalar value and its Hessian-vector product.

  The Hessian is never formed: it is symmetric, so `H @ v` is the
  vector-Jacobian product of the gradient with `v`, taken on a second
  recording with the same engine — what a hand-written double tape (or
  `tf.gradients` of `tf.gradients`) computes. It is the one algorithm in
  every regime, so the regimes agree (at inf and NaN, through custom
  gradients), and control flow works wherever its gradient does.

  Returns:
    `(value, aux, derivatives)`: one HVP per source.
  """
  mode = _args.engine_unconnected(unconnected)
  with tf.name_scope(name) as scope:
    args, kwargs, sources, watched, pushed = _with_tangents(
      prepare, tangents, api
    )

    def gradient() -> tuple[Recorded, list[Any]]:
      recorded = _record(
        f,
        lambda: (args, kwargs, sources),
        api,
        scope,
        use_gradient_tape,
        has_aux,
        persistent=False,
      )
      _check_scalar(recorded, 'Hessian-vector product', 'jvp')
      return recorded, _dense(recorded._vjp(None, mode, 'output_gradients'))

    record_outer = _engines.recorder(use_gradient_tape)
    (recorded, grads), outer = record_outer(
      gradient, [w for w in watched if w is not None]
    )
    return (
      recorded.value,
      recorded.aux,
      _checked(
        recorded,
        _vjp_of_gradient(outer, grads, sources, watched, pushed, mode),
        unconnected,
      ),
    )


def _vjp_of_gradient(
  outer: Any,
  grads: list[Any],
  sources: Sequence[Any],
  watched: list[Any],
  tangents: list[Any],
  unconnected: tf.UnconnectedGradients,
) -> list[Any]:
  """`H @ tangents` as the VJP of the gradient recorded on `outer`."""
  targets, cotangents = [], []
  for grad, tangent in zip(
    (g for g, w in zip(grads, watched, strict=True) if w is not None),
    tangents,
    strict=True,
  ):
    if grad is not None:
      targets.append(grad)
      cotangents.append(tangent)
  primals = [w for w in watched if w is not None]
  if not targets:
    return [_unconnected(s, unconnected) for s in sources]
  products = iter(outer.gradient(targets, primals, cotangents, unconnected))
  return [
    next(products) if w is not None else _unconnected(s, unconnected)
    for s, w in zip(sources, watched, strict=True)
  ]


def _record(
  f: Callable[..., Any],
  prepare: Prepare,
  api: str,
  scope: str,
  use_gradient_tape: bool,
  has_aux: bool,
  persistent: bool,
  dense_only: bool = False,
) -> Recorded:
  """Runs `f` under the engine; see `record`."""
  args, kwargs, sources = prepare()
  if sources is None:
    return _record_discovering(f, args, kwargs, api, scope, has_aux, persistent)
  watched = _watch_list(sources, api, dense_only)
  (y, aux, targets), recording = _engines.recorder(use_gradient_tape)(
    lambda: _call(f, args, kwargs, has_aux, api),
    [w for w in watched if w is not None],
    persistent=persistent,
  )
  return Recorded(
    y,
    aux,
    targets,
    sources,
    watched,
    recording,
    scope,
    api,
    functools.partial(
      _record, f, prepare, api, scope, False, has_aux, False, dense_only
    ),
    _arguments.Call(f, args, kwargs),
  )


def _record_discovering(
  f: Callable[..., Any],
  args: Sequence[Any],
  kwargs: dict[str, Any],
  api: str,
  scope: str,
  has_aux: bool,
  persistent: bool,
) -> Recorded:
  """Runs `f` on a tape that finds the trainable variables it reads.

  Reading no variable is the error reported first, before anything about
  `f`'s value; where `f` also returned `None`, the message also says so in
  TensorFlow's words (TensorFlow reports that first).
  """

  def run() -> tuple[Any, Exception | None, bool]:
    out = _autograph.call(f, *args, **kwargs)
    try:
      return _split(f, out, has_aux, api), None, out is None
    except (TypeError, ValueError) as error:
      return None, error, out is None

  (split, error, returned_none), recording = _engines.record_with_tape(
    run, [], persistent=persistent, watch_accessed_variables=True
  )
  watched = list(recording.watched_variables())
  if not watched:
    raise _errors.no_variables_read(f, api, returned_none)
  if error is not None:
    raise error
  y, aux, targets = split
  sources = _variable_owners.user_variables(watched, f, args, kwargs)
  return Recorded(
    y,
    aux,
    targets,
    sources,
    watched,
    recording,
    scope,
    api,
    functools.partial(
      _record_discovering, f, args, kwargs, api, scope, has_aux, False
    ),
    _arguments.Call(f, args, kwargs),
  )
