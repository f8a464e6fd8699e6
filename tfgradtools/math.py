"""Drop-in replacements for the gradient functions of `tfp.math`.

`import tfgradtools.math as tfm` runs code written for
`tfp.math.value_and_gradient` and friends unchanged, without TensorFlow
Probability, in every execution regime (eager, `tf.function`, XLA, TF1 graphs
and `tf.distribute` replicas).
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _core
from tfgradtools import _errors
from tfgradtools import _nest
from tfgradtools._flat import FlatObjective as FlatObjective
from tfgradtools._per_example import (
    VectorizationFallbackWarning as VectorizationFallbackWarning,
    clipped_gradients as clipped_gradients,
    per_example_gradient_norms as per_example_gradient_norms,
    per_example_gradients as per_example_gradients,
    value_and_clipped_gradients as value_and_clipped_gradients,
    value_and_per_example_gradient_norms as
    value_and_per_example_gradient_norms,
    value_and_per_example_gradients as value_and_per_example_gradients)

__all__ = [
    'FlatObjective',
    'VectorizationFallbackWarning',
    'batch_jacobian',
    'clipped_gradients',
    'flat_objective',
    'hessian',
    'hvp',
    'jacobian',
    'jvp',
    'per_example_gradient_norms',
    'per_example_gradients',
    'value_and_batch_jacobian',
    'value_and_clipped_gradients',
    'value_and_gradient',
    'value_and_gradient_with_auto_expansion',
    'value_and_hessian',
    'value_and_hvp',
    'value_and_jacobian',
    'value_and_jvp',
    'value_and_per_example_gradient_norms',
    'value_and_per_example_gradients',
]



def value_and_gradient(
    f: Callable[..., Any],
    *args: Any,
    output_gradients: Any = None,
    use_gradient_tape: bool = False,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none',
    **kwargs: Any) -> tuple[Any, ...]:
  """Computes `f(*args, **kwargs)` and its gradients with respect to them.

  `f` is called according to the first of these rules that applies:

  1. If `f` takes no arguments, it is called as `f()`.
  2. If there is one positional argument, it is a list or tuple, there are no
     keyword arguments and `auto_unpack_single_arg` is `True`, the argument
     holds the arguments: `f(*args[0])`.
  3. Otherwise `f(*args, **kwargs)`.

  Either way the gradients are with respect to `args` and `kwargs`. Arguments
  that are not variables are converted to Tensors (Python numbers become
  `float32`); `tf.Variable`s and Keras 3 variables are differentiated as
  variables. The old signature `value_and_gradient(f, xs=[...])` still works
  when `f` has no parameter named `xs`.

  Example:

  >>> import tensorflow as tf
  >>> import tfgradtools.math as tfm
  >>> y, (dx, dy) = tfm.value_and_gradient(
  ...     lambda x, y: x * tf.math.log(y), [2., 3.])
  >>> print(f'{float(y):.4f} {float(dx):.4f} {float(dy):.4f}')
  2.1972 1.0986 0.6667
  >>> x = tf.constant(2.)
  >>> y, dydx = tfm.value_and_gradient(lambda: tf.math.log(x), x)
  >>> float(dydx)
  0.5

  Args:
    f: Python callable to differentiate. If it returns a list or structure of
      Tensors, the gradient is that of the sum of their parts, weighted by
      `output_gradients`.
    *args: arguments of `f` and basis for the gradient.
    output_gradients: a Tensor or structure of Tensors like `f`'s value,
      weighting each of its parts (the `grad_ys` of `tf.gradients`).
      Default value: `None` (ones).
    use_gradient_tape: use `tf.GradientTape` even while building a graph,
      where `tf.gradients` is used otherwise.
      Default value: `False`.
    auto_unpack_single_arg: whether one list or tuple argument holds the
      arguments (rule 2).
      Default value: `True`.
    has_aux: `f` returns `(y, aux)`; only `y` is differentiated.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_gradient'`).
    unconnected_gradients: `'none'`, `'zero'` or a `tf.UnconnectedGradients`:
      the gradient of an argument that `f`'s value does not depend on.
      Default value: `'none'`.
    **kwargs: keyword arguments of `f` and basis for the gradient.

  Returns:
    `(y, dydx)`, or `((y, aux), dydx)` with `has_aux`. `dydx` mirrors the
    arguments: one gradient for one argument, a list (or the packed list or
    tuple) for several, a dict for keyword arguments, and
    `(y, dydx_args, dydx_kwargs)` when there are both.

  Raises:
    TypeError: `f` is not callable or returns something that is not a Tensor.
    ValueError: no arguments were given, `has_aux` is set and `f` returns no
      pair, or `output_gradients` does not match `f`'s value.
  """
  return _value_and_derivative(
      f, args, kwargs, api='value_and_gradient',
      name=name or 'value_and_gradient', expand_modules=False,
      output_gradients=output_gradients, use_gradient_tape=use_gradient_tape,
      auto_unpack_single_arg=auto_unpack_single_arg, has_aux=has_aux,
      unconnected_gradients=unconnected_gradients, derivative='vjp')


def value_and_gradient_with_auto_expansion(
    f: Callable[..., Any],
    *args: Any,
    output_gradients: Any = None,
    use_gradient_tape: bool = False,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none',
    **kwargs: Any) -> tuple[Any, ...]:
  """`value_and_gradient`, differentiating modules by their variables.

  Every argument with `trainable_variables` — a `tf.Module`, a Keras 3 layer
  or model, a TFP distribution or `TransformedVariable` — is passed to `f` as
  it is, and its gradient is the list of gradients with respect to its
  trainable variables. Everything else is as in `value_and_gradient`; the
  default name scope is `'value_and_gradient_with_auto_expansion'`.

  Example:

  >>> import tensorflow as tf
  >>> import tfgradtools.math as tfm
  >>> scale = tf.Module()
  >>> scale.w = tf.Variable(3.)
  >>> y, dydw = tfm.value_and_gradient_with_auto_expansion(
  ...     lambda m, x: m.w * x, scale, tf.constant(2.))
  >>> [float(g) for g in dydw[0]], float(dydw[1])
  ([2.0], 3.0)
  """
  return _value_and_derivative(
      f, args, kwargs, api='value_and_gradient_with_auto_expansion',
      name=name or 'value_and_gradient_with_auto_expansion',
      expand_modules=True, output_gradients=output_gradients,
      use_gradient_tape=use_gradient_tape,
      auto_unpack_single_arg=auto_unpack_single_arg, has_aux=has_aux,
      unconnected_gradients=unconnected_gradients, derivative='vjp')


def value_and_batch_jacobian(
    f: Callable[..., Any],
    *args: Any,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    experimental_use_pfor: bool = True,
    parallel_iterations: int | None = None,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none',
    **kwargs: Any) -> tuple[Any, ...]:
  """Computes `f(*args, **kwargs)` and its batch Jacobian.

  `f` returns a `(batch, n)` Tensor and each argument is `(batch, m)`; the
  Jacobian of each argument is `(batch, n, m)`: `jac[b, i, j] = dy[b, i] /
  dx[b, j]`. The calling rules and the structure of the result are those of
  `value_and_gradient`. It is vectorised with `pfor`, falling back to a
  while loop where `pfor` cannot vectorise an op, and always uses a tape;
  eagerly, a Jacobian of at most 64 rows per example is a loop of backward
  passes, which costs less than tracing the vectorised one.

  Example:

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
  return _value_and_derivative(
      f, args, kwargs, api='value_and_batch_jacobian',
      name=name or 'value_and_batch_jacobian', expand_modules=False,
      output_gradients=None, use_gradient_tape=True,
      auto_unpack_single_arg=auto_unpack_single_arg, has_aux=has_aux,
      unconnected_gradients=unconnected_gradients,
      derivative='batch_jacobian', use_pfor=experimental_use_pfor,
      parallel_iterations=parallel_iterations)


def batch_jacobian(
    f: Callable[..., Any],
    *args: Any,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    experimental_use_pfor: bool = True,
    parallel_iterations: int | None = None,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none',
    **kwargs: Any) -> Any:
  """The batch Jacobian of `f(*args, **kwargs)`, without its value.

  As `value_and_batch_jacobian` (default name scope `'batch_jacobian'`), but
  returns only `jacobian`, or `(jacobian, aux)` with `has_aux`.

  Example:

  >>> import tensorflow as tf
  >>> import tfgradtools.math as tfm
  >>> tfm.batch_jacobian(tf.sin, tf.zeros([1, 2])).numpy().tolist()
  [[[1.0, 0.0], [0.0, 1.0]]]
  """
  return _without_value(value_and_batch_jacobian(
      f, *args, auto_unpack_single_arg=auto_unpack_single_arg,
      has_aux=has_aux, experimental_use_pfor=experimental_use_pfor,
      parallel_iterations=parallel_iterations, name=name or 'batch_jacobian',
      unconnected_gradients=unconnected_gradients, **kwargs), has_aux)


def value_and_jacobian(
    f: Callable[..., Any],
    *args: Any,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    experimental_use_pfor: bool = True,
    parallel_iterations: int | None = None,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none',
    **kwargs: Any) -> tuple[Any, ...]:
  """Computes `f(*args, **kwargs)` and its full Jacobian.

  `f` returns one Tensor `y`; the Jacobian with respect to an argument `x`
  has shape `y.shape + x.shape`: `jac[i..., j...] = dy[i...] / dx[j...]`.
  The calling rules and the structure of the result are those of
  `value_and_gradient`; like `value_and_batch_jacobian` it is vectorised
  with `pfor` (with a while-loop fallback) and always uses a tape.

  Example:

  >>> import tensorflow as tf
  >>> import tfgradtools.math as tfm
  >>> def f(x):
  ...   return tf.stack([x[0] * x[1], x[0] ** 2])
  >>> y, jac = tfm.value_and_jacobian(f, tf.constant([2., 3.]))
  >>> jac.numpy().tolist()
  [[3.0, 2.0], [4.0, 0.0]]

  The arguments are those of `value_and_batch_jacobian` (default name scope
  `'value_and_jacobian'`), without the batch dimension.

  Returns:
    `(y, jacobian)`, or `((y, aux), jacobian)` with `has_aux`; `jacobian`
    mirrors the arguments as `dydx` does in `value_and_gradient`.
  """
  return _value_and_derivative(
      f, args, kwargs, api='value_and_jacobian',
      name=name or 'value_and_jacobian', expand_modules=False,
      output_gradients=None, use_gradient_tape=True,
      auto_unpack_single_arg=auto_unpack_single_arg, has_aux=has_aux,
      unconnected_gradients=unconnected_gradients, derivative='jacobian',
      use_pfor=experimental_use_pfor, parallel_iterations=parallel_iterations)


def jacobian(f: Callable[..., Any], *args: Any,
             auto_unpack_single_arg: bool = True, has_aux: bool = False,
             experimental_use_pfor: bool = True,
             parallel_iterations: int | None = None,
             name: str | None = None,
             unconnected_gradients: str | tf.UnconnectedGradients = 'none',
             **kwargs: Any) -> Any:
  """The full Jacobian of `f(*args, **kwargs)`, without its value.

  As `value_and_jacobian` (default name scope `'jacobian'`), but returns
  only the Jacobian, or `(jacobian, aux)` with `has_aux`.
  """
  return _without_value(value_and_jacobian(
      f, *args, auto_unpack_single_arg=auto_unpack_single_arg,
      has_aux=has_aux, experimental_use_pfor=experimental_use_pfor,
      parallel_iterations=parallel_iterations, name=name or 'jacobian',
      unconnected_gradients=unconnected_gradients, **kwargs), has_aux)


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
    **kwargs: Any) -> tuple[Any, ...]:
  """Computes the scalar `f(*args, **kwargs)` and its Hessian.

  The Hessian block of arguments `x` and `z` has shape `x.shape + z.shape`:
  `h[i..., j...] = d2f / dx[i...] dz[j...]`. For one argument the result is
  that one block; for several, it mirrors the arguments twice (a list of
  lists for positional arguments), as JAX's `hessian` does. The gradient is
  taken with the engine `value_and_gradient` would use, and differentiated
  again on a tape (as `value_and_jacobian` does). For a Hessian-vector
  product, `hvp` never forms the Hessian.

  Example:

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
    experimental_use_pfor, parallel_iterations: as in
      `value_and_batch_jacobian`, for the Jacobian of the gradient.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_hessian'`).
    unconnected_gradients: as in `value_and_gradient`.
      Default value: `'none'`.
    **kwargs: keyword arguments of `f`, basis for the Hessian.

  Returns:
    `(y, hessian)`, or `((y, aux), hessian)` with `has_aux`.
  """
  return _value_and_derivative(
      f, args, kwargs, api='value_and_hessian',
      name=name or 'value_and_hessian', expand_modules=False,
      output_gradients=None, use_gradient_tape=use_gradient_tape,
      auto_unpack_single_arg=auto_unpack_single_arg, has_aux=has_aux,
      unconnected_gradients=unconnected_gradients, derivative='hessian',
      use_pfor=experimental_use_pfor, parallel_iterations=parallel_iterations)


def hessian(f: Callable[..., Any], *args: Any,
            use_gradient_tape: bool = False,
            auto_unpack_single_arg: bool = True, has_aux: bool = False,
            experimental_use_pfor: bool = True,
            parallel_iterations: int | None = None,
            name: str | None = None,
            unconnected_gradients: str | tf.UnconnectedGradients = 'none',
            **kwargs: Any) -> Any:
  """The Hessian of the scalar `f(*args, **kwargs)`, without its value.

  As `value_and_hessian` (default name scope `'hessian'`), but returns only
  the Hessian, or `(hessian, aux)` with `has_aux`.
  """
  return _without_value(value_and_hessian(
      f, *args, use_gradient_tape=use_gradient_tape,
      auto_unpack_single_arg=auto_unpack_single_arg, has_aux=has_aux,
      experimental_use_pfor=experimental_use_pfor,
      parallel_iterations=parallel_iterations, name=name or 'hessian',
      unconnected_gradients=unconnected_gradients, **kwargs), has_aux)


def value_and_jvp(
    f: Callable[..., Any],
    primals: Any,
    tangents: Any,
    *,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none') -> tuple[Any,
                                                                       Any]:
  """Computes `f(*primals)` and its Jacobian-vector product, in forward mode.

  `primals` are the arguments of `f` as the single positional argument of
  `value_and_gradient` would be (a list or tuple is unpacked unless
  `auto_unpack_single_arg=False`); `tangents` has their structure and
  shapes. The result is `J @ tangents`, structured like `f`'s value, pushed
  forward with `tf.autodiff.ForwardAccumulator` alongside the value — one
  pass, whatever the number of outputs.

  Example:

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
      tangent reaches.
      Default value: `'none'`.

  Returns:
    `(y, jvp)`, or `((y, aux), jvp)` with `has_aux`.
  """
  return _value_and_forward(
      f, primals, tangents, api='value_and_jvp',
      name=name or 'value_and_jvp',
      auto_unpack_single_arg=auto_unpack_single_arg, has_aux=has_aux,
      unconnected_gradients=unconnected_gradients,
      use_gradient_tape=False, hvp=False)


def jvp(f: Callable[..., Any], primals: Any, tangents: Any, *,
        auto_unpack_single_arg: bool = True, has_aux: bool = False,
        name: str | None = None,
        unconnected_gradients: str | tf.UnconnectedGradients = 'none') -> Any:
  """The Jacobian-vector product of `f` at `primals`, without the value.

  As `value_and_jvp` (default name scope `'jvp'`); returns `jvp`, or
  `(jvp, aux)` with `has_aux`.
  """
  return _without_value(value_and_jvp(
      f, primals, tangents, auto_unpack_single_arg=auto_unpack_single_arg,
      has_aux=has_aux, name=name or 'jvp',
      unconnected_gradients=unconnected_gradients), has_aux)


def value_and_hvp(
    f: Callable[..., Any],
    primals: Any,
    tangents: Any,
    *,
    use_gradient_tape: bool = False,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    name: str | None = None,
    unconnected_gradients: str | tf.UnconnectedGradients = 'none') -> tuple[Any,
                                                                       Any]:
  """Computes the scalar `f(*primals)` and its Hessian-vector product.

  `H @ tangents`, structured like `primals`, computed forward-over-reverse:
  the gradient of `f` (with the engine `value_and_gradient` would use) is
  pushed forward along `tangents` — the cost of about two gradients, and
  the Hessian is never formed. `primals` and `tangents` are as in
  `value_and_jvp`.

  Example:

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
    primals, tangents, auto_unpack_single_arg, has_aux,
      unconnected_gradients: as in `value_and_jvp`.
    use_gradient_tape: take the inner gradient with a tape even in a graph.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_hvp'`).

  Returns:
    `(y, hvp)`, or `((y, aux), hvp)` with `has_aux`.
  """
  return _value_and_forward(
      f, primals, tangents, api='value_and_hvp',
      name=name or 'value_and_hvp',
      auto_unpack_single_arg=auto_unpack_single_arg, has_aux=has_aux,
      unconnected_gradients=unconnected_gradients,
      use_gradient_tape=use_gradient_tape, hvp=True)


def hvp(f: Callable[..., Any], primals: Any, tangents: Any, *,
        use_gradient_tape: bool = False,
        auto_unpack_single_arg: bool = True, has_aux: bool = False,
        name: str | None = None,
        unconnected_gradients: str | tf.UnconnectedGradients = 'none') -> Any:
  """The Hessian-vector product of `f` at `primals`, without the value.

  As `value_and_hvp` (default name scope `'hvp'`); returns `hvp`, or
  `(hvp, aux)` with `has_aux`.
  """
  return _without_value(value_and_hvp(
      f, primals, tangents, use_gradient_tape=use_gradient_tape,
      auto_unpack_single_arg=auto_unpack_single_arg, has_aux=has_aux,
      name=name or 'hvp', unconnected_gradients=unconnected_gradients),
                        has_aux)


def flat_objective(f: Callable[..., Any], params: Any, *,
                   use_gradient_tape: bool = False,
                   name: str | None = None) -> FlatObjective:
  """`f` over its parameters flattened into one vector, for optimizers.

  `scipy.optimize.minimize` and `tfp.optimizer.lbfgs_minimize` want one
  flat vector; `params` may be a list, tuple, dict or nested structure of
  Tensors or variables (Keras 3 variables too), or a Keras model or
  `tf.Module` (its `trainable_variables`). How `f` is called:

  * Tensors: `f(params)`, with the structure rebuilt from the flat vector.
  * Variables, a model or a module: the flat vector is assigned to the
    variables, then `f` is called as declared: `f()` if it takes no
    arguments, else `f(params)` with `params` as passed (the model, say).

  The flat vector has the widest float dtype among the parameters
  (`float64` if any part is, else `float32`); each part is cast back to its
  own dtype. A call costs `value_and_gradient` plus one split and one
  concat (and, for variables, the assignments).

  Example:

  >>> import numpy as np
  >>> import scipy.optimize
  >>> import tensorflow as tf
  >>> import tfgradtools.math as tfm
  >>> w = [tf.Variable([[1., 2.]]), tf.Variable([0.])]
  >>> objective = tfm.flat_objective(
  ...     lambda: tf.reduce_sum((w[0] - 3.) ** 2) + (w[1][0] + 1.) ** 2, w)
  >>> result = scipy.optimize.minimize(
  ...     objective.numpy_value_and_gradient, objective.numpy_initial_position,
  ...     jac=True, method='L-BFGS-B')
  >>> objective.assign(result.x)
  >>> np.round(w[0].numpy(), 3).tolist(), np.round(w[1].numpy(), 3).tolist()
  ([[3.0, 3.0]], [-1.0])

  Args:
    f: Python callable returning a scalar Tensor.
    params: what to optimize: a structure of Tensors or variables, or a
      Keras model or `tf.Module`.
    use_gradient_tape: as in `value_and_gradient`.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'flat_objective'`).

  Returns:
    A `FlatObjective`: `initial_position`, `flatten`, `unflatten`,
    `value_and_gradient(x)` and `hvp(x, v)` over the flat vector (for
    `tfp.optimizer`, eagerly or in `tf.function`), their NumPy `float64`
    forms `numpy_value_and_gradient` and `numpy_hvp` (for
    `scipy.optimize.minimize(..., jac=True, hessp=...)`), and
    `assign(x)` to write a solution back into the variables. Gradients of
    parameters `f` does not use are zeros.

  Raises:
    TypeError: `f` is not callable, `params` mixes variables and Tensors,
      holds non-float parts, or holds Tensors and `f` takes no argument.
    ValueError: `params` is empty or has parts of unknown shape.
  """
  return FlatObjective(f, params, use_gradient_tape=use_gradient_tape,
                       name=name)


def _without_value(result, has_aux):
  """`(y, d...)` or `((y, aux), d...)` without `y`: `d` or `(d, aux)`."""
  derivative = result[1] if len(result) == 2 else result[1:]
  return (derivative, result[0][1]) if has_aux else derivative


class _Call:
  """tfp.math's calling conventions for one call.

  It unpacks packed arguments, converts them inside the core's name scope
  (`prepare`), and mirrors the arguments' structure in the derivatives
  (`derivatives`).
  """

  def __init__(self, f, args, kwargs, *, api, auto_unpack_single_arg,
               expand_modules=False):
    _errors.check_callable(f, api)
    args, kwargs = _args.legacy_xs(f, args, kwargs)
    if not args and not kwargs:
      raise _errors.no_arguments(api)
    packed = args[0] if args else None
    args, self.unpacked = _args.unpack_packed_args(args, kwargs,
                                                   auto_unpack_single_arg)
    self.f = f
    self.api = api
    self.packed_kind = type(packed).__name__
    self.structure = (args, kwargs)
    self.expand_modules = expand_modules
    self.bases = []

  def prepare(self):
    """Converted arguments for `f`, and the flat sources."""
    leaves = [_args.to_math_source(x) for x in _nest.flatten(self.structure)]
    self.bases = ([_args.expand_to_trainable_variables(x) for x in leaves]
                  if self.expand_modules else leaves)
    sources = _nest.flatten(self.bases)
    if not _args.takes_arguments(self.f):
      return (), {}, sources
    return (*_nest.pack(self.structure, leaves), sources)

  def flat_like_sources(self, values, what):
    """`values`, structured like the arguments, as a flat list."""
    args, kwargs = self.structure
    try:
      tf.nest.assert_same_structure((args, kwargs), values, check_types=False)
    except (ValueError, TypeError):
      raise _errors.mismatched_tangents(what, _nest.flatten(self.structure),
                                        _nest.flatten(values)) from None
    return _nest.flatten(values)

  def derivatives(self, flat):
    """`flat` (one entry per source) structured like the arguments."""
    args, kwargs = self.structure
    d_args, d_kwargs = _nest.pack(self.structure, _nest.pack(self.bases, flat))
    if not self.unpacked:
      d_args = d_args[0] if len(args) == 1 else list(d_args)
    return ((d_args,) if args else ()) + ((d_kwargs,) if kwargs else ())

  def run(self, differentiate):
    """`differentiate()`, explaining a failed call of unpacked arguments."""
    try:
      return differentiate()
    except TypeError as error:
      args = self.structure[0]
      if self.unpacked and _args.takes_arguments(self.f) and not (
          _args.accepts_positional(self.f, len(args))):
        raise _errors.unpacked_mismatch(self.api, self.f, len(args),
                                        self.packed_kind) from error
      raise

  def result(self, value, aux, has_aux, flat):
    head = ((value, aux),) if has_aux else (value,)
    return head + self.derivatives(flat)


def _value_and_derivative(f, args, kwargs, *, api, name, expand_modules,
                          output_gradients, use_gradient_tape,
                          auto_unpack_single_arg, has_aux,
                          unconnected_gradients, derivative, use_pfor=True,
                          parallel_iterations=None):
  """The shared driver: tfp.math's calling conventions over the core."""
  call = _Call(f, args, kwargs, api=api,
               auto_unpack_single_arg=auto_unpack_single_arg,
               expand_modules=expand_modules)
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  recorded, flat = call.run(lambda: _core.differentiate(
      f, call.prepare, api=api, name=name,
      use_gradient_tape=use_gradient_tape, has_aux=has_aux,
      cotangent=output_gradients, unconnected=unconnected,
      derivative=derivative, use_pfor=use_pfor,
      parallel_iterations=parallel_iterations))
  if derivative == 'hessian':
    flat = [call.derivatives(row) for row in flat]
    flat = [row[0] if len(row) == 1 else row for row in flat]
  return call.result(recorded.value, recorded.aux, has_aux, flat)


def _value_and_forward(f, primals, tangents, *, api, name,
                       auto_unpack_single_arg, has_aux, unconnected_gradients,
                       use_gradient_tape, hvp):
  """The forward-mode driver: `primals` is `value_and_gradient`'s one arg."""
  call = _Call(f, (primals,), {}, api=api,
               auto_unpack_single_arg=auto_unpack_single_arg)
  unpacked_tangents, _ = _args.unpack_packed_args(
      (tangents,), {}, auto_unpack_single_arg and call.unpacked)
  flat_tangents = call.flat_like_sources((unpacked_tangents, {}), api)
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  value, aux, flat = call.run(lambda: _core.forward(
      f, call.prepare, flat_tangents, api=api, name=name, has_aux=has_aux,
      unconnected=unconnected, use_gradient_tape=use_gradient_tape, hvp=hvp))
  derivative = call.derivatives(flat)[0] if hvp else _nest.pack(value, flat)
  return ((value, aux) if has_aux else value), derivative
