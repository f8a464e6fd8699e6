"""Checks and error messages shared by the `math` and `eager` facades."""

from __future__ import annotations

import functools
from typing import Any, Callable

_MAX_REPR = 80


def callable_name(f: Any) -> str:
  """A short, readable name for the callable `f` (for error messages)."""
  if isinstance(f, functools.partial):
    return f'functools.partial({callable_name(f.func)})'
  name = getattr(f, '__qualname__', None) or getattr(f, '__name__', None)
  if name is None:
    return f'{type(f).__name__} object'
  return name.rpartition('<locals>.')[2]


def describe(value: Any) -> str:
  """`value`'s type and a repr cut to a readable length."""
  text = repr(value)
  if len(text) > _MAX_REPR:
    text = text[:_MAX_REPR - 3] + '...'
  return f'{text} (of type {type(value).__module__}.{type(value).__qualname__})'


def check_callable(f: Any, api: str) -> None:
  """Raises `TypeError` unless `f` can be called."""
  if not callable(f):
    raise TypeError(
        f'{api}: `f` must be a callable to differentiate, but got '
        f'{describe(f)}. Pass the function itself, e.g. `{api}(my_fn, ...)`, '
        'not the result of calling it.')


def returned_none(f: Callable[..., Any], api: str) -> ValueError:
  return ValueError(
      f'{api}: cannot differentiate a function that returns None; did you '
      f'forget to return a value from {callable_name(f)}?')


def returned_non_tensor(f: Callable[..., Any], api: str,
                        value: Any, part: Any) -> TypeError:
  where = '' if part is value else f' containing {describe(part)}'
  return TypeError(
      f'{api}: {callable_name(f)} returned {describe(value)}{where}, which '
      'cannot be differentiated. Return a Tensor (or a list, tuple or dict '
      'of Tensors) computed with TensorFlow ops from the arguments, e.g. '
      '`tf.constant(...)` or `x * 2.` rather than a Python or NumPy value.')


def bad_aux_output(f: Callable[..., Any], api: str, value: Any) -> ValueError:
  return ValueError(
      f'{api}: has_aux=True means {callable_name(f)} must return a pair '
      f'`(y, aux)`, but it returned {describe(value)}. Return `y, aux`, or '
      'pass has_aux=False.')


def mismatched_cotangent(api: str, arg_name: str, y: Any,
                         cotangent: Any) -> ValueError:
  return ValueError(
      f'{api}: `{arg_name}` must have the same structure and shapes as the '
      f'value of `f`, which is {describe(y)}; got {describe(cotangent)}. '
      f'Pass one Tensor of the same shape per output, or `{arg_name}=None` '
      'for ones.')


def no_arguments(api: str) -> ValueError:
  return ValueError(
      f'{api}: gradient is not defined unless at least one of `args` or '
      f'`kwargs` is specified. Pass the values to differentiate with respect '
      f'to, e.g. `{api}(f, x)` or `{api}(f, [x, y])`.')


def no_variables_read(f: Callable[..., Any], api: str) -> ValueError:
  return ValueError(
      f'{api}: no trainable variables were accessed while {callable_name(f)} '
      'was being computed. Read a trainable `tf.Variable` or Keras variable '
      'inside it (build Keras layers before the call), or use '
      '`gradients_function` to differentiate with respect to arguments.')


def not_a_source(api: str, source: Any) -> TypeError:
  return TypeError(
      f'{api}: cannot differentiate with respect to {describe(source)}. '
      'Pass Tensors, NumPy arrays, Python numbers or variables; for a '
      '`tf.Module` or Keras layer use value_and_gradient_with_auto_expansion, '
      'which differentiates its trainable variables.')


def mismatched_tangents(api: str, primals: Any, tangents: Any) -> ValueError:
  return ValueError(
      f'{api}: `tangents` must have the structure and shapes of `primals`, '
      f'which flatten to {describe(list(primals))}; got '
      f'{describe(list(tangents))}. Pass one tangent per primal, of its '
      'shape.')
