"""The user's own variable behind each `tf.Variable` a tape watched.

`implicit_gradients` pairs each gradient with the variable the user holds:
the Keras 3 variable, where the tape saw the `tf.Variable` inside one. A
Keras variable keeps no link from its `tf.Variable` back to itself, so it is
looked for among what `f` can reach — its arguments, closure and the globals
it names, bound objects with their attributes and their classes'
attributes, Keras layers and models through Keras's own tracking, and the
containers among those — breadth first, nearest first, and only until every
watched variable is matched: a model next to a large dataset is found
before the dataset is looked at. A container is looked into up to its first
`MAX_ITEMS` items.

Each match is remembered for the life of the `tf.Variable` (weakly, so the
library keeps no variable or model alive), so after the first call a
function's variables cost a dictionary lookup each, however much other data
it can reach. A plain `tf.Variable` found on the way is its own match (the
user's own object). A variable found nowhere is returned as the
`tf.Variable`, with a warning once per function.
"""

from __future__ import annotations

import collections
import functools
import inspect
import itertools
import sys
import threading
import warnings
import weakref
from typing import Any, Callable, Iterable, Sequence

import tensorflow as tf

from tfgradtools import _errors

MAX_ITEMS = 1_000  # Items of one container looked at.
MAX_OBJECTS = 100_000  # Objects looked at by one search.


class VariableNotFoundWarning(UserWarning):
  """`implicit_*` could not find the Keras variable behind a `tf.Variable`.

  The pair then holds the `tf.Variable`; the message says which and how to
  make its owner reachable from `f`. To silence it:

  >>> import warnings
  >>> import tfgradtools.eager as tfe
  >>> with warnings.catch_warnings():
  ...   warnings.simplefilter('ignore', tfe.VariableNotFoundWarning)
  """


class _Owners:
  """`tf.Variable` -> the user's variable, held weakly on both sides.

  A variable found nowhere is remembered only for the function that could
  not reach its owner: another function may reach it.
  """

  def __init__(self) -> None:
    self._entries: dict[int, tuple[weakref.ref[Any], Any, Any]] = {}
    self._lock = threading.Lock()

  def get(self, variable: tf.Variable, searcher: Any) -> tuple[bool, Any]:
    """`(known, owner)`; `owner` is `None` for a variable `searcher` (a
    function's code) could not find."""
    entry = self._entries.get(id(variable))
    if entry is None or entry[0]() is not variable:
      return False, None
    _, owner_ref, failed = entry
    if owner_ref is None:
      return failed is not None and failed() is searcher, None
    owner = owner_ref()
    return owner is not None, owner  # Unknown again once the owner is gone.

  def put(self, variable: tf.Variable, owner: Any, searcher: Any) -> None:
    key = id(variable)

    def forget(_: Any) -> None:
      self._forget(key)

    entry: tuple[weakref.ref[Any], Any, Any]
    if owner is not None:
      entry = (weakref.ref(variable, forget), weakref.ref(owner), None)
    else:
      entry = (weakref.ref(variable, forget), None, _weak(searcher))
    with self._lock:
      self._entries[key] = entry

  def _forget(self, key: int) -> None:
    with self._lock:
      self._entries.pop(key, None)


def _weak(obj: Any) -> Any:
  try:
    return weakref.ref(obj)
  except TypeError:
    return None


def _searcher(f: Callable[..., Any]) -> Any:
  """What stands for `f` in the memory of failed searches: its code."""
  f = _errors.unpartial(f)
  return getattr(getattr(f, '__func__', f), '__code__', None) or type(f)


_OWNERS = _Owners()
_warned: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_objects_searched = 0  # For tests: objects looked at by every search.


def user_variables(
  variables: Sequence[tf.Variable],
  f: Callable[..., Any],
  args: Sequence[Any],
  kwargs: dict[str, Any],
) -> list[Any]:
  """Each of `variables`, or the Keras 3 variable that wraps it."""
  searcher = _searcher(f)
  owners = []
  missing = {}
  for variable in variables:
    known, owner = _OWNERS.get(variable, searcher)
    owners.append(owner)
    if not known:
      missing[id(variable)] = variable
  if missing:
    found = _search([args, kwargs, f], missing)
    for variable in missing.values():
      _OWNERS.put(variable, found.get(id(variable)), searcher)
    owners = [
      found.get(id(v), owner)
      for v, owner in zip(variables, owners, strict=True)
    ]
  unmatched = [
    v for v, owner in zip(variables, owners, strict=True) if owner is None
  ]
  if unmatched:
    _warn_once(searcher, f, unmatched)
  return [
    v if owner is None else owner
    for v, owner in zip(variables, owners, strict=True)
  ]


def _warn_once(
  searcher: Any, f: Callable[..., Any], unmatched: list[tf.Variable]
) -> None:
  try:
    if _warned.get(searcher):
      return
    _warned[searcher] = True
  except TypeError:  # Not weakly referenceable: warn every time.
    pass
  names = ', '.join(repr(v.name) for v in unmatched)
  warnings.warn(
    f'implicit_gradients: {_errors.callable_name(f)} read the variable(s) '
    f'{names}, whose owner could not be found from it, so they are '
    'paired with that tf.Variable. If they belong to a Keras layer or '
    'model, make it reachable from the function: pass it as an argument, '
    'or keep it in a closure, a global the function names, or an '
    'attribute of the object whose method it is.',
    VariableNotFoundWarning,
    stacklevel=7,
  )  # The call of the transformed f.


def _search(
  roots: list[Any], missing: dict[int, tf.Variable]
) -> dict[int, Any]:
  """Owners of the `missing` variables reachable from `roots`, nearest first.

  Stops as soon as every one is matched, or after `MAX_OBJECTS` objects.
  """
  global _objects_searched
  keras_variable, keras_layer = _keras_types()
  found: dict[int, Any] = {}
  seen: set[int] = set()
  pending = collections.deque(roots)
  while pending and len(found) < len(missing) and len(seen) < MAX_OBJECTS:
    obj = pending.popleft()
    if id(obj) in seen or _is_leaf(obj):
      continue
    seen.add(id(obj))
    if keras_variable is not None and isinstance(obj, keras_variable):
      if id(obj.value) in missing:
        found[id(obj.value)] = obj
    elif isinstance(obj, tf.Variable):
      if id(obj) in missing:
        found[id(obj)] = obj
    else:
      pending.extend(_children(obj, keras_layer))
  _objects_searched += len(seen)
  return found


def _keras_types() -> tuple[Any, Any]:
  """Keras 3's `Variable` and `Layer`, once something has imported Keras."""
  keras = sys.modules.get('keras')
  if keras is None:
    return None, None
  return getattr(keras, 'Variable', None), getattr(keras, 'Layer', None)


_LEAVES = (
  str,
  bytes,
  int,
  float,
  complex,
  bool,
  type(None),
  tf.Tensor,
  tf.TensorSpec,
  tf.DType,
)


def _is_leaf(obj: Any) -> bool:
  """Objects that cannot lead to a variable (or would take too long)."""
  return (
    isinstance(obj, _LEAVES)
    or inspect.ismodule(obj)
    or type(obj).__module__ in ('numpy', 'builtins')
    and not isinstance(obj, (list, tuple, dict, set, frozenset))
    and not callable(obj)
  )


def _children(obj: Any, keras_layer: Any) -> Iterable[Any]:
  """The objects to look at next from `obj`."""
  if isinstance(obj, (list, tuple, set, frozenset)):
    return _first(obj)
  if isinstance(obj, dict):
    return _first(obj.values())
  if isinstance(obj, functools.partial):
    return [obj.func, *obj.args, *obj.keywords.values()]
  if inspect.ismethod(obj):
    return [obj.__self__, obj.__func__]
  if inspect.isfunction(obj):
    return _function_children(obj)
  if inspect.isclass(obj):
    return _class_children(obj)
  children: list[Any] = []
  if keras_layer is not None and isinstance(obj, keras_layer):
    children.extend(obj.variables)  # Keras's own tracking, nested layers too.
  attributes = getattr(obj, '__dict__', None)
  if isinstance(attributes, dict):
    children.extend(_first(attributes.values()))
  cls = type(obj)
  call = inspect.getattr_static(cls, '__call__', None)
  if inspect.isfunction(call):
    children.append(call)
  children.append(cls)  # Class attributes: a model shared by instances.
  return children


def _first(items: Iterable[Any]) -> list[Any]:
  """The first `MAX_ITEMS` of `items`."""
  return list(itertools.islice(items, MAX_ITEMS))


def _function_children(f: Any) -> list[Any]:
  cells = []
  for cell in f.__closure__ or ():
    try:
      cells.append(cell.cell_contents)
    except ValueError:  # An empty cell.
      pass
  scope = f.__globals__
  named = [scope[name] for name in _global_names(f.__code__) if name in scope]
  return cells + named + list(f.__defaults__ or ())


@functools.lru_cache(maxsize=4096)
def _global_names(code: Any) -> tuple[str, ...]:
  """The names `code` (and the code nested in it) may read as globals."""
  names = list(code.co_names)
  for constant in code.co_consts:
    if inspect.iscode(constant):
      names.extend(_global_names(constant))
  return tuple(dict.fromkeys(names))


def _class_children(cls: type) -> list[Any]:
  """A user class's attributes (not TensorFlow's, Keras's or builtins')."""
  if cls.__module__.partition('.')[0] in (
    'builtins',
    'tensorflow',
    'keras',
    'numpy',
    'tf_keras',
  ):
    return []
  return [
    value
    for value in vars(cls).values()
    if not inspect.isroutine(value)
    and not isinstance(value, (property, staticmethod, classmethod))
  ]
