"""A faster `tf.GradientTape.gradient` for flat lists of plain Tensors.

`GradientTape.gradient` spends most of a small eager call in Python: it
flattens, maps and re-packs its arguments with `tf.nest` before and after
the C++ backward pass. The core already holds flat lists of Tensors, so it
can call that backward pass directly. This uses TensorFlow internals, so it
is taken only eagerly (a graph pays for Python once, at trace time), and
only where they are exactly as expected — plain Tensors as targets
and output gradients, Tensors or plain resource variables as sources, and
the tape's internals present — and
`gradient` returns `None` otherwise, for the caller to use the public API.
`benchmarks/run.py` measures what it saves.
"""

from __future__ import annotations

from typing import Any, Sequence

import tensorflow as tf

try:
  from tensorflow.python import pywrap_tfe  # pylint: disable=g-direct-tensorflow-import
  from tensorflow.python.ops import resource_variable_ops  # pylint: disable=g-direct-tensorflow-import
  _TAPE_GRADIENT = pywrap_tfe.TFE_Py_TapeGradient
  _RESOURCE_VARIABLE = resource_variable_ops.ResourceVariable
except (ImportError, AttributeError):  # A TensorFlow without them.
  _TAPE_GRADIENT = _RESOURCE_VARIABLE = None


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


def gradient(tape: tf.GradientTape, targets: Sequence[Any],
             sources: Sequence[Any],
             output_gradients: Sequence[Any] | None,
             unconnected: tf.UnconnectedGradients) -> list[Any] | None:
  """The gradients `tape.gradient` would return, or `None` if not taken."""
  if (_TAPE_GRADIENT is None or getattr(tape, '_recording', True) or
      not tf.executing_eagerly()):  # A graph pays for Python only once.
    return None
  tape_set_entry = getattr(getattr(tape, '_tape', None), '_tape', None)
  if tape_set_entry is None or not _all_tensors(targets) or not (
      output_gradients is None or _all_tensors(output_gradients)):
    return None
  source_tensors = _source_tensors(sources)
  if source_tensors is None:
    return None
  return _TAPE_GRADIENT(tape_set_entry, list(targets), source_tensors,
                        output_gradients, list(sources), unconnected.value)
