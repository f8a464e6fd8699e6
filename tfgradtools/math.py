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

__all__ = [
    'batch_jacobian',
    'value_and_batch_jacobian',
    'value_and_gradient',
    'value_and_gradient_with_auto_expansion',
]

UnconnectedGradientsLike = str | tf.UnconnectedGradients


def value_and_gradient(
    f: Callable[..., Any],
    *args: Any,
    output_gradients: Any = None,
    use_gradient_tape: bool = False,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    name: str | None = None,
    unconnected_gradients: UnconnectedGradientsLike = 'none',
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
      unconnected_gradients=unconnected_gradients, jacobian=False)


def value_and_gradient_with_auto_expansion(
    f: Callable[..., Any],
    *args: Any,
    output_gradients: Any = None,
    use_gradient_tape: bool = False,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    name: str | None = None,
    unconnected_gradients: UnconnectedGradientsLike = 'none',
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
      unconnected_gradients=unconnected_gradients, jacobian=False)


def value_and_batch_jacobian(
    f: Callable[..., Any],
    *args: Any,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    name: str | None = None,
    unconnected_gradients: UnconnectedGradientsLike = 'none',
    **kwargs: Any) -> tuple[Any, ...]:
  """Computes `f(*args, **kwargs)` and its batch Jacobian.

  `f` returns a `(batch, n)` Tensor and each argument is `(batch, m)`; the
  Jacobian of each argument is `(batch, n, m)`: `jac[b, i, j] = dy[b, i] /
  dx[b, j]`. The calling rules and the structure of the result are those of
  `value_and_gradient`. It is vectorised with `pfor`, falling back to a
  while loop where `pfor` cannot vectorise an op, and always uses a tape.

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
      unconnected_gradients=unconnected_gradients, jacobian=True)


def batch_jacobian(
    f: Callable[..., Any],
    *args: Any,
    auto_unpack_single_arg: bool = True,
    has_aux: bool = False,
    name: str | None = None,
    unconnected_gradients: UnconnectedGradientsLike = 'none',
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
  result = value_and_batch_jacobian(
      f, *args, auto_unpack_single_arg=auto_unpack_single_arg,
      has_aux=has_aux, name=name or 'batch_jacobian',
      unconnected_gradients=unconnected_gradients, **kwargs)
  if has_aux:
    (_, aux), jacobian = result[0], result[1:]
  else:
    jacobian = result[1:]
  jacobian = jacobian[0] if len(jacobian) == 1 else jacobian
  return (jacobian, aux) if has_aux else jacobian


def _value_and_derivative(f, args, kwargs, *, api, name, expand_modules,
                          output_gradients, use_gradient_tape,
                          auto_unpack_single_arg, has_aux,
                          unconnected_gradients, jacobian):
  """The shared driver: tfp.math's calling conventions over the core."""
  _errors.check_callable(f, api)
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  args, kwargs = _args.legacy_xs(f, args, kwargs)
  if not args and not kwargs:
    raise _errors.no_arguments(api)
  args, unpacked = _args.unpack_packed_args(args, kwargs,
                                            auto_unpack_single_arg)
  structure = (args, kwargs)
  bases = []

  def prepare():
    leaves = [_args.to_math_source(x) for x in _nest.flatten(structure)]
    bases[:] = ([_args.expand_to_trainable_variables(x) for x in leaves]
                if expand_modules else leaves)
    sources = _nest.flatten(bases)
    if not _args.takes_arguments(f):
      return (), {}, sources
    return (*_nest.pack(structure, leaves), sources)

  recorded, derivatives = _core.differentiate(
      f, prepare, api=api, name=name, use_gradient_tape=use_gradient_tape,
      has_aux=has_aux, cotangent=output_gradients, unconnected=unconnected,
      jacobian=jacobian)
  d_args, d_kwargs = _nest.pack(structure, _nest.pack(bases, derivatives))
  if not unpacked:
    d_args = d_args[0] if len(args) == 1 else list(d_args)
  result = ((recorded.value, recorded.aux),) if has_aux else (recorded.value,)
  if args:
    result += (d_args,)
  if kwargs:
    result += (d_kwargs,)
  return result
