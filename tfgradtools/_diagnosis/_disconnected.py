"""The error of `unconnected_gradients='raise'`, raised by the core."""

from __future__ import annotations

from typing import Sequence

from tfgradtools._diagnosis import _arguments
from tfgradtools._diagnosis import _graph
from tfgradtools._diagnosis import _report


def error(
  subject: _graph.Subject, missing: Sequence[int], api: str
) -> _report.DisconnectedGradientError:
  """The error explaining why each source in `missing` has no derivative."""
  notes = []
  try:
    found, _ = _graph.analysed(
      subject, lambda s: (_graph.causes(s, missing), [])
    )
  except _graph.Untraceable as untraceable:
    found = {k: untraceable.cause(subject.watched[k]) for k in missing}
    notes.append(untraceable.note())
  return _report.disconnected_error(
    api,
    _arguments.names(subject.call, subject.sources),
    [getattr(s, 'dtype', None) for s in subject.sources],
    found,
    notes,
  )
