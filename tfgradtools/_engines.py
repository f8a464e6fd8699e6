"""The two differentiation engines, behind one shared signature.

Each engine runs a thunk while recording what it needs for the backward pass
and returns `(outputs, recording)`; a recording computes vector-Jacobian
products of targets with respect to sources:

* `record_with_tape` records on a `tf.GradientTape` (eager or graph);
* `record_symbolically` just runs the thunk in the current graph, and the
  backward pass is built later with `tf.gradients`;
* `record_forward` pushes tangents forward with a
  `tf.autodiff.ForwardAccumulator` (forward mode, for JVPs).

`uses_tape` is the single decision point between them.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import tensorflow as tf

from tfgradtools import _fast_tape
from tfgradtools import _quiet


def uses_tape(use_gradient_tape: bool, vectorised: bool = False) -> bool:
  """Whether to differentiate with a tape rather than `tf.gradients`.

  `tf.gradients` only works while building a graph, so the tape is used
  whenever executing eagerly, and when the caller asks for it. A backward
  pass built to be `vectorised` by `pfor` (one example's, for per-example
  gradients) is taken with a tape too: `pfor` converts the while loops of
  a tape's backward pass, but not the accumulators `tf.gradients` adds to
  a while loop's forward pass (Keras' `LSTM` and `GRU` layers).
  """
  return use_gradient_tape or vectorised or tf.executing_eagerly()


# Up to how many rows a Jacobian is taken eagerly by a loop of backward
# passes rather than vectorised (see `TapeRecording.jacobian`): the loop
# costs a backward pass per row, the vectorised Jacobian a trace (about a
# hundred cheap backward passes, a few dozen dear ones), so this is where
# they cost about the same for `benchmarks/second_order.py`'s function.
# A Hessian's rows are backward passes of a backward pass, several times
# dearer: for them, `LOOPED_HESSIAN_ROWS`.
LOOPED_JACOBIAN_ROWS = 64
LOOPED_HESSIAN_ROWS = 32


def _rows(target: tf.Tensor, batch: bool) -> int | None:
  """How many vector-Jacobian products a (batch) Jacobian takes."""
  shape = target.shape[1:] if batch else target.shape
  rows: int | None = shape.num_elements()
  return rows


class TapeRecording:
  """A backward pass over the operations recorded on a `tf.GradientTape`."""

  __slots__ = ('_tape', '_persistent', '_consumed')
  engine = 'tape'

  def __init__(self, tape: tf.GradientTape, persistent: bool):
    self._tape = tape
    self._persistent = persistent
    self._consumed = False

  def gradient(
    self,
    targets: Sequence[tf.Tensor],
    sources: Sequence[Any],
    output_gradients: Sequence[tf.Tensor] | None,
    unconnected: tf.UnconnectedGradients,
    intermediates: Sequence[tf.Tensor] = (),
  ) -> list[Any]:
    """The gradients w.r.t. `sources`, then w.r.t. `intermediates`.

    `intermediates` are Tensors computed from the sources while recording
    (not independent variables: gradients flow through them to the
    sources).
    """
    if self._consumed:
      raise RuntimeError(
        'A non-persistent tape can compute only one set of gradients; '
        'use persistent=True to differentiate the same call again.'
      )
    if intermediates:
      sources = [*sources, *intermediates]
    grads = _fast_tape.gradient(
      self._tape, targets, sources, output_gradients, unconnected
    )
    if grads is None:
      grads = self._tape.gradient(
        targets,
        sources,
        output_gradients=output_gradients,
        unconnected_gradients=unconnected,
      )
    self._consumed = not self._persistent
    return grads

  def jacobian(
    self,
    target: tf.Tensor,
    source: Any,
    unconnected: tf.UnconnectedGradients,
    batch: bool,
    use_pfor: bool = True,
    parallel_iterations: int | None = None,
    looped_rows: int = LOOPED_JACOBIAN_ROWS,
  ) -> Any:
    """The (batch) Jacobian of `target` with respect to `source`.

    `use_pfor` and `parallel_iterations` mean what they mean for
    `tf.GradientTape.jacobian`. Eagerly, a Jacobian of at most
    `looped_rows` rows is a loop of vector-Jacobian products on this
    persistent tape: TensorFlow's vectorised Jacobian traces a new
    function on every eager call, which costs as much as a hundred backward
    passes. A target without elements takes that path in every regime
    (TensorFlow's while loop fails on it). `batch` needs target and source
    checked first, as the core does.
    """
    rows = _rows(target, batch)
    if rows == 0 or (
      use_pfor
      and tf.executing_eagerly()
      and rows is not None
      and rows <= looped_rows
    ):
      return self._looped_jacobian(target, source, unconnected, batch)
    method = self._tape.batch_jacobian if batch else self._tape.jacobian
    with _quiet.vectorisation_internals():
      if use_pfor:
        try:
          return method(
            target,
            source,
            unconnected_gradients=unconnected,
            parallel_iterations=parallel_iterations,
          )
        except ValueError:
          pass  # pfor cannot vectorise every op: a while loop, as tfp does.
      return method(
        target,
        source,
        unconnected_gradients=unconnected,
        parallel_iterations=parallel_iterations,
        experimental_use_pfor=False,
      )

  def _looped_jacobian(
    self,
    target: tf.Tensor,
    source: Any,
    unconnected: tf.UnconnectedGradients,
    batch: bool,
  ) -> Any:
    """The Jacobian, one vector-Jacobian product per row.

    A target without elements still takes one (empty) product, which says
    whether `source` is connected: the Jacobian is then empty, or `None`.
    """
    row_shape = target.shape[1:] if batch else target.shape
    rows = row_shape.num_elements()
    basis = tf.unstack(
      tf.reshape(tf.eye(rows, dtype=target.dtype), [rows, *row_shape]), num=rows
    )
    if batch:
      basis = [tf.broadcast_to(e, target.shape) for e in basis]
    products = []
    for cotangent in basis or [tf.zeros_like(target)]:
      (product,) = self.gradient([target], [source], [cotangent], unconnected)
      if product is None:  # Every row is, when one is: no path to `source`.
        return None
      products.append(tf.convert_to_tensor(product))  # IndexedSlices.
    source_shape = products[0].shape[1:] if batch else products[0].shape
    if not basis:
      return tf.zeros([*target.shape, *source_shape], target.dtype)
    jacobian = tf.stack(products, axis=1 if batch else 0)
    return tf.reshape(jacobian, [*target.shape, *source_shape])

  def watched_variables(self) -> tuple[tf.Variable, ...]:
    return tuple(self._tape.watched_variables())


class SymbolicRecording:
  """A backward pass built with `tf.gradients` in the current graph."""

  __slots__ = ()
  engine = 'symbolic'

  def gradient(
    self,
    targets: Sequence[tf.Tensor],
    sources: Sequence[Any],
    output_gradients: Sequence[tf.Tensor] | None,
    unconnected: tf.UnconnectedGradients,
    intermediates: Sequence[tf.Tensor] = (),
  ) -> list[Any]:
    """As `TapeRecording.gradient`."""
    if output_gradients is None and any(t.dtype.is_complex for t in targets):
      # tf.gradients insists on grad_ys for complex targets; a tape uses ones.
      output_gradients = [tf.ones_like(t) for t in targets]
    # Sources are independent variables, as on a tape: a source computed
    # from another one (an identity copy of the same Tensor, say) is not
    # differentiated through.
    gradients: list[Any] = tf.gradients(
      targets,
      [*sources, *intermediates],
      grad_ys=output_gradients,
      stop_gradients=[s for s in sources if isinstance(s, tf.Tensor)],
      unconnected_gradients=unconnected,
    )
    return gradients


_SYMBOLIC = SymbolicRecording()


def record_with_tape(
  thunk: Callable[[], Any],
  watched: Sequence[Any],
  *,
  persistent: bool = False,
  watch_accessed_variables: bool = False,
) -> tuple[Any, TapeRecording]:
  """Runs `thunk` on a fresh tape that watches `watched`."""
  tape = tf.GradientTape(
    persistent=persistent, watch_accessed_variables=watch_accessed_variables
  )
  with tape:
    if watched and not _fast_tape.watch(tape, watched):
      tape.watch(watched)
    outputs = thunk()
  return outputs, TapeRecording(tape, persistent)


def record_symbolically(
  thunk: Callable[[], Any],
  watched: Sequence[Any],
  *,
  persistent: bool = False,
  watch_accessed_variables: bool = False,
) -> tuple[Any, SymbolicRecording]:
  """Runs `thunk` in the current graph; `tf.gradients` differentiates later.

  A graph keeps every operation, so there is nothing to watch and every
  recording is persistent.
  """
  del watched, persistent, watch_accessed_variables
  return thunk(), _SYMBOLIC


def recorder(
  use_gradient_tape: bool, vectorised: bool = False
) -> Callable[..., tuple[Any, Any]]:
  """The engine `uses_tape` picks: `record_with_tape` or
  `record_symbolically`."""
  return (
    record_with_tape
    if uses_tape(use_gradient_tape, vectorised)
    else record_symbolically
  )


def record_forward(
  thunk: Callable[[], Any], primals: Sequence[Any], tangents: Sequence[Any]
) -> tuple[Any, tf.autodiff.ForwardAccumulator | None]:
  """Runs `thunk` under a forward-mode accumulator pushing `tangents`.

  With no primals there is nothing to push, and no accumulator.
  """
  if not primals:
    return thunk(), None
  with tf.autodiff.ForwardAccumulator(list(primals), list(tangents)) as acc:
    outputs = thunk()
  return outputs, acc
