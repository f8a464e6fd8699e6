"""Second order: `hessian`, and `hvp`, which never forms the Hessian."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfgradtools import _autograph
from tfgradtools import _calls
from tfgradtools import _core


@_autograph.library_function
def value_and_hessian(
  f: Callable[..., Any],
  *args: Any,
  use_gradient_tape: bool = False,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  experimental_use_pfor: bool = True,
  parallel_iterations: int | None = None,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
  **kwargs: Any,
) -> tuple[Any, ...]:
  """Computes the scalar `f(*args, **kwargs)` and its Hessian.

  The Hessian block of arguments `x` and `z` has shape `x.shape + z.shape`:
  `h[i..., j...] = d2f / dx[i...] dz[j...]`. For one argument the result is
  that one block; for several, it mirrors the arguments twice (a list of
  lists for positional arguments), as JAX's `hessian` does. The gradient is
  taken with the engine `value_and_gradient` would use, and differentiated
  again on a tape (as `value_and_jacobian` does). For a Hessian-vector
  product, `hvp` never forms the Hessian.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> a = tf.constant([[2., 1.], [1., 3.]])
      >>> quadratic = lambda x: 0.5 * tf.reduce_sum(x * tf.linalg.matvec(a, x))
      >>> value, hess = tfm.value_and_hessian(quadratic, tf.constant([1., 1.]))
      >>> float(value), hess.numpy().tolist()
      (3.5, [[2.0, 1.0], [1.0, 3.0]])
      >>> [[float(h) for h in row] for row in tfm.hessian(
      ...     lambda x, y: x * x * y, 2., 3., unconnected_gradients='zero')]
      [[6.0, 4.0], [4.0, 0.0]]

  Args:
    f: Python callable returning a scalar Tensor.
    *args: arguments of `f`, basis for the Hessian.
    use_gradient_tape: take the inner gradient with a tape even in a graph.
      Default value: `False`.
    auto_unpack_single_arg: as in `value_and_gradient`.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    experimental_use_pfor: vectorise the Jacobian of the gradient with
      `pfor`, as in `value_and_batch_jacobian`.
      Default value: `True`.
    parallel_iterations: how many iterations of the while loop over the
      gradient's parts may run in parallel, as in
      `value_and_batch_jacobian`.
      Default value: `None`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_hessian'`).
    unconnected_gradients: as in `value_and_gradient`.
      Default value: `'none'`.
    **kwargs: keyword arguments of `f`, basis for the Hessian.

  Returns:
    `(y, hessian)`, or `((y, aux), hessian)` with `has_aux`.
  """
  return _calls.value_and_derivative(
    f,
    args,
    kwargs,
    api='value_and_hessian',
    name=name or 'value_and_hessian',
    expand_modules=False,
    output_gradients=None,
    use_gradient_tape=use_gradient_tape,
    auto_unpack_single_arg=auto_unpack_single_arg,
    has_aux=has_aux,
    unconnected_gradients=unconnected_gradients,
    derivative=_core.HESSIAN,
    use_pfor=experimental_use_pfor,
    parallel_iterations=parallel_iterations,
  )


@_autograph.library_function
def hessian(
  f: Callable[..., Any],
  *args: Any,
  use_gradient_tape: bool = False,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  experimental_use_pfor: bool = True,
  parallel_iterations: int | None = None,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
  **kwargs: Any,
) -> Any:
  """The Hessian of the scalar `f(*args, **kwargs)`, without its value.

  As `value_and_hessian`, but returns only the Hessian.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> tfm.hessian(lambda x: tf.reduce_sum(x ** 3),
      ...             tf.constant([1., 2.])).numpy().tolist()
      [[6.0, 0.0], [0.0, 12.0]]

  Args:
    f: Python callable returning a scalar Tensor.
    *args: arguments of `f`, basis for the Hessian.
    use_gradient_tape: take the inner gradient with a tape even in a graph.
      Default value: `False`.
    auto_unpack_single_arg: as in `value_and_gradient`.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    experimental_use_pfor: vectorise the Jacobian of the gradient with
      `pfor`, as in `value_and_batch_jacobian`.
      Default value: `True`.
    parallel_iterations: how many iterations of the while loop over the
      gradient's parts may run in parallel, as in
      `value_and_batch_jacobian`.
      Default value: `None`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'hessian'`).
    unconnected_gradients: as in `value_and_gradient`.
      Default value: `'none'`.
    **kwargs: keyword arguments of `f`, basis for the Hessian.

  Returns:
    The Hessian, structured as in `value_and_hessian`, or
    `(hessian, aux)` with `has_aux`.
  """
  return _calls.without_value(
    value_and_hessian(
      f,
      *args,
      use_gradient_tape=use_gradient_tape,
      auto_unpack_single_arg=auto_unpack_single_arg,
      has_aux=has_aux,
      experimental_use_pfor=experimental_use_pfor,
      parallel_iterations=parallel_iterations,
      name=name or 'hessian',
      unconnected_gradients=unconnected_gradients,
      **kwargs,
    ),
    has_aux,
  )


@_autograph.library_function
def value_and_hvp(
  f: Callable[..., Any],
  primals: Any,
  tangents: Any,
  *,
  use_gradient_tape: bool = False,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> tuple[Any, Any]:
  """Computes the scalar `f(*primals)` and its Hessian-vector product.

  `H @ tangents`, structured like `primals`, without forming the Hessian:
  as the Hessian is symmetric, it is the vector-Jacobian product of the
  gradient with `tangents` — a second backward pass over the gradient, with
  the engine `value_and_gradient` would use for both (what a hand-written
  double tape, or `tf.gradients` of `tf.gradients`, computes), at the cost
  of about two gradients. It works through `tf.cond` and `tf.while_loop`
  wherever their gradients do, and gives one answer in every regime.
  `primals` and `tangents` are as in `value_and_jvp`.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> a = tf.constant([[2., 1.], [1., 3.]])
      >>> quadratic = lambda x: 0.5 * tf.reduce_sum(x * tf.linalg.matvec(a, x))
      >>> value, hvp = tfm.value_and_hvp(quadratic, tf.constant([1., 1.]),
      ...                                tf.constant([1., 0.]))
      >>> hvp.numpy().tolist()  # The first column of a.
      [2.0, 1.0]

  Args:
    f: Python callable returning a scalar Tensor.
    primals: the arguments of `f`, as in `value_and_jvp`.
    tangents: the vector, one part per primal, of its shape.
    use_gradient_tape: take the inner gradient with a tape even in a graph.
      Default value: `False`.
    auto_unpack_single_arg: whether a list or tuple `primals` holds the
      arguments.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_hvp'`).
    unconnected_gradients: `'none'`, `'zero'` or a `tf.UnconnectedGradients`:
      the product's part for a primal the gradient does not depend on.
      Default value: `'none'`.

  Returns:
    `(y, hvp)`, or `((y, aux), hvp)` with `has_aux`.
  """
  return _calls.value_and_product(
    _core.hvp,
    f,
    primals,
    tangents,
    api='value_and_hvp',
    name=name or 'value_and_hvp',
    auto_unpack_single_arg=auto_unpack_single_arg,
    has_aux=has_aux,
    unconnected_gradients=unconnected_gradients,
    use_gradient_tape=use_gradient_tape,
  )


@_autograph.library_function
def hvp(
  f: Callable[..., Any],
  primals: Any,
  tangents: Any,
  *,
  use_gradient_tape: bool = False,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Any:
  """The Hessian-vector product of `f` at `primals`, without the value.

  As `value_and_hvp`, but returns only the product.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> tfm.hvp(lambda x: tf.reduce_sum(x ** 3), tf.constant([1., 2.]),
      ...         tf.constant([1., 1.])).numpy().tolist()
      [6.0, 12.0]

  Args:
    f: Python callable returning a scalar Tensor.
    primals: the arguments of `f`, as in `value_and_jvp`.
    tangents: the vector, one part per primal, of its shape.
    use_gradient_tape: take the inner gradient with a tape even in a graph.
      Default value: `False`.
    auto_unpack_single_arg: whether a list or tuple `primals` holds the
      arguments.
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'hvp'`).
    unconnected_gradients: `'none'`, `'zero'` or a `tf.UnconnectedGradients`:
      the product's part for a primal the gradient does not depend on.
      Default value: `'none'`.

  Returns:
    The Hessian-vector product, structured like `primals`, or
    `(hvp, aux)` with `has_aux`.
  """
  return _calls.without_value(
    value_and_hvp(
      f,
      primals,
      tangents,
      use_gradient_tape=use_gradient_tape,
      auto_unpack_single_arg=auto_unpack_single_arg,
      has_aux=has_aux,
      name=name or 'hvp',
      unconnected_gradients=unconnected_gradients,
    ),
    has_aux,
  )
