"""Values and gradients: `value_and_gradient` and its auto-expanding twin."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfgradtools import _autograph
from tfgradtools import _calls
from tfgradtools import _core


@_autograph.library_function
def value_and_gradient(
  f: Callable[..., Any],
  *args: Any,
  output_gradients: Any = None,
  use_gradient_tape: bool = False,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
  **kwargs: Any,
) -> tuple[Any, ...]:
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

  #### Examples

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
      the gradient of an argument that `f`'s value does not depend on; or
      `'raise'`: a `DisconnectedGradientError` that says why, as
      `explain_gradients` does.
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
    DisconnectedGradientError: with `unconnected_gradients='raise'`, where a
      gradient would be `None`.
  """
  return _calls.value_and_derivative(
    f,
    args,
    kwargs,
    api='value_and_gradient',
    name=name or 'value_and_gradient',
    expand_modules=False,
    output_gradients=output_gradients,
    use_gradient_tape=use_gradient_tape,
    auto_unpack_single_arg=auto_unpack_single_arg,
    has_aux=has_aux,
    unconnected_gradients=unconnected_gradients,
    derivative=_core.VJP,
  )


@_autograph.library_function
def value_and_gradient_with_auto_expansion(
  f: Callable[..., Any],
  *args: Any,
  output_gradients: Any = None,
  use_gradient_tape: bool = False,
  auto_unpack_single_arg: bool = True,
  has_aux: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
  **kwargs: Any,
) -> tuple[Any, ...]:
  """`value_and_gradient`, differentiating modules by their variables.

  Every argument with `trainable_variables` — a `tf.Module`, a Keras 3 layer
  or model, a TFP distribution or `TransformedVariable` — is passed to `f` as
  it is, and its gradient is the list of gradients with respect to its
  trainable variables. Everything else is as in `value_and_gradient`.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> scale = tf.Module()
      >>> scale.w = tf.Variable(3.)
      >>> y, dydw = tfm.value_and_gradient_with_auto_expansion(
      ...     lambda m, x: m.w * x, scale, tf.constant(2.))
      >>> [float(g) for g in dydw[0]], float(dydw[1])
      ([2.0], 3.0)

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
      Default value: `None` (i.e. `'value_and_gradient_with_auto_expansion'`).
    unconnected_gradients: `'none'`, `'zero'` or a `tf.UnconnectedGradients`:
      the gradient of an argument that `f`'s value does not depend on.
      Default value: `'none'`.
    **kwargs: keyword arguments of `f` and basis for the gradient.

  Returns:
    As in `value_and_gradient`; the gradient of a module is the list of
    gradients of its trainable variables.

  Raises:
    TypeError: `f` is not callable or returns something that is not a Tensor.
    ValueError: no arguments were given, `has_aux` is set and `f` returns no
      pair, or `output_gradients` does not match `f`'s value.
  """
  return _calls.value_and_derivative(
    f,
    args,
    kwargs,
    api='value_and_gradient_with_auto_expansion',
    name=name or 'value_and_gradient_with_auto_expansion',
    expand_modules=True,
    output_gradients=output_gradients,
    use_gradient_tape=use_gradient_tape,
    auto_unpack_single_arg=auto_unpack_single_arg,
    has_aux=has_aux,
    unconnected_gradients=unconnected_gradients,
    derivative=_core.VJP,
  )
