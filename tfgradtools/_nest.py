"""Flattening and packing of argument structures, fast for the usual ones.

Same order and results as `tf.nest.flatten` / `tf.nest.pack_sequence_as`
(dicts by sorted key), but plain lists, tuples and dicts are walked directly:
`tf.nest`'s general machinery costs tens of microseconds a call, which is
most of a small eager gradient's overhead. Other structures (namedtuples,
attrs classes, mappings) are handed to `tf.nest`.
"""

from __future__ import annotations

from typing import Any, Iterator

import tensorflow as tf


def flatten(structure: Any) -> list[Any]:
  """The leaves of `structure`, in `tf.nest.flatten` order."""
  leaves: list[Any] = []
  _flatten_into(structure, leaves)
  return leaves


def _flatten_into(structure: Any, leaves: list[Any]) -> None:
  kind = type(structure)
  if kind is list or kind is tuple:
    for item in structure:
      _flatten_into(item, leaves)
  elif kind is dict:
    for key in sorted(structure):
      _flatten_into(structure[key], leaves)
  elif not isinstance(structure, tf.Tensor) and tf.nest.is_nested(structure):
    leaves.extend(tf.nest.flatten(structure))
  else:
    leaves.append(structure)


def pack(structure: Any, leaves: list[Any]) -> Any:
  """`structure` with its leaves replaced by `leaves`, in order."""
  return _pack(structure, iter(leaves))


def _pack(structure: Any, leaves: Iterator[Any]) -> Any:
  kind = type(structure)
  if kind is list:
    return [_pack(item, leaves) for item in structure]
  if kind is tuple:
    return tuple(_pack(item, leaves) for item in structure)
  if kind is dict:
    packed = {key: _pack(structure[key], leaves) for key in sorted(structure)}
    return {key: packed[key] for key in structure}
  if not isinstance(structure, tf.Tensor) and tf.nest.is_nested(structure):
    count = len(tf.nest.flatten(structure))
    return tf.nest.pack_sequence_as(
      structure, [next(leaves) for _ in range(count)]
    )
  return next(leaves)


def structure_key(structure: Any) -> Any:
  """A hashable description of `structure` with its leaves left out."""
  kind = type(structure)
  if kind is list or kind is tuple:
    return (kind, tuple(structure_key(item) for item in structure))
  if kind is dict:
    return (
      dict,
      tuple((key, structure_key(structure[key])) for key in sorted(structure)),
    )
  if tf.nest.is_nested(structure):
    return (kind, repr(tf.nest.map_structure(lambda _: None, structure)))
  return None
