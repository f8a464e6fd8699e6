"""Checks and error messages shared by the `math` and `eager` facades."""

from __future__ import annotations

import functools
from typing import Any, Callable

_MAX_REPR = 80


def callable_name(f: Any) -> str:
  """A short, readable name for the callable `f` (for error messages)."""
  if isinstance(f, functools.partial):
    return f'functools.partial({callable_name(f.func)})'
  name: str | None = getattr(f, '__qualname__', None) or getattr(
    f, '__name__', None
  )
  if name is None:
    return f'{type(f).__name__} object'
  return name.rpartition('<locals>.')[2]


def unpartial(f: Any) -> Any:
  """What a (nested) `functools.partial` calls in the end."""
  while isinstance(f, functools.partial):
    f = f.func
  return f


def function_name(f: Any) -> str:
  """`f.__name__`, or the name of what a partial or callable object calls."""
  f = unpartial(f)
  name = getattr(f, '__name__', None)
  return name if isinstance(name, str) else type(f).__name__


def describe(value: Any) -> str:
  """`value`'s type and a repr cut to a readable length."""
  text = repr(value)
  if len(text) > _MAX_REPR:
    text = text[: _MAX_REPR - 3] + '...'
  return f'{text} (of type {type(value).__module__}.{type(value).__qualname__})'


def check_callable(f: Any, api: str) -> None:
  """Raises `TypeError` unless `f` can be called."""
  if not callable(f):
    raise TypeError(
      f'{api}: `f` must be a callable to differentiate, but got '
      f'{describe(f)}. Pass the function itself, e.g. `{api}(my_fn, ...)`, '
      'not the result of calling it.'
    )


def returned_none(f: Callable[..., Any], api: str) -> ValueError:
  # TensorFlow's own sentence, which code matches (case-sensitively).
  return ValueError(
    f'{api}: Cannot differentiate a function that returns None; did you '
    f'forget to return a value from {function_name(f)}?'
  )


def returned_non_tensor(
  f: Callable[..., Any], api: str, value: Any, part: Any
) -> TypeError:
  where = '' if part is value else f' containing {describe(part)}'
  return TypeError(
    f'{api}: {callable_name(f)} returned {describe(value)}{where}, which '
    'cannot be differentiated. Return a Tensor (or a list, tuple or dict '
    'of Tensors) computed with TensorFlow ops from the arguments, e.g. '
    '`tf.constant(...)` or `x * 2.` rather than a Python or NumPy value.'
  )


def bad_aux_output(f: Callable[..., Any], api: str, value: Any) -> ValueError:
  return ValueError(
    f'{api}: has_aux=True means {callable_name(f)} must return a pair '
    f'`(y, aux)`, but it returned {describe(value)}. Return `y, aux`, or '
    'pass has_aux=False.'
  )


def mismatched_cotangent(
  api: str, arg_name: str, y: Any, cotangent: Any
) -> ValueError:
  return ValueError(
    f'{api}: `{arg_name}` must have the same structure and shapes as the '
    f'value of `f`, which is {describe(y)}; got {describe(cotangent)}. '
    f'Pass one Tensor of the same shape per output, or `{arg_name}=None` '
    'for ones.'
  )


def mismatched_part(
  api: str,
  arg_name: str,
  part: Any,
  like: Any,
  like_name: str,
  index: int | None,
) -> TypeError | ValueError:
  """`part` of `arg_name` has another dtype or shape than `like`."""
  of = '' if index is None else f'part {index} of '
  if part.dtype != like.dtype:
    return TypeError(
      f'{api}: {of}`{arg_name}` has dtype {part.dtype.name}, but {of}'
      f'{like_name} has dtype {like.dtype.name}. Pass `{arg_name}` of '
      f'dtype {like.dtype.name} (e.g. with `tf.cast`).'
    )
  return ValueError(
    f'{api}: {of}`{arg_name}` has shape {part.shape}, but {of}{like_name} '
    f'has shape {like.shape}. Pass `{arg_name}` of that shape.'
  )


def unpacked_mismatch(
  api: str, f: Callable[..., Any], count: int, kind: str
) -> TypeError:
  return TypeError(
    f'{api}: the single {kind} argument was unpacked into {count} '
    f'positional arguments of {callable_name(f)}, as tfp.math does (one '
    f'list or tuple argument holds the arguments), but '
    f'{callable_name(f)} does not take them. To pass one Tensor, pass '
    f'`tf.constant([...])`; to pass the {kind} itself (as a {kind} of '
    'Tensors), use auto_unpack_single_arg=False.'
  )


def no_arguments(api: str) -> ValueError:
  return ValueError(
    f'{api}: gradient is not defined unless at least one of `args` or '
    f'`kwargs` is specified. Pass the values to differentiate with respect '
    f'to, e.g. `{api}(f, x)` or `{api}(f, [x, y])`.'
  )


def no_variables_read(
  f: Callable[..., Any], api: str, returned_none: bool = False
) -> ValueError:
  also = (
    ' It also returned None: Cannot differentiate a function that '
    'returns None; did you forget to return a value from '
    f'{function_name(f)}?'
    if returned_none
    else ''
  )
  # TensorFlow's sentence, word for word: old code matches on it.
  return ValueError(
    'No trainable variables were accessed while the function was being '
    f'computed. ({api}: {callable_name(f)} read none.) Read a trainable '
    '`tf.Variable` or Keras variable inside it (build Keras layers before '
    'the call), or use `gradients_function` to differentiate with respect '
    'to arguments.' + also
  )


def not_a_source(api: str, source: Any) -> TypeError:
  """`source` is something no derivative can be taken with respect to."""
  kind = type(source).__name__
  if kind == 'SparseTensor':
    fix = (
      'TensorFlow cannot differentiate with respect to a tf.SparseTensor: '
      'pass its `values` and rebuild it inside `f` with '
      '`tf.SparseTensor(indices, values, dense_shape)`.'
    )
  elif kind == 'RaggedTensor':
    fix = (
      'TensorFlow\'s Jacobians and forward mode do not support '
      'tf.RaggedTensor sources: pass `r.flat_values` and rebuild it '
      'inside `f` with `r.with_flat_values(values)`, or use '
      'value_and_gradient, which accepts ragged tensors.'
    )
  elif hasattr(source, 'trainable_variables'):
    fix = (
      'For a `tf.Module` or Keras layer use '
      'value_and_gradient_with_auto_expansion, which differentiates its '
      'trainable variables.'
    )
  else:
    fix = (
      'Pass Tensors, NumPy arrays, Python numbers, variables or '
      'tf.RaggedTensors.'
    )
  return TypeError(
    f'{api}: cannot differentiate with respect to {describe(source)}. {fix}'
  )


def mismatched_tangents(api: str, primals: Any, tangents: Any) -> ValueError:
  return ValueError(
    f'{api}: `tangents` must have the structure and shapes of `primals`, '
    f'which flatten to {describe(list(primals))}; got '
    f'{describe(list(tangents))}. Pass one tangent per primal, of its '
    'shape.'
  )
