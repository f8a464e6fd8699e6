"""Forward mode: Jacobian-vector products, `jvp`."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfgradtools import _autograph
from tfgradtools import _calls
from tfgradtools import _core


@_autograph.library_function
def value_and_jvp(
  f: Callable[..., Any],
  primals: Any,
  tangents: Any,
  *,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> tuple[Any, Any]:
  """Computes `f(*primals)` and its Jacobian-vector product, in forward mode.

  `primals` are the arguments of `f` as the single positional argument of
  `value_and_gradient` would be (a list or tuple is unpacked unless
  `auto_unpack_single_arg=False`); `tangents` has their structure and
  shapes. The result is `J @ tangents`, structured like `f`'s value, pushed
  forward with `tf.autodiff.ForwardAccumulator` alongside the value — one
  pass, whatever the number of outputs.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> def f(x, y):
      ...   return x * x * x * y - x * y * y
      >>> value, jvp = tfm.value_and_jvp(f, [2., 3.], [1., 0.])  # df/dx
      >>> float(value), float(jvp)
      (6.0, 27.0)
      >>> float(tfm.jvp(f, [2., 3.], [0., 1.]))  # df/dy
      -4.0

  Args:
    f: Python callable to differentiate.
    primals: the arguments of `f`.
    tangents: one tangent per primal, of its shape.
    auto_unpack_single_arg: whether a list or tuple `primals` holds the
      arguments.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_jvp'`).
    unconnected_gradients: `'none'` or `'zero'`: the JVP of an output no
      tangent reaches; or `'raise'`: a `DisconnectedGradientError` that
      says why.
      Default value: `'none'`.

  Returns:
    `(y, jvp)`, or `((y, aux), jvp)` with `has_aux`.
  """
  return _calls.value_and_product(
    _core.jvp,
    f,
    primals,
    tangents,
    api='value_and_jvp',
    name=name or 'value_and_jvp',
    auto_unpack_single_arg=auto_unpack_single_arg,
    has_aux=has_aux,
    unconnected_gradients=unconnected_gradients,
  )


@_autograph.library_function
def jvp(
  f: Callable[..., Any],
  primals: Any,
  tangents: Any,
  *,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Any:
  """The Jacobian-vector product of `f` at `primals`, without the value.

  As `value_and_jvp`, but returns only the product.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> float(tfm.jvp(tf.sin, tf.constant(0.), tf.constant(2.)))
      2.0

  Args:
    f: Python callable to differentiate.
    primals: the arguments of `f`.
    tangents: one tangent per primal, of its shape.
    auto_unpack_single_arg: whether a list or tuple `primals` holds the
      arguments.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'jvp'`).
    unconnected_gradients: `'none'` or `'zero'`: the JVP of an output no
      tangent reaches; or `'raise'`: a `DisconnectedGradientError` that
      says why.
      Default value: `'none'`.

  Returns:
    The Jacobian-vector product, structured like `f`'s value, or
    `(jvp, aux)` with `has_aux`.
  """
  return _calls.without_value(
    value_and_jvp(
      f,
      primals,
      tangents,
      auto_unpack_single_arg=auto_unpack_single_arg,
      has_aux=has_aux,
      name=name or 'jvp',
      unconnected_gradients=unconnected_gradients,
    ),
    has_aux,
  )
