"""`explain_gradients`: a gradient, and why each of its parts is what it is."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _autograph
from tfgradtools import _calls
from tfgradtools import _core
from tfgradtools import _nest
from tfgradtools._diagnosis import _arguments
from tfgradtools._diagnosis import _graph
from tfgradtools._diagnosis._report import GradientReport
from tfgradtools._diagnosis._report import SourceReport


@_autograph.library_function
def explain_gradients(
  f: Callable[..., Any],
  *args: Any,
  output_gradients: Any = None,
  use_gradient_tape: bool = False,
  auto_unpack_single_arg: bool = True,
  name: str | None = None,
  **kwargs: Any,
) -> GradientReport:
  """Computes `f`'s value and gradients, and explains each gradient.

  The answer to "why is my gradient `None`?", "why is it NaN?" and Keras's
  "No gradients provided for any variable": for each source, whether a
  gradient reaches it and, where none does, why — the op to blame, the
  user's line that created it, and the fix:

  * `'unused'`: no path at all leads from the source to the value;
  * `'non_differentiable'`: the only paths go through an op without a
    gradient (`tf.argmax`, `tf.round`, `tf.cast` to an integer, a
    comparison, `tf.shape`, a sampling op);
  * `'stop_gradient'`: they go through `tf.stop_gradient`;
  * `'integer'`: the source is an integer or bool;
  * `'left_tensorflow'`: no path, but the value left TensorFlow
    (`.numpy()`, `np.asarray`, `float()`) and came back as a constant: a
    constant with exactly the source's value is used, and `f`, traced once
    more with the source replaced by another value, makes a constant of
    that other value on the same line (a literal that equals the value by
    chance does not follow it). A value changed on its way out and back, or
    one `f` reads from a closure rather than receives, cannot be told from
    any other constant: it is reported `'unused'`, with a sentence that
    names the possibility;
  * `'nonfinite'`: a gradient reaches the source, but it is NaN or Inf:
    the op is the first of the backward pass to make a NaN or Inf (such
    as `Sqrt` at 0, inside `tf.norm`), located at its forward op's line;
  * `'connected'`: a finite gradient reaches it;
  * `'unknown'`: no gradient reaches it, but why could not be determined
    (a call made eagerly that cannot be traced into a graph, because it
    reads a Tensor's value in Python, say; `str(report)` says so).

  `f` is called as by `value_and_gradient_with_auto_expansion`: a Keras
  model or layer (or a `tf.Module`) as an argument stands for its trainable
  variables, and its layers with `trainable=False` are named in the notes.
  The value and gradients are those of one ordinary call. To see ops and
  their lines, a call made eagerly is traced once more into a graph — for
  the explanation only, and only where a gradient is `None` or not finite
  (so a random op may draw other values there). Inside a `tf.function` or
  a TF1 graph the ops are already there; whether a gradient is finite is
  then known when the graph runs, so those fields are Tensors. Where an
  unused source's value equals a constant of the graph, `f` is traced once
  more, in every regime, to see whether that constant follows the source.

  #### Examples

  >>> import tensorflow as tf
  >>> import tfgradtools
  >>> x = tf.constant([1., 2., 3.])
  >>> report = tfgradtools.explain_gradients(
  ...     lambda x: tf.cast(tf.argmax(x), tf.float32), x)
  >>> source = report.sources[0]
  >>> source.path, source.reason, source.op_type
  ('x', 'non_differentiable', 'ArgMax')
  >>> report = tfgradtools.explain_gradients(
  ...     lambda x: tf.norm(x), tf.zeros([3]))
  >>> report.sources[0].reason, report.sources[0].op_type
  ('nonfinite', 'Sqrt')

  Args:
    f: Python callable to differentiate, as in `value_and_gradient`.
    *args: arguments of `f` and basis for the gradient.
    output_gradients: weights of the parts of `f`'s value, as in
      `value_and_gradient`.
      Default value: `None` (ones).
    use_gradient_tape: use `tf.GradientTape` even while building a graph.
      Default value: `False`.
    auto_unpack_single_arg: whether one list or tuple argument holds the
      arguments.
      Default value: `True`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'explain_gradients'`).
    **kwargs: keyword arguments of `f` and basis for the gradient.

  Returns:
    A `GradientReport`: `value` and `gradients` as `value_and_gradient`
    returns them, `sources` with one entry per flattened gradient, and
    `str(report)`, one sentence with the fix per source with a problem.

  Raises:
    TypeError: `f` is not callable or returns something that is not a Tensor.
    ValueError: no arguments were given, or `output_gradients` does not
      match `f`'s value.
  """
  api = 'explain_gradients'
  call = _calls.MathCall(
    f,
    args,
    kwargs,
    api=api,
    auto_unpack_single_arg=auto_unpack_single_arg,
    expand_modules=True,
  )
  recorded, flat = call.run(
    lambda: _core.differentiate(
      f,
      call.prepare,
      api=api,
      name=name or api,
      use_gradient_tape=use_gradient_tape,
      cotangent=output_gradients,
    )
  )
  gradients = _calls.without_value(
    call.result(recorded.value, None, False, flat), False
  )
  subject = recorded.subject(output_gradients)
  notes = [
    note for leaf in _nest.flatten(call.structure) for note in _frozen(leaf)
  ]
  sources = _diagnosed(
    subject, flat, _arguments.names(subject.call, subject.sources), notes
  )
  return GradientReport(recorded.value, gradients, sources, notes)


def _diagnosed(
  subject: _graph.Subject, flat: list[Any], paths: list[str], notes: list[str]
) -> list[SourceReport]:
  """One entry per source: connected, or the cause found in the graph (and
  where none could be, a note added to `notes`)."""
  missing = [k for k, g in enumerate(flat) if g is None]
  in_graph = _graph.built_in_graph(subject)
  suspects = [
    k
    for k, g in enumerate(flat)
    if g is not None and (in_graph or not bool(_graph.all_finite(g)))
  ]

  def analyse(s: _graph.Subject) -> tuple[Any, list[Any]]:
    candidates = _graph.nonfinite_candidates(s, suspects) if suspects else None
    return (
      (_graph.causes(s, missing) if missing else {}, candidates),
      [candidates.first] if candidates else [],
    )

  causes: dict[int, _graph.Cause] = {}
  candidates = _graph.Candidates([], [], [], None)
  first: dict[int, Any] = {}
  if missing or suspects:
    try:
      (causes, candidates), firsts = _graph.analysed(subject, analyse)
    except _graph.Untraceable as untraceable:
      notes.append(untraceable.note())
      causes = {k: untraceable.cause(subject.watched[k]) for k in missing}
      candidates = _graph.Candidates(
        [], [], suspects, tf.fill([len(suspects)], -1)
      )
      firsts = [candidates.first]
    if suspects:
      rows = {k: j for j, k in enumerate(candidates.sources)}
      first = {k: firsts[0][rows[k]] for k in suspects}
  entries = []
  for k, (grad, path) in enumerate(zip(flat, paths, strict=True)):
    dtype = getattr(subject.sources[k], 'dtype', None)
    if grad is None:
      cause = causes[k]
    elif k not in first:
      cause = _graph.Cause('connected', None, None)
    elif in_graph:
      entries.append(_when_run(path, grad, first[k], candidates, dtype))
      continue
    else:
      cause = _graph.Cause('nonfinite', *_candidate(candidates, int(first[k])))
    entries.append(
      SourceReport(
        path,
        grad is not None,
        cause.reason,
        cause.op_type,
        cause.location,
        dtype,
      )
    )
  return entries


def _candidate(
  candidates: _graph.Candidates, index: int
) -> tuple[str | None, Any]:
  if index < 0:
    return None, None
  return candidates.op_types[index], candidates.locations[index]


def _when_run(
  path: str,
  grad: Any,
  first: tf.Tensor,
  candidates: _graph.Candidates,
  dtype: Any,
) -> SourceReport:
  """A connected source's entry in a graph: Tensors, known when it runs."""
  locations = candidates.locations + [None]
  op_types = tf.constant(candidates.op_types + [''], tf.string)
  files = tf.constant([at[0] if at else '' for at in locations], tf.string)
  lines = tf.constant([at[1] if at else 0 for at in locations], tf.int32)
  finite = _graph.all_finite(grad)
  pick = tf.where(tf.logical_or(finite, first < 0), len(locations) - 1, first)
  return SourceReport(
    path,
    True,
    tf.where(finite, 'connected', 'nonfinite'),
    tf.gather(op_types, pick),
    (tf.gather(files, pick), tf.gather(lines, pick)),
    dtype,
  )


def _layers(module: Any) -> Iterator[Any]:
  """`module` and its layers, not looking inside a frozen one."""
  yield module
  if getattr(module, 'trainable', True) is False:
    return
  for layer in getattr(module, 'layers', None) or ():
    yield from _layers(layer)


def _frozen(leaf: Any) -> list[str]:
  """Sentences on the layers of a module argument with `trainable=False`."""
  if not _args.has_trainable_variables(leaf):
    return []
  notes = []
  for layer in _layers(leaf):
    weights = getattr(layer, 'weights', None) or ()
    if getattr(layer, 'trainable', True) is False and weights:
      name = getattr(layer, 'name', type(layer).__name__)
      notes.append(
        f'Layer `{name}` ({type(layer).__name__}) is frozen '
        f'(`trainable=False`): its {len(weights)} variable(s) are not '
        'differentiated, so an optimizer never updates them (and with '
        'every layer frozen Keras says "No gradients provided for any '
        f'variable"); set `{name}.trainable = True` to train it.'
      )
  return notes
