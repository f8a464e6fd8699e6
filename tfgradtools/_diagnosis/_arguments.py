"""Where each source sits in `f`'s arguments: its name, and `f` without it.

One rule names a source wherever a diagnosis speaks of it: by where `f`
receives it (`x`, `args[1]`, `params['w']`), a variable by its own path,
and a source `f` does not receive (read from a closure, say) by its
position among the sources. The same places let a diagnosis call `f` again
with one source replaced by another value.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, NamedTuple, Sequence

import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _nest


class Call(NamedTuple):
  """`f` and the arguments it was called with, as it received them."""

  f: Callable[..., Any]
  args: Sequence[Any]
  kwargs: dict[str, Any]


def variable_name(variable: Any) -> str:
  """A variable's path (Keras) or name (without TensorFlow's `:0`)."""
  if _args.is_keras_variable(variable):
    return str(variable.path)
  return str(variable.name).split(':')[0]


def names(call: Call | None, sources: Sequence[Any]) -> list[str]:
  """A readable name for each source, in the sources' order.

  A source `f` receives is named by its place among `f`'s arguments (the
  same Tensor at several places is named by each in turn); a variable it
  does not receive by its own name; any other by its position.
  """
  places: dict[int, list[str]] = {}
  for name, leaf in _named_leaves(call):
    places.setdefault(id(leaf), []).append(name)
  taken: dict[int, int] = {}
  result = []
  for k, source in enumerate(sources):
    found = places.get(id(source), [])
    if found:
      turn = taken.get(id(source), 0)
      taken[id(source)] = turn + 1
      result.append(found[min(turn, len(found) - 1)])
    elif _args.is_variable(source):
      result.append(variable_name(source))
    else:
      result.append(f'source {k}')
  return result


def _named_leaves(call: Call | None) -> Iterator[tuple[str, Any]]:
  """Each leaf of the call's arguments (a module's trainable variables
  for a module), with its name: the parameter's, then indices and keys."""
  if call is None:
    return
  parameters: list[str] = []
  signature = (
    _args.signature_of(call.f) if _args.takes_arguments(call.f) else None
  )
  if signature is not None:
    parameters = [
      p.name
      for p in signature.parameters.values()
      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
  for i, arg in enumerate(call.args):
    yield from _leaves(
      arg, parameters[i] if i < len(parameters) else f'args[{i}]'
    )
  for key in sorted(call.kwargs):
    yield from _leaves(call.kwargs[key], key)


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
  """`value`'s leaves and their names, in the order `_nest.flatten` has."""
  kind = type(value)
  if kind is list or kind is tuple:
    for j, item in enumerate(value):
      yield from _leaves(item, f'{prefix}[{j}]')
  elif kind is dict:
    for key in sorted(value):
      yield from _leaves(value[key], f'{prefix}[{key!r}]')
  elif _args.has_trainable_variables(value):
    for variable in value.trainable_variables:
      yield variable_name(variable), variable
  elif _args.is_variable(value):
    yield variable_name(value), value
  elif not isinstance(value, tf.Tensor) and tf.nest.is_nested(value):
    for j, leaf in enumerate(tf.nest.flatten(value)):
      yield from _leaves(leaf, f'{prefix}[{j}]')
  else:
    yield prefix, value


def receives(call: Call, source: Any) -> bool:
  """Whether `f` receives `source` among its arguments (not from a closure,
  nor inside a module)."""
  return any(
    leaf is source for leaf in _nest.flatten((list(call.args), call.kwargs))
  )


def replaced(call: Call, source: Any, value: Any) -> Call:
  """`call` with `value` wherever `f` receives `source`."""
  structure = (list(call.args), call.kwargs)
  leaves = _nest.flatten(structure)
  args, kwargs = _nest.pack(
    structure, [value if leaf is source else leaf for leaf in leaves]
  )
  return Call(call.f, args, kwargs)
