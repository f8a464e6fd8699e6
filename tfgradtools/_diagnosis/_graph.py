"""The causes of missing and non-finite gradients, read off a graph's ops.

Every question is asked of the graph that holds `f`'s ops: the paths from
a source to the targets (its consumers, up to the targets' ancestors), and
which tensors on them get a gradient (`tf.gradients` from the targets). A
source with no gradient has no path at all, or a path the gradient cannot
follow: the op where it stops is to blame — or, where an integer value
stops it, the op that made the integer from a floating-point one. A
non-finite gradient is located by each op's own part of the backward pass:
the first op, in the backward pass's order, whose gradient with respect to
its inputs is not finite while the gradient it received is.
"""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _autograph
from tfgradtools import _engines
from tfgradtools._diagnosis import _arguments

Location = tuple[str, int]

# The ops a gradient can follow carry one of these dtypes, or a floating
# point or complex one.
_CARRIERS = (tf.resource, tf.variant)


class Cause(NamedTuple):
  """Why one source's gradient is what it is."""

  reason: str
  op_type: str | None
  location: Location | None


class Subject(NamedTuple):
  """What was differentiated.

  `watched` holds, for each source, what the engine watched (`None` for a
  source of a dtype no gradient reaches); `cotangents` weigh the targets
  (`None` for ones); `replay` records the same call again in the graph
  being built, for a call recorded eagerly; `call` is `f` and the
  arguments it received.
  """

  targets: list[Any]
  cotangents: list[Any] | None
  sources: Sequence[Any]
  watched: list[Any]
  replay: Callable[[], Subject]
  call: _arguments.Call | None


class Candidates(NamedTuple):
  """Ops that may start a non-finite backward pass, and for the source at
  each of `sources` the index of the first that did (`first`, a Tensor of
  one index per source, `-1` for none)."""

  op_types: list[str]
  locations: list[Location | None]
  sources: list[int]
  first: tf.Tensor


def built_in_graph(subject: Subject) -> bool:
  """Whether `subject`'s ops are in a graph (a `tf.function`'s, a TF1 one)."""
  return any(tf.is_symbolic_tensor(t) for t in subject.targets)


def analysed(
  subject: Subject, analyse: Callable[[Subject], tuple[Any, list[Any]]]
) -> tuple[Any, list[Any]]:
  """`analyse(subject)` where `subject`'s ops are in a graph.

  `analyse` returns what it found and Tensors to compute. A call recorded
  eagerly is replayed once in a graph traced for this alone (`f` as
  written; with AutoGraph where its Python code needs it), and the
  Tensors are computed by running that graph. Nothing it computes is
  returned to the caller as a value or a gradient.
  """
  if built_in_graph(subject):
    return analyse(subject)

  def trace(as_written: bool) -> tuple[Any, Any]:
    found = []

    def replayed() -> list[Any]:
      with _autograph.unconverted() if as_written else contextlib.nullcontext():
        replay = subject.replay()
      static, tensors = analyse(replay)
      found.append(static)
      return tensors

    concrete = tf.function(replayed, autograph=False).get_concrete_function()
    return found[0], concrete

  try:
    static, concrete = trace(as_written=True)
  except Exception as as_written:  # pylint: disable=broad-except
    if not isinstance(as_written, TypeError):
      raise Untraceable(as_written) from as_written
    try:  # Python control flow on Tensors, say: with AutoGraph.
      static, concrete = trace(as_written=False)
    except Exception as error:  # pylint: disable=broad-except
      raise Untraceable(as_written) from error
  return static, list(concrete()) if concrete.outputs else []


class Untraceable(Exception):
  """`f`, called eagerly, cannot be traced into a graph to see its ops.

  It reads a value in Python, say. Where it is a variable's value (a
  variable's `numpy` is on the error's traceback), that variable and the
  user's line are known: its value left TensorFlow there.
  """

  def __init__(self, error: Exception):
    super().__init__(f'{type(error).__name__}: {str(error).splitlines()[0]}')
    self.variable, self.location = None, None
    library = _library_prefixes()
    user = None
    traceback = error.__traceback__
    while traceback is not None:
      frame = traceback.tb_frame
      owner = frame.f_locals.get('self')
      if frame.f_code.co_name == 'numpy' and _args.is_variable(owner):
        self.variable, self.location = owner, user
        break
      if not frame.f_code.co_filename.startswith(library):
        user = (frame.f_code.co_filename, traceback.tb_lineno)
      traceback = traceback.tb_next

  def cause(self, watched: Any) -> Cause:
    """What is known of a source (by what was watched for it)."""
    if self.variable is not None and any(
      watched is v for v in (self.variable, _args.watchable(self.variable))
    ):
      return Cause('left_tensorflow', None, self.location)
    return Cause('unknown', None, None)

  def note(self) -> str:
    """What it means for the other causes, in the user's words."""
    if self.variable is not None:
      where = (
        ''
        if self.location is None
        else (f' ({os.path.basename(self.location[0])}:{self.location[1]})')
      )
      return (
        f'`f` reads a variable\'s value in Python{where}, so it could '
        'not be traced into a graph to see its ops: read it with '
        'TensorFlow ops instead, then ask again for the causes not '
        'determined above.'
      )
    return (
      '`f` could not be traced into a graph to see its ops '
      f'({self.args[0]}), so the causes above could not be '
      'determined. A function that reads a value in Python '
      '(`float(x[1])`, `.numpy()`) works eagerly only; call it on '
      'Tensors built with TensorFlow ops to see more.'
    )


def _library_prefixes() -> tuple[str, ...]:
  """Where TensorFlow, Keras, this library and Python's own modules are."""
  prefixes = [sysconfig.get_paths()['stdlib']]
  for name in ('tensorflow', 'keras', 'tf_keras', 'tfgradtools'):
    path = getattr(sys.modules.get(name), '__file__', None)
    if path:
      prefixes.append(os.path.dirname(os.path.abspath(path)))
  return tuple(os.path.join(p, '') for p in prefixes)


def user_location(
  op: tf.Operation, library: tuple[str, ...] | None = None
) -> Location | None:
  """The user's line that created `op`: the innermost frame of its traceback
  outside TensorFlow, Keras, this library, Python's own modules (frozen
  ones too) and AutoGraph's generated code (`library`, where known)."""
  library = library or _library_prefixes()
  for frame in reversed(list(op.traceback or ())):
    filename = frame.filename
    if (
      filename.startswith(library)
      or filename.startswith('<frozen')
      or '__autograph_generated_file' in filename
    ):
      continue
    return filename, frame.lineno
  return None


def graph_tensor(graph: tf.Graph, x: Any) -> tf.Tensor | None:
  """`x` (a Tensor, or a variable by its handle) as `graph`'s ops read it.

  A Tensor from outside a `tf.function`'s graph is read as its capture;
  `None` where the graph never reads `x`.
  """
  if _args.is_variable(x):
    x = _args.watchable(x).handle
  if tf.is_symbolic_tensor(x) and x.graph is graph:
    return x
  outer = getattr(graph, 'outer_graph', None)
  outside = graph_tensor(outer, x) if outer is not None else None
  for external, internal in getattr(graph, 'captures', ()):
    if external is x or (outside is not None and external is outside):
      return internal
  return None


def _carries_gradient(t: tf.Tensor) -> bool:
  return t.dtype.is_floating or t.dtype.is_complex or t.dtype in _CARRIERS


def _ancestors(targets: Sequence[tf.Tensor]) -> dict[Any, Any]:
  """The Tensors the targets are computed from (by `ref()`), targets too."""
  seen: dict[Any, Any] = {}
  stack = list(targets)
  while stack:
    t = stack.pop()
    if t.ref() not in seen:
      seen[t.ref()] = t
      stack.extend(t.op.inputs)
  return seen


def _path(
  source: tf.Tensor | None, ancestors: dict[Any, Any]
) -> dict[Any, Any]:
  """The Tensors on a path from `source` to the targets, by `ref()`.

  A consumer's output outside the targets' ancestors leads nowhere, so
  the walk stays among them.
  """
  path: dict[Any, Any] = {}
  if source is None or source.ref() not in ancestors:
    return path
  stack = [source]
  while stack:
    t = stack.pop()
    if t.ref() in path:
      continue
    path[t.ref()] = t
    for op in t.consumers():
      stack.extend(o for o in op.outputs if o.ref() in ancestors)
  return path


def _gradients(subject: Subject, tensors: list[tf.Tensor]) -> list[Any]:
  """The graph engine's gradients of the targets (weighted as they were)
  to `tensors`, intermediates of the graph that gradients flow through."""
  return _engines.SymbolicRecording().gradient(
    subject.targets,
    [],
    subject.cotangents,
    tf.UnconnectedGradients.NONE,
    intermediates=tensors,
  )


class _Graph:
  """The targets' graph: its op order and the sources' paths."""

  def __init__(self, subject: Subject, indices: Sequence[int]):
    self.subject = subject
    self.graph = subject.targets[0].graph
    self.order = {
      op.name: i for i, op in enumerate(self.graph.get_operations())
    }
    self.ancestors = _ancestors(subject.targets)
    self.tensors = {
      k: graph_tensor(self.graph, subject.watched[k])
      for k in indices
      if subject.watched[k] is not None
    }
    self.paths = {k: _path(t, self.ancestors) for k, t in self.tensors.items()}
    self.union: dict[Any, Any] = {}
    for path in self.paths.values():
      self.union.update(path)


def causes(subject: Subject, indices: Sequence[int]) -> dict[int, Cause]:
  """Why each source in `indices` gets no gradient (in `subject`'s graph)."""
  found = {
    k: Cause('integer', None, None)
    for k in indices
    if subject.watched[k] is None
  }
  graph = _Graph(subject, [k for k in indices if k not in found])
  tensors = list(graph.union.values())
  reached = (
    {
      t.ref()
      for t, g in zip(tensors, _gradients(subject, tensors), strict=True)
      if g is not None
    }
    if tensors
    else set()
  )
  for k, tensor in graph.tensors.items():
    path = graph.paths[k]
    if tensor is None or not path:
      found[k] = _no_path(graph, k)
    elif tensor.ref() in reached:  # A derivative of higher order is None.
      found[k] = Cause('connected', None, None)
    else:
      found[k] = _blocked(graph, path, reached)
  return found


def _blocked(graph: _Graph, path: dict[Any, Any], reached: set[Any]) -> Cause:
  """The op where the gradient stops on its way back to the source.

  It is an op whose output on the path gets a gradient but whose input on
  it does not: that op itself where the input is floating point (no
  gradient, `tf.stop_gradient`), else the op that made that integer input
  from a floating-point value (`tf.argmax`, `tf.cast`, `tf.equal`, ...).
  """
  blamed = []
  for t in path.values():
    if t.ref() in reached:
      continue
    is_target = any(t is target for target in graph.subject.targets)
    ends = [None] if is_target else []
    ends += [
      op
      for op in t.consumers()
      if any(o.ref() in path and o.ref() in reached for o in op.outputs)
    ]
    for op in ends:
      if op is not None and _carries_gradient(t):
        blamed.append(op)
      else:
        maker = _made_integer(t, path)
        if maker is not None:
          blamed.append(maker)
  if not blamed:
    return Cause('non_differentiable', None, None)
  op = min(blamed, key=lambda o: graph.order.get(o.name, 0))
  reason = (
    'stop_gradient' if op.type == 'StopGradient' else ('non_differentiable')
  )
  return Cause(reason, op.type, user_location(op))


def _made_integer(t: tf.Tensor, path: dict[Any, Any]) -> tf.Operation | None:
  """The op on the path that computed integer `t`'s ancestry from a
  floating-point input."""
  queue, seen = [t.op], set()
  while queue:
    op = queue.pop(0)
    if op.name in seen:
      continue
    seen.add(op.name)
    inputs = [i for i in op.inputs if i.ref() in path]
    if any(_carries_gradient(i) for i in inputs):
      return op
    queue.extend(i.op for i in inputs)
  return None


def _value_of(source: Any) -> np.ndarray | None:
  """The source's value where it is known without running the graph."""
  if _args.is_variable(source):
    with tf.init_scope():
      return np.asarray(source.numpy()) if tf.executing_eagerly() else None
  if not tf.is_symbolic_tensor(source):
    return np.asarray(source.numpy())
  value = tf.get_static_value(source)
  return None if value is None else np.asarray(value)


def _no_path(graph: _Graph, k: int) -> Cause:
  """No path: `'left_tensorflow'` where the value came back as a constant,
  else `'unused'`.

  A constant the targets are computed from, made in the graph with the
  source's value, is only a clue: a literal may equal it by chance (`a *
  2.` beside a source `b` of 2). It is the cause where `f`, traced once
  more with the source replaced by another value, makes a constant of that
  other value on the same user's line: the constant follows the source.
  """
  subject = graph.subject
  source = subject.sources[k]
  known = None if not hasattr(source, 'dtype') else _value_of(source)
  if known is None or known.dtype.kind not in 'fc':
    return Cause('unused', None, None)
  lines = [
    user_location(op)
    for op in _constants_equal_to(
      graph.graph, known, list(graph.ancestors.values())
    )
  ]
  lines = [line for line in lines if line is not None]
  if lines:
    followed = _following(subject.call, source, known)
    for line in lines:
      if line in followed:
        return Cause('left_tensorflow', None, line)
  return Cause('unused', None, None)


def _constants_equal_to(
  graph: tf.Graph, value: np.ndarray, tensors: Sequence[tf.Tensor]
) -> list[tf.Operation]:
  """The constants among `tensors` with exactly `value`, made in `graph`
  (in the order made), not Tensors captured from outside it (a capture
  may be a constant: that is an argument's own value)."""
  captured = {internal.ref() for _, internal in getattr(graph, 'captures', ())}
  order = {op.name: i for i, op in enumerate(graph.get_operations())}
  constants = [
    t.op for t in tensors if t.op.type == 'Const' and t.ref() not in captured
  ]
  found = []
  for op in sorted(constants, key=lambda o: order.get(o.name, 0)):
    constant = tf.get_static_value(op.outputs[0])
    if (
      constant is not None
      and np.shape(constant) == value.shape
      and np.asarray(constant).dtype.kind in 'fc'
      and np.allclose(constant, value, rtol=1e-6, atol=0.0)
    ):
      found.append(op)
  return found


def _other_value(value: np.ndarray) -> np.ndarray:
  """A value of `value`'s dtype and shape, different in every element, and
  unlike a literal anyone would write."""
  other: np.ndarray = (value + (1.0 + np.abs(value)) * 0.1234567).astype(
    value.dtype
  )
  return other


def _like(source: Any, value: np.ndarray) -> Any:
  """`value` as what `source` is: a variable, an eager Tensor, or a
  constant of the graph being built."""
  if _args.is_variable(source):
    with tf.init_scope():
      return tf.Variable(value, trainable=source.trainable)
  if not tf.is_symbolic_tensor(source):
    with tf.init_scope():
      return tf.constant(value)
  return tf.constant(value)


def _following(
  call: _arguments.Call | None, source: Any, known: np.ndarray
) -> set[Location]:
  """The user's lines where `f`, called with `source` replaced by another
  value in a graph traced for this alone, makes a constant of that value.

  Empty where `f` does not receive `source` as an argument, or fails on
  the other value.
  """
  if call is None or not _arguments.receives(call, source):
    return set()
  other = _other_value(known)
  made: list[Any] = []

  def traced() -> None:
    replacement = _like(source, other)
    made.append(replacement)
    again = _arguments.replaced(call, source, replacement)
    _autograph.call(again.f, *again.args, **again.kwargs)

  try:
    graph = tf.function(traced, autograph=False).get_concrete_function().graph
  except Exception:  # pylint: disable=broad-except
    return set()
  own = {
    id(t.op)
    for t in made
    if isinstance(t, tf.Tensor) and tf.is_symbolic_tensor(t)
  }
  tensors = [
    o for op in graph.get_operations() if id(op) not in own for o in op.outputs
  ]
  return {
    line
    for op in _constants_equal_to(graph, other, tensors)
    if (line := user_location(op)) is not None
  }


def all_finite(x: Any, axes: dict[int, tf.Tensor] | None = None) -> tf.Tensor:
  """Whether every element of `x` (dense or `tf.IndexedSlices`) is finite.

  `axes` holds the reduction axes of each rank made so far, to share
  among many checks in one graph.
  """
  if isinstance(x, tf.IndexedSlices):
    x = x.values
  if x.dtype.is_complex:
    x = tf.concat(
      [tf.reshape(tf.math.real(x), [-1]), tf.reshape(tf.math.imag(x), [-1])], 0
    )
  rank = x.shape.rank
  if axes is None or rank is None:
    return tf.reduce_all(tf.math.is_finite(x))
  if rank not in axes:
    axes[rank] = tf.constant(list(range(rank)), tf.int32)
  return tf.reduce_all(tf.math.is_finite(x), axis=axes[rank])


def nonfinite_candidates(
  subject: Subject, indices: Sequence[int]
) -> Candidates:
  """Ops on the sources' paths whose own backward step makes a NaN or Inf.

  One backward pass gives the gradient every Tensor on the paths receives.
  An op's step is the gradient of its outputs to its inputs, weighted by
  what its outputs receive, with its inputs held independent: flagged where
  that is not finite while what it received is. An input no other op sends
  a gradient to receives exactly this op's step, so that step is read off
  the pass; only the inputs several ops send gradients to (whose sum the
  pass holds) get a step of their own, from `tf.gradients`. Each Tensor's
  finiteness is checked once, and the ops are flagged together. For each
  source, `first` is the first flagged op on its path in the backward
  pass's order (the reverse of the order the ops were created in).
  """
  graph = _Graph(subject, indices)
  floating = [
    t for t in graph.union.values() if t.dtype.is_floating or t.dtype.is_complex
  ]
  received = dict(
    zip(
      (t.ref() for t in floating),
      _gradients(subject, floating) if floating else (),
      strict=True,
    )
  )
  checked: list[Any] = []  # The gradients whose finiteness is asked.
  position: dict[Any, int] = {}

  def check(key: Any, gradient: Any) -> int:
    if key not in position:
      position[key] = len(checked)
      checked.append(gradient)
    return position[key]

  def sends(op: tf.Operation) -> bool:
    return any(received.get(o.ref()) is not None for o in op.outputs)

  targets = {t.ref() for t in subject.targets}
  ops = {}
  for t in floating:
    for op in t.consumers():
      ops[op.name] = op
  library = _library_prefixes()
  op_types, locations, steps, outputs, touches = [], [], [], [], []
  for op in sorted(ops.values(), key=lambda o: -graph.order.get(o.name, 0)):
    outs = [o for o in op.outputs if received.get(o.ref()) is not None]
    ins = list({i.ref(): i for i in op.inputs if i.ref() in received}.values())
    if not outs or not ins:
      continue
    own = [
      i
      for i in ins
      if i.ref() not in targets
      and [c.name for c in i.consumers() if sends(c)] == [op.name]
    ]
    shared = [i for i in ins if all(i is not o for o in own)]
    step = [
      check(i.ref(), received[i.ref()])
      for i in own
      if received[i.ref()] is not None
    ]
    if shared:
      step += [
        check(object(), s)
        for s in tf.gradients(
          outs,
          shared,
          grad_ys=[received[o.ref()] for o in outs],
          stop_gradients=shared,
        )
        if s is not None
      ]
    if not step:
      continue
    steps.append(step)
    outputs.append([check(o.ref(), received[o.ref()]) for o in outs])
    op_types.append(op.type)
    locations.append(user_location(op, library))
    touches.append(
      [any(i.ref() in graph.paths[k] for i in ins) for k in graph.tensors]
    )
  sources = list(graph.tensors)
  if not steps:
    return Candidates([], [], sources, tf.fill([len(sources)], -1))
  axes: dict[int, tf.Tensor] = {}  # One constant per rank, shared.
  finite = tf.stack([all_finite(g, axes) for g in checked])
  # Op j is flagged where `weights[j] @ not_finite > 0`: one of its steps
  # is not finite (+1 each), and nothing it received is (each of which
  # outweighs all the steps).
  weights = np.zeros([len(steps), len(checked)], np.float32)
  for j, (step, received_by) in enumerate(zip(steps, outputs, strict=True)):
    weights[j, step] = 1.0
    weights[j, received_by] = -1.0 - len(checked)
  flagged = (
    tf.linalg.matvec(weights, tf.cast(tf.logical_not(finite), tf.float32)) > 0.0
  )
  # hits[k, j]: op j, on source k's path, is flagged.
  hits = tf.logical_and(flagged, np.transpose(touches))
  first = tf.where(
    tf.reduce_any(hits, axis=1),
    tf.argmax(tf.cast(hits, tf.int32), axis=1, output_type=tf.int32),
    -1,
  )
  return Candidates(op_types, locations, sources, first)
