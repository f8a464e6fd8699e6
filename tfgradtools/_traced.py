"""Eager derivatives of pure functions, as cached graph functions.

Eagerly, every op of `f` and of its backward pass is dispatched from
Python, and a vectorised Jacobian traces a new function on every call. When
`f` is pure — everything its code can reach is immutable or checked by
value — the derivative (gradient, Jacobian, Hessian, JVP or HVP) is traced
once into a `tf.function` and each later call with the same function,
state and argument signature runs that graph: a few times faster for a
gradient, a hundred times for a small Hessian.

Purity is decided from what `f` reaches, and that is the cache key, so a
change of code or captured state can never meet a stale trace: `f`'s code
object, its defaults and closure, and the globals its code names (for the
functions among them, recursively) must all be numbers, strings, bytes,
`None`, tuples of such, small NumPy arrays (keyed by value), TensorFlow,
NumPy and `math` modules, or pure builtins such as `len`. The cache holds
nothing of the user's but code and such values. A function that stores
globals, names `random` (Python's randomness would be frozen at trace time)
or reaches anything else — a Tensor or variable (a trace would keep it
alive, and read a captured Tensor as a constant even where it is also an
argument), a list, a Keras model, an object's attributes, `print` — is
differentiated eagerly, as is one whose tracing fails, one whose result
holds Python values (a trace would turn them into Tensors), and one whose
code keeps bringing new state (a closure over each step's numbers), after
a few traces.
"""

from __future__ import annotations

import builtins
import collections
import dis
import threading
import types
import weakref
from typing import Any, Callable, Hashable

import numpy as np
import tensorflow as tf

_PURE_BUILTINS = frozenset(
    getattr(builtins, name) for name in (
        'abs', 'all', 'any', 'bool', 'complex', 'divmod', 'enumerate',
        'float', 'int', 'isinstance', 'len', 'list', 'map', 'max', 'min',
        'pow', 'range', 'reversed', 'round', 'slice', 'sorted', 'sum',
        'tuple', 'zip'))
_PURE_MODULES = ('tensorflow', 'numpy', 'math')
VALUE_TYPES = (int, float, complex, bool, str, bytes, type(None),
                np.generic, tf.DType)
_MAX_ARRAY_SIZE = 4096  # NumPy arrays up to this size are keyed by value.
_MAX_DEPTH = 8  # Functions reached through functions.
_STORES_GLOBALS = frozenset(dis.opmap[name] for name in ('STORE_GLOBAL',
                                                         'DELETE_GLOBAL'))


class _Impure(Exception):
  """`f` reaches something that is not known to be immutable."""


class _Fingerprint:
  """A hashable description of everything a function's result depends on.

  It holds no object of the user's but code and values: Tensors and
  variables are impure here, as a trace would keep them alive and read a
  captured Tensor as a constant, even where it is also an argument.
  """

  def __init__(self):
    self._functions: set[int] = set()

  def of(self, obj: Any, depth: int = 0) -> Hashable:
    if isinstance(obj, VALUE_TYPES):
      return (type(obj), obj)
    if isinstance(obj, tuple):
      return tuple(self.of(item, depth) for item in obj)
    if isinstance(obj, np.ndarray) and obj.size <= _MAX_ARRAY_SIZE:
      return ('array', obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, types.ModuleType):
      if obj.__name__.partition('.')[0] in _PURE_MODULES:
        return ('module', obj.__name__)
      raise _Impure(obj)
    if isinstance(obj, types.BuiltinFunctionType) or isinstance(obj, type):
      if obj in _PURE_BUILTINS:
        return ('builtin', obj.__name__)
      raise _Impure(obj)
    if isinstance(obj, types.FunctionType) and depth < _MAX_DEPTH:
      return self._function(obj, depth + 1)
    raise _Impure(obj)

  def _function(self, f: types.FunctionType, depth: int) -> Hashable:
    if id(f) in self._functions:  # Recursion: already described.
      return ('function', f.__code__)
    self._functions.add(id(f))
    names = _names_and_check(f.__code__)
    scope = f.__globals__
    reached = tuple(
        (name, self.of(scope[name], depth)) if name in scope else
        (name, self.of(getattr(builtins, name), depth))
        for name in sorted(names)
        if name in scope or hasattr(builtins, name))
    cells = tuple(self.of(cell.cell_contents, depth)
                  for cell in f.__closure__ or ())
    keyword_defaults = tuple(sorted(
        (name, self.of(value, depth))
        for name, value in (f.__kwdefaults__ or {}).items()))
    return ('function', f.__code__, self.of(f.__defaults__ or (), depth),
            keyword_defaults, cells, reached)


_code_names: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NOT_READ = object()


def _names_and_check(code: types.CodeType) -> frozenset[str]:
  """The global (and attribute) names `code` and its nested code use."""
  names = _code_names.get(code, _NOT_READ)
  if names is _NOT_READ:
    names = _code_names[code] = _read_names(code)
  if names is None:
    raise _Impure(code)
  return names


def _read_names(code: types.CodeType) -> frozenset[str] | None:
  """`_names_and_check`'s answer read from the bytecode; `None` if impure."""
  if any(instruction.opcode in _STORES_GLOBALS
         for instruction in dis.get_instructions(code)):
    return None
  names = set(code.co_names)
  for constant in code.co_consts:
    if isinstance(constant, types.CodeType):
      nested = _read_names(constant)
      if nested is None:
        return None
      names |= nested
  return None if 'random' in names else frozenset(names)


def fingerprint(f: Any) -> Hashable | None:
  """`f`'s cache key, or `None` if `f` is not pure."""
  if not isinstance(f, types.FunctionType):
    return None
  try:
    return _Fingerprint().of(f)
  except (_Impure, ValueError):  # ValueError: an empty closure cell.
    return None


class _Cache:
  """The traced functions, least recently used first, for a few keys."""

  def __init__(self, size: int):
    self._size = size
    self._entries: collections.OrderedDict[Hashable, Any] = (
        collections.OrderedDict())
    self._lock = threading.Lock()

  def get(self, key: Hashable) -> Any:
    with self._lock:
      entry = self._entries.get(key)
      if entry is not None:
        self._entries.move_to_end(key)
      return entry

  def put(self, key: Hashable, entry: Any) -> None:
    with self._lock:
      self._entries[key] = entry
      self._entries.move_to_end(key)
      while len(self._entries) > self._size:
        self._entries.popitem(last=False)

  def clear(self) -> None:
    with self._lock:
      self._entries.clear()


_CACHE = _Cache(size=32)
_UNTRACEABLE = object()
# A code object whose calls keep bringing new state (a closure over the
# batch of each step, say) is not traced again after this many keys: it
# would pay a trace per call.
_MAX_KEYS_PER_CODE = 8
_keys_per_code: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_keys_lock = threading.Lock()
_local = threading.local()


def _worth_tracing(f: Any) -> bool:
  """Counts a new key for `f`'s code; whether it still gets traces."""
  with _keys_lock:
    count = _keys_per_code.get(f.__code__, 0) + 1
    _keys_per_code[f.__code__] = count
  return count <= _MAX_KEYS_PER_CODE


def key_of(f: Callable[..., Any]) -> Hashable | None:
  """`f`'s fingerprint where a trace may serve it, else `None`.

  Not inside another trace, a `tf.distribute` strategy, or with functions
  run eagerly; not for an impure `f`.
  """
  if (getattr(_local, 'tracing', False) or tf.distribute.has_strategy() or
      tf.config.functions_run_eagerly()):
    return None
  return fingerprint(f)


def call(f: Callable[..., Any], described: Hashable, options: Hashable,
         inputs: list[Any], compute: Callable[[list[Any]], Any]
         ) -> tuple[bool, Any]:
  """`compute(inputs)`, traced once for `f`, `options` and the signature.

  Args:
    f: the function differentiated.
    described: `key_of(f)`.
    options: everything else the result depends on (hashable).
    inputs: eager Tensors, the traced function's inputs.
    compute: builds the result from (symbolic) inputs; it must return
      Tensors or structures of them, and `None`s.

  Returns:
    `(True, result)`, or `(False, None)` where `f` cannot be traced or
    keeps bringing new state: then the caller computes eagerly.
  """
  key = (described, options)
  entry = _CACHE.get(key)
  if entry is _UNTRACEABLE:
    return False, None
  if entry is None:
    if not _worth_tracing(f):
      return False, None
    entry = _Entry(compute)
    _CACHE.put(key, entry)
  try:
    return True, entry(inputs)
  except Exception:  # pylint: disable=broad-except
    # Not traceable (Python control flow on values, `.numpy()`...): the
    # caller computes eagerly and reports any real error itself.
    _CACHE.put(key, _UNTRACEABLE)
    return False, None


class _Entry:
  """One cached computation: a `tf.function` and its concrete functions.

  A concrete function per input signature is called directly: calling it
  costs half what dispatching through the `tf.function` does.
  """

  _MAX_SIGNATURES = 16

  def __init__(self, compute: Callable[[list[Any]], Any]):
    self.function = tf.function(_marking_tracing(compute), autograph=False)
    self._concrete: dict[Hashable, Any] = {}

  def __call__(self, inputs: list[Any]) -> Any:
    signature = tuple((x.dtype, tuple(x.shape)) for x in inputs)
    concrete = self._concrete.get(signature)
    if concrete is None:
      if len(self._concrete) >= self._MAX_SIGNATURES:
        return self.function(*inputs)
      concrete = self.function.get_concrete_function(*inputs)
      self._concrete[signature] = concrete
    return concrete(*inputs)


def _marking_tracing(compute: Callable[[list[Any]], Any]
                     ) -> Callable[..., Any]:
  """`compute`, refusing results a trace would change.

  A `tf.function` returns Python values (an aux string, a number) as
  Tensors, and a variable as its value: such results are computed eagerly.
  """
  def traced(*symbolic):
    _local.tracing = True
    try:
      result = compute(list(symbolic))
    finally:
      _local.tracing = False
    for leaf in tf.nest.flatten(result):
      if leaf is not None and (isinstance(leaf, tf.Variable) or
                               not tf.is_tensor(leaf)):
        raise _Impure(leaf)
    return result
  return traced
