"""The error of `unconnected_gradients='raise'`, raised by the core."""

from __future__ import annotations

from typing import Any, Sequence

from tfgradtools import _args
from tfgradtools._diagnosis import _graph
from tfgradtools._diagnosis import _report


def source_name(source: Any, k: int) -> str:
  """A source's name where the call's structure is not known: a variable's
  path or name, else its position among the flattened sources."""
  if _args.is_keras_variable(source):
    return source.path
  if _args.is_variable(source):
    return source.name.split(':')[0]
  return f'source {k}'


def error(subject: _graph.Subject, missing: Sequence[int],
          api: str) -> _report.DisconnectedGradientError:
  """The error explaining why each source in `missing` has no derivative."""
  notes = []
  try:
    found, _ = _graph.analysed(subject,
                               lambda s: (_graph.causes(s, missing), []))
  except _graph.Untraceable as untraceable:
    found = {k: untraceable.cause(subject.watched[k]) for k in missing}
    notes.append(untraceable.note())
  return _report.disconnected_error(
      api, [source_name(s, k) for k, s in enumerate(subject.sources)],
      [getattr(s, 'dtype', None) for s in subject.sources], found, notes)
