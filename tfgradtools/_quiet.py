"""Silences what TensorFlow logs about its own vectorisation machinery.

While the library vectorises (`tf.GradientTape.jacobian`, per-example
gradients), TensorFlow's `pfor` logs about functions and ops the user never
wrote: an error with the whole NodeDef for every op it cannot convert before
it falls back to a loop, a warning that a sparse gradient is densified, and
warnings that its internal `pfor` functions are retraced. None of it can be
acted on by the user, so one filter on TensorFlow's logger drops those
records, and only those, from the thread that is inside
`vectorisation_internals()`; every other thread and message passes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

import tensorflow as tf

_state = threading.local()


def _is_internal(record: logging.LogRecord) -> bool:
  """Whether `record` speaks of TensorFlow's vectorisation machinery."""
  return (
    'parallel_for' in record.pathname or 'pfor.<locals>' in record.getMessage()
  )


class _VectorisationFilter(logging.Filter):
  """Drops internal records logged by a thread that is vectorising."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not (getattr(_state, 'depth', 0) and _is_internal(record))


tf.get_logger().addFilter(_VectorisationFilter())


@contextlib.contextmanager
def vectorisation_internals() -> Iterator[None]:
  """Within: this thread's records about `pfor`'s internals are dropped.

  Nests: the records pass again once the outermost block exits.
  """
  _state.depth = getattr(_state, 'depth', 0) + 1
  try:
    yield
  finally:
    _state.depth -= 1
