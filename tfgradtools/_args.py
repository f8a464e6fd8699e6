"""Argument handling: conversion, unpacking and `params` resolution.

Each quirk inherited from an anchor (tfp.math or `tf.contrib.eager`) is
marked with a comment naming it.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any, Callable, Sequence, TypeAlias

import tensorflow as tf

from tfgradtools import _errors
from tfgradtools import _nest


class _Raise:
  """`unconnected_gradients='raise'`: a missing gradient is an error.

  The engines compute `None` for it, as with `'none'`; the core then raises
  a `DisconnectedGradientError` that explains every missing gradient.
  """

  __slots__ = ()
  value = 'raise'

  def __repr__(self) -> str:
    return "'raise'"


RAISE = _Raise()
Unconnected: TypeAlias = tf.UnconnectedGradients | _Raise


def as_unconnected_gradients(value: Any) -> Unconnected:
  """Parses `unconnected_gradients` ('none', 'zero', 'raise' or the enum)."""
  if value is RAISE or (isinstance(value, str) and value == RAISE.value):
    return RAISE
  try:
    return tf.UnconnectedGradients(value)
  except ValueError:
    raise ValueError(
      "unconnected_gradients must be 'none', 'zero', 'raise' or a "
      f'tf.UnconnectedGradients, got {_errors.describe(value)}.'
    ) from None


def engine_unconnected(unconnected: Unconnected) -> tf.UnconnectedGradients:
  """What the engines compute for `unconnected`: `'raise'` computes `None`."""
  return tf.UnconnectedGradients.NONE if unconnected is RAISE else unconnected


def _keras_variable_type() -> Any:
  # Keras is only consulted once something has imported it.
  keras = sys.modules.get('keras')
  return getattr(keras, 'Variable', None) if keras is not None else None


def is_keras_variable(x: Any) -> bool:
  keras_variable = _keras_variable_type()
  return keras_variable is not None and isinstance(x, keras_variable)


def is_variable(x: Any) -> bool:
  """Whether `x` is a `tf.Variable` or a Keras 3 variable."""
  return isinstance(x, tf.Variable) or is_keras_variable(x)


def watchable(x: Any) -> Any:
  """The object a tape or `tf.gradients` can differentiate for source `x`.

  A Keras 3 variable wraps a `tf.Variable` that its ops actually read; the
  gradient with respect to that inner variable is the one a training step
  applies.
  """
  if isinstance(x, (tf.Tensor, tf.Variable)):
    return x
  if is_keras_variable(x):
    return x.value
  return x


def watch_target(x: Any) -> Any:
  """What is differentiated for source `x` where the call runs.

  `watchable(x)`; and building a graph, an eager Tensor captured from
  outside (a constant made before a `tf.function`, say) is its capture in
  the graph, the Tensor the graph's ops read.
  """
  target = watchable(x)
  if (
    isinstance(target, tf.Tensor)
    and not tf.executing_eagerly()
    and not tf.is_symbolic_tensor(target)
  ):
    return tf.convert_to_tensor(target)
  return target


def is_differentiable(x: Any) -> bool:
  """Whether a gradient can flow to a source of `x`'s dtype."""
  dtype = x.dtype
  return bool(dtype.is_floating or dtype.is_complex)


def is_tensor_like(x: Any) -> bool:
  """Whether `x` is a Tensor, a composite tensor or a variable."""
  return isinstance(x, tf.Tensor) or tf.is_tensor(x) or is_keras_variable(x)


def to_source(x: Any, dtype_hint: tf.DType | None = None) -> Any:
  """`x` converted to something to differentiate.

  Tensors, composite tensors and variables are kept as they are; anything
  else is converted by `tf.convert_to_tensor` with `dtype_hint`. The `eager`
  facade gives no hint, as TensorFlow 2's own copy of tf.contrib.eager
  does: a Python int becomes `int32`, a count or an index `f` may use in
  `range`, with a `None` gradient. tfp.math's rule, for the `math` facade,
  is `float32`: every Python number is differentiable.
  """
  if is_tensor_like(x):
    return x
  return tf.convert_to_tensor(x, dtype_hint=dtype_hint)


def to_math_source(x: Any) -> Any:
  """`to_source` by tfp.math's rule, keeping module-like arguments for
  auto-expansion."""
  if has_trainable_variables(x):
    return x
  return to_source(x, dtype_hint=tf.float32)


def has_trainable_variables(x: Any) -> bool:
  """Whether `x` is a module, layer or model (has `trainable_variables`)."""
  if isinstance(x, tf.Tensor) or is_variable(x):
    return False
  return getattr(x, 'trainable_variables', None) is not None


def expand_to_trainable_variables(x: Any) -> Any:
  """A module-like `x` replaced by its trainable variables."""
  return x.trainable_variables if has_trainable_variables(x) else x


# What `inspect.signature` reads besides a function's code object.
_SIGNATURE_ATTRIBUTES = (
  '__signature__',
  '__wrapped__',
  '_partialmethod',
  '__partialmethod__',
)
_TAKES_VARIADIC = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def takes_arguments(f: Callable[..., Any]) -> bool:
  """Whether `f` accepts any argument (tfp.math's calling rule 1).

  Asked on every call, and nothing is remembered between calls, so the
  answer depends on `f` alone: a method seen unbound (`Model.loss`, whose
  `self` is a parameter) and then bound (`model.loss`, whose `self` is
  not) gets each its own answer. A plain Python function, or a bound
  method of one, is read from its code object, which says what
  `inspect.signature` would, in a fraction of the time; any other callable
  (`functools.partial`, a callable object, a decorated function that
  declares the signature it wraps) asks `inspect.signature`.
  """
  bound = isinstance(f, types.MethodType)
  function = f.__func__ if isinstance(f, types.MethodType) else f
  if type(function) is types.FunctionType and not any(
    name in function.__dict__ for name in _SIGNATURE_ATTRIBUTES
  ):
    code = function.__code__
    named = code.co_argcount + code.co_kwonlyargcount
    if bound:
      # Binding takes the first positional parameter; a method without one
      # cannot be called at all, and is called with the arguments.
      named = named - 1 if code.co_argcount else 1
    return named > 0 or bool(code.co_flags & _TAKES_VARIADIC)
  try:
    return bool(inspect.signature(f).parameters)
  except (TypeError, ValueError):  # Builtins without a signature.
    return True


def unpack_packed_args(
  args: tuple[Any, ...], kwargs: dict[str, Any], auto_unpack_single_arg: bool
) -> tuple[Sequence[Any], bool]:
  """tfp.math's calling rule 2: one list or tuple argument holds the args."""
  if (
    auto_unpack_single_arg
    and len(args) == 1
    and not kwargs
    and isinstance(args[0], (list, tuple))
  ):
    return args[0], True
  return args, False


def accepts_positional(f: Callable[..., Any], count: int) -> bool:
  """Whether `f` can be called with `count` positional arguments."""
  try:
    inspect.signature(f).bind(*range(count))
  except TypeError:
    return False
  except ValueError:  # Builtins without a signature.
    return True
  return True


def accepts_keyword(f: Callable[..., Any], name: str) -> bool:
  """Whether `f` declares a parameter called `name` (or takes **kwargs)."""
  try:
    parameters = inspect.signature(f).parameters
  except (TypeError, ValueError):
    return True
  return name in parameters or any(
    p.kind is p.VAR_KEYWORD for p in parameters.values()
  )


def legacy_xs(
  f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
  """The old tfp.math signature `value_and_gradient(f, xs=...)`, still in code.

  `xs` given alone as a keyword means the values to differentiate, unless `f`
  itself has a parameter of that name.
  """
  if (
    not args
    and len(kwargs) == 1
    and 'xs' in kwargs
    and not accepts_keyword(f, 'xs')
  ):
    return (kwargs['xs'],), {}
  return args, kwargs


def _is_structure(value: Any) -> bool:
  """Whether one selected argument of an `eager` transformer is a structure.

  A dict or namedtuple is; a list or tuple is when it holds a Tensor or a
  variable (`model.trainable_variables`, say). tf.contrib.eager's rule for
  the rest: a list of plain numbers is one Tensor.
  """
  if isinstance(value, dict) or (
    isinstance(value, tuple) and hasattr(value, '_fields')
  ):
    return True
  return isinstance(value, (list, tuple)) and any(
    is_tensor_like(leaf) for leaf in _nest.flatten(value)
  )


def take_sources(
  args: list[Any], kwargs: dict[str, Any], keys: Sequence[int | str]
) -> tuple[list[Any], list[Any]]:
  """Converts the selected arguments in place; returns them and the sources.

  Returns the selected arguments as `f` receives them, one per key (a
  structure stays a structure, with its leaves converted), and their flat
  leaves, the sources. tf.contrib.eager's rule: one Tensor passed at two
  selected places is two sources, so `gradients_function(lambda x, y: x *
  y)(one, one)` is `[1., 1.]`; later occurrences become identity copies.
  """
  selected, sources = [], []
  seen: set[int] = set()

  def take(leaf: Any) -> Any:
    leaf = to_source(leaf)
    if id(leaf) in seen:
      leaf = tf.identity(leaf)
    seen.add(id(leaf))
    sources.append(leaf)
    return leaf

  for key in keys:
    value = args[key] if isinstance(key, int) else kwargs[key]
    if _is_structure(value):
      value = _nest.pack(value, [take(leaf) for leaf in _nest.flatten(value)])
    else:
      value = take(value)
    if isinstance(key, int):
      args[key] = value
    else:
      kwargs[key] = value
    selected.append(value)
  return selected, sources


def signature_of(f: Callable[..., Any]) -> inspect.Signature | None:
  """`f`'s signature, looking through Keras layers to their `call`."""
  try:
    signature = inspect.signature(f)
  except (TypeError, ValueError):
    return None
  kinds = {p.kind for p in signature.parameters.values()}
  call = getattr(f, 'call', None)
  if kinds <= {
    inspect.Parameter.VAR_POSITIONAL,
    inspect.Parameter.VAR_KEYWORD,
  } and callable(call):
    try:
      return inspect.signature(call)
    except (TypeError, ValueError):
      pass
  return signature


class ParamSelector:
  """Which arguments of a call tf.contrib.eager's `params` selects.

  `params` is `None` (every positional argument of the call), parameter
  names, or positions. Names are resolved against `f`'s signature once; a
  named parameter passed by keyword is selected by its keyword.
  """

  __slots__ = ('_f', '_api', '_names', '_positions', '_parameters')

  def __init__(
    self, f: Callable[..., Any], params: Sequence[Any] | None, api: str
  ):
    self._f = f
    self._api = api
    self._names = None
    self._positions = None
    signature = signature_of(f)
    self._parameters = (
      tuple(signature.parameters.values()) if signature is not None else None
    )
    if params is None:
      return
    if isinstance(params, (str, int)):
      params = [params]
    params = list(params)
    if params and all(isinstance(p, str) for p in params):
      self._names = self._positions_of_names(params)
    elif params and all(
      isinstance(p, int) and not isinstance(p, bool) for p in params
    ):
      self._positions = params
    else:
      raise ValueError(
        f'{api}: params must be all strings or all integers; got '
        f'{params!r}. Name parameters of {_errors.callable_name(f)}, '
        'e.g. params=["x"], or give their positions, e.g. params=[0].'
      )

  def describe(self) -> str:
    """The selected parameters, in words (for docstrings)."""
    if self._names is not None:
      return 'parameters ' + ', '.join(f'`{n}`' for n in self._names)
    if self._positions is not None:
      return 'the positional arguments at ' + ', '.join(
        str(p) for p in self._positions
      )
    return 'every positional argument'

  def _listing(self) -> str:
    if self._parameters is None:
      return (
        f'the parameters of {_errors.callable_name(self._f)} cannot '
        'be inspected'
      )
    return (
      f'{_errors.callable_name(self._f)} has parameters '
      f'({", ".join(str(p) for p in self._parameters)})'
    )

  def _positions_of_names(self, names: list[str]) -> dict[str, int | None]:
    """Each name's position among `f`'s positional parameters, or `None`."""
    if self._parameters is None:
      raise ValueError(
        f'{self._api}: params names {names!r} but '
        f'{self._listing()}; select them by position instead.'
      )
    positional = [
      p.name
      for p in self._parameters
      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    keyword = {
      p.name
      for p in self._parameters
      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    resolved = {}
    for name in names:
      if name not in keyword and name not in positional:
        raise ValueError(
          f'{self._api}: params names {name!r}, which is not '
          f'a parameter: {self._listing()}.'
        )
      resolved[name] = positional.index(name) if name in positional else None
    return resolved

  def select(self, num_args: int, kwargs: dict[str, Any]) -> list[int | str]:
    """The selected arguments of a call: positions and keyword names."""
    if self._names is not None:
      return [
        self._select_name(name, position, num_args, kwargs)
        for name, position in self._names.items()
      ]
    if self._positions is not None:
      for position in self._positions:
        if not 0 <= position < num_args:
          raise ValueError(
            f'{self._api}: params selects position {position}, but the '
            f'call passed {num_args} positional argument(s); '
            f'{self._listing()}.'
          )
      return self._positions
    return list(range(num_args))

  def _select_name(
    self, name: str, position: int | None, num_args: int, kwargs: dict[str, Any]
  ) -> int | str:
    if name in kwargs:
      return name
    if position is not None and position < num_args:
      return position
    raise ValueError(
      f'{self._api}: params names {name!r}, but the call '
      f'passed no value for it; {self._listing()}.'
    )
