"""A faster `tf.GradientTape.watch` and `.gradient` for flat lists of Tensors.

`GradientTape.gradient` spends most of a small eager call in Python: it
flattens, maps and re-packs its arguments with `tf.nest` before and after
the C++ backward pass, and `watch` checks each Tensor's dtype again. The
core already holds flat lists of Tensors it has checked, so it can call the
tape's C++ functions directly. This uses TensorFlow internals, so it is
taken only eagerly (a graph pays for Python once, at trace time), and only
where they are exactly as expected — plain Tensors to watch, as targets and
as output gradients, Tensors or plain resource variables as sources, and
the tape's internals present; `watch` and `gradient` say when they were not
taken (`False`, `None`), for the caller to use the public API.
`benchmarks/gradients.py` measures what it saves.
"""

from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf

try:
  from tensorflow.python import pywrap_tfe  # pylint: disable=g-direct-tensorflow-import
  from tensorflow.python.ops import resource_variable_ops  # pylint: disable=g-direct-tensorflow-import

  _TAPE_GRADIENT = pywrap_tfe.TFE_Py_TapeGradient
  _TAPE_WATCH = pywrap_tfe.TFE_Py_TapeWatch
  _RESOURCE_VARIABLE = resource_variable_ops.ResourceVariable
except (ImportError, AttributeError):  # A TensorFlow without them.
  _TAPE_GRADIENT = _TAPE_WATCH = _RESOURCE_VARIABLE = None


def _all_tensors(values: Sequence[Any]) -> bool:
  return all(isinstance(v, tf.Tensor) for v in values)


def _source_tensors(sources: Sequence[Any]) -> list[tf.Tensor] | None:
  """What the tape differentiates for each source: a Tensor, or a plain
  resource variable's handle; `None` if any source is something else."""
  tensors = []
  for source in sources:
    if isinstance(source, tf.Tensor):
      tensors.append(source)
    elif type(source) is _RESOURCE_VARIABLE:  # pylint: disable=unidiomatic-typecheck
      tensors.append(source.handle)
    else:
      return None
  return tensors


def _tape_set_entry(tape: tf.GradientTape) -> Any:
  """The C++ tape behind a `GradientTape`, or `None` where it is not there
  as expected (or not eagerly: a graph pays for Python once, at trace
  time)."""
  if not tf.executing_eagerly():
    return None
  return getattr(getattr(tape, '_tape', None), '_tape', None)


def watch(tape: tf.GradientTape, tensors: Sequence[Any]) -> bool:
  """Watches `tensors`, differentiable plain Tensors, on `tape` (inside its
  `with` block), as `tape.watch` would; `False` if not taken."""
  entry = _tape_set_entry(tape)
  if _TAPE_WATCH is None or entry is None or not _all_tensors(tensors):
    return False
  for tensor in tensors:
    _TAPE_WATCH(entry, tensor)
  return True


def gradient(
  tape: tf.GradientTape,
  targets: Sequence[Any],
  sources: Sequence[Any],
  output_gradients: Sequence[Any] | None,
  unconnected: tf.UnconnectedGradients,
) -> list[Any] | None:
  """The gradients `tape.gradient` would return, or `None` if not taken."""
  if _TAPE_GRADIENT is None or getattr(tape, '_recording', True):
    return None
  tape_set_entry = _tape_set_entry(tape)
  if (
    tape_set_entry is None
    or not _all_tensors(targets)
    or not (output_gradients is None or _all_tensors(output_gradients))
  ):
    return None
  source_tensors = _source_tensors(sources)
  if source_tensors is None:
    return None
  gradients: list[Any] = _TAPE_GRADIENT(
    tape_set_entry,
    list(targets),
    source_tensors,
    output_gradients,
    list(sources),
    unconnected.value,
  )
  return gradients
