"""Jacobians: `jacobian` and `batch_jacobian`, with their values."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfgradtools import _autograph
from tfgradtools import _calls
from tfgradtools import _core


@_autograph.library_function
def value_and_batch_jacobian(
  f: Callable[..., Any],
  *args: Any,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  experimental_use_pfor: bool = True,
  parallel_iterations: int | None = None,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
  **kwargs: Any,
) -> tuple[Any, ...]:
  """Computes `f(*args, **kwargs)` and its batch Jacobian.

  `f` returns a `(batch, n)` Tensor and each argument is `(batch, m)`; the
  Jacobian of each argument is `(batch, n, m)`: `jac[b, i, j] = dy[b, i] /
  dx[b, j]`. The calling rules and the structure of the result are those of
  `value_and_gradient`. It is vectorised with `pfor`, falling back to a
  while loop where `pfor` cannot vectorise an op, and always uses a tape;
  eagerly, a Jacobian of at most 64 rows per example is a loop of backward
  passes, which costs less than tracing the vectorised one.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> x = tf.constant([[1., 2.], [3., 4.]])
      >>> y, jac = tfm.value_and_batch_jacobian(lambda x: x ** 2, x)
      >>> jac.numpy().tolist()
      [[[2.0, 0.0], [0.0, 4.0]], [[6.0, 0.0], [0.0, 8.0]]]

  Args:
    f: Python callable returning a `(batch, n)` Tensor.
    *args: `(batch, m)` arguments of `f`, basis for the Jacobian.
    auto_unpack_single_arg: as in `value_and_gradient`.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    experimental_use_pfor: vectorise the Jacobian with `pfor` (falling
      back to a while loop where it cannot), as in
      `tf.GradientTape.jacobian`; `False` always uses a while loop.
      Default value: `True`.
    parallel_iterations: how many iterations of the while loop may run in
      parallel, as in `tf.GradientTape.jacobian`.
      Default value: `None`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_batch_jacobian'`).
    unconnected_gradients: as in `value_and_gradient`.
      Default value: `'none'`.
    **kwargs: `(batch, m)` keyword arguments of `f`, basis for the Jacobian.

  Returns:
    `(y, jacobian)`, or `((y, aux), jacobian)` with `has_aux`; `jacobian`
    mirrors the arguments as `dydx` does in `value_and_gradient`.
  """
  return _calls.value_and_derivative(
    f,
    args,
    kwargs,
    api='value_and_batch_jacobian',
    name=name or 'value_and_batch_jacobian',
    expand_modules=False,
    output_gradients=None,
    use_gradient_tape=True,
    auto_unpack_single_arg=auto_unpack_single_arg,
    has_aux=has_aux,
    unconnected_gradients=unconnected_gradients,
    derivative=_core.BATCH_JACOBIAN,
    use_pfor=experimental_use_pfor,
    parallel_iterations=parallel_iterations,
  )


@_autograph.library_function
def batch_jacobian(
  f: Callable[..., Any],
  *args: Any,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  experimental_use_pfor: bool = True,
  parallel_iterations: int | None = None,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
  **kwargs: Any,
) -> Any:
  """The batch Jacobian of `f(*args, **kwargs)`, without its value.

  As `value_and_batch_jacobian`, but returns only the Jacobian.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> tfm.batch_jacobian(tf.sin, tf.zeros([1, 2])).numpy().tolist()
      [[[1.0, 0.0], [0.0, 1.0]]]

  Args:
    f: Python callable returning a `(batch, n)` Tensor.
    *args: `(batch, m)` arguments of `f`, basis for the Jacobian.
    auto_unpack_single_arg: as in `value_and_gradient`.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    experimental_use_pfor: vectorise the Jacobian with `pfor` (falling
      back to a while loop where it cannot), as in
      `tf.GradientTape.jacobian`; `False` always uses a while loop.
      Default value: `True`.
    parallel_iterations: how many iterations of the while loop may run in
      parallel, as in `tf.GradientTape.jacobian`.
      Default value: `None`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'batch_jacobian'`).
    unconnected_gradients: as in `value_and_gradient`.
      Default value: `'none'`.
    **kwargs: `(batch, m)` keyword arguments of `f`, basis for the Jacobian.

  Returns:
    The batch Jacobian, mirroring the arguments as in
    `value_and_batch_jacobian`, or `(jacobian, aux)` with `has_aux`.
  """
  return _calls.without_value(
    value_and_batch_jacobian(
      f,
      *args,
      auto_unpack_single_arg=auto_unpack_single_arg,
      has_aux=has_aux,
      experimental_use_pfor=experimental_use_pfor,
      parallel_iterations=parallel_iterations,
      name=name or 'batch_jacobian',
      unconnected_gradients=unconnected_gradients,
      **kwargs,
    ),
    has_aux,
  )


@_autograph.library_function
def value_and_jacobian(
  f: Callable[..., Any],
  *args: Any,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  experimental_use_pfor: bool = True,
  parallel_iterations: int | None = None,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
  **kwargs: Any,
) -> tuple[Any, ...]:
  """Computes `f(*args, **kwargs)` and its full Jacobian.

  `f` returns one Tensor `y`; the Jacobian with respect to an argument `x`
  has shape `y.shape + x.shape`: `jac[i..., j...] = dy[i...] / dx[j...]`.
  The calling rules and the structure of the result are those of
  `value_and_gradient`; like `value_and_batch_jacobian` it is vectorised
  with `pfor` (with a while-loop fallback) and always uses a tape.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> def f(x):
      ...   return tf.stack([x[0] * x[1], x[0] ** 2])
      >>> y, jac = tfm.value_and_jacobian(f, tf.constant([2., 3.]))
      >>> jac.numpy().tolist()
      [[3.0, 2.0], [4.0, 0.0]]

  Args:
    f: Python callable returning one Tensor.
    *args: arguments of `f`, basis for the Jacobian.
    auto_unpack_single_arg: as in `value_and_gradient`.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    experimental_use_pfor: vectorise the Jacobian with `pfor` (falling
      back to a while loop where it cannot), as in
      `tf.GradientTape.jacobian`; `False` always uses a while loop.
      Default value: `True`.
    parallel_iterations: how many iterations of the while loop may run in
      parallel, as in `tf.GradientTape.jacobian`.
      Default value: `None`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_jacobian'`).
    unconnected_gradients: as in `value_and_gradient`.
      Default value: `'none'`.
    **kwargs: keyword arguments of `f`, basis for the Jacobian.

  Returns:
    `(y, jacobian)`, or `((y, aux), jacobian)` with `has_aux`; `jacobian`
    mirrors the arguments as `dydx` does in `value_and_gradient`.
  """
  return _calls.value_and_derivative(
    f,
    args,
    kwargs,
    api='value_and_jacobian',
    name=name or 'value_and_jacobian',
    expand_modules=False,
    output_gradients=None,
    use_gradient_tape=True,
    auto_unpack_single_arg=auto_unpack_single_arg,
    has_aux=has_aux,
    unconnected_gradients=unconnected_gradients,
    derivative=_core.JACOBIAN,
    use_pfor=experimental_use_pfor,
    parallel_iterations=parallel_iterations,
  )


@_autograph.library_function
def jacobian(
  f: Callable[..., Any],
  *args: Any,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  experimental_use_pfor: bool = True,
  parallel_iterations: int | None = None,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
  **kwargs: Any,
) -> Any:
  """The full Jacobian of `f(*args, **kwargs)`, without its value.

  As `value_and_jacobian`, but returns only the Jacobian.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> tfm.jacobian(tf.sin, tf.zeros([2])).numpy().tolist()
      [[1.0, 0.0], [0.0, 1.0]]

  Args:
    f: Python callable returning one Tensor.
    *args: arguments of `f`, basis for the Jacobian.
    auto_unpack_single_arg: as in `value_and_gradient`.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    experimental_use_pfor: vectorise the Jacobian with `pfor` (falling
      back to a while loop where it cannot), as in
      `tf.GradientTape.jacobian`; `False` always uses a while loop.
      Default value: `True`.
    parallel_iterations: how many iterations of the while loop may run in
      parallel, as in `tf.GradientTape.jacobian`.
      Default value: `None`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'jacobian'`).
    unconnected_gradients: as in `value_and_gradient`.
      Default value: `'none'`.
    **kwargs: keyword arguments of `f`, basis for the Jacobian.

  Returns:
    The Jacobian, mirroring the arguments as in `value_and_jacobian`, or
    `(jacobian, aux)` with `has_aux`.
  """
  return _calls.without_value(
    value_and_jacobian(
      f,
      *args,
      auto_unpack_single_arg=auto_unpack_single_arg,
      has_aux=has_aux,
      experimental_use_pfor=experimental_use_pfor,
      parallel_iterations=parallel_iterations,
      name=name or 'jacobian',
      unconnected_gradients=unconnected_gradients,
      **kwargs,
    ),
    has_aux,
  )
