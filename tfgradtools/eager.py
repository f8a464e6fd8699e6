"""The function transformers of TF 1.x `tf.contrib.eager`, on TensorFlow 2.

`import tfgradtools.eager as tfe` runs code written for
`tfe.gradients_function`, `tfe.value_and_gradients_function`,
`tfe.implicit_gradients`, `tfe.implicit_value_and_gradients` and
`tfe.make_vjp` unchanged, now also inside `tf.function`, XLA, TF1 graphs and
`tf.distribute` replicas.

Each transformer only translates these conventions (`params`, `dy`) into the
dispatch core: `gradients_function` is `value_and_gradients_function` without
the value, which records and differentiates in one step; `make_vjp` records
and returns the differentiation for later; `implicit_gradients` is
`implicit_value_and_gradients` without the value.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, TypeAlias

from tfgradtools import _args
from tfgradtools import _core
from tfgradtools import _errors

__all__ = [
    'gradients_function',
    'implicit_gradients',
    'implicit_value_and_gradients',
    'make_vjp',
    'value_and_gradients_function',
]

Params: TypeAlias = 'Sequence[str] | Sequence[int] | None'


def _selected_arguments(f: Callable[..., Any], params: Params, api: str
                        ) -> Callable[[tuple[Any, ...], dict[str, Any]],
                                      _core.Prepare]:
  """Checks `f` and `params` once; the result prepares a call's sources."""
  _errors.check_callable(f, api)
  selector = _args.ParamSelector(f, params, api)

  def prepare_call(args, kwargs):
    def prepare():
      call_args, call_kwargs = list(args), dict(kwargs)
      keys = selector.select(len(args), kwargs)
      return call_args, call_kwargs, _args.take_sources(call_args,
                                                        call_kwargs, keys)
    return prepare

  return prepare_call


def make_vjp(f: Callable[..., Any], params: Params = None,
             persistent: bool = True, *, use_gradient_tape: bool = False,
             name: str | None = None,
             unconnected_gradients: _args.UnconnectedGradientsLike = 'none'
             ) -> Callable[..., tuple[Any, Callable[..., list[Any]]]]:
  """Returns a function computing `f` and its vector-Jacobian product.

  Example:

  >>> import tensorflow as tf
  >>> import tfgradtools.eager as tfe
  >>> result, vjp = tfe.make_vjp(lambda x: x * x)(tf.constant(3.))
  >>> float(result), [float(g) for g in vjp()], [float(g) for g in vjp(2.)]
  (9.0, [6.0], [12.0])

  Args:
    f: the function to differentiate.
    params: the parameters to differentiate with respect to: names of `f`'s
      parameters, or positions.
      Default value: `None` (every positional argument of the call).
    persistent: whether `vjp` may be called more than once.
      Default value: `True`.
    use_gradient_tape: use `tf.GradientTape` even while building a graph,
      where `tf.gradients` is used otherwise.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'make_vjp'`).
    unconnected_gradients: `'none'`, `'zero'` or a `tf.UnconnectedGradients`.
      Default value: `'none'`.

  Returns:
    A function `g(*args, **kwargs)` returning `(f(*args, **kwargs), vjp)`,
    where `vjp(dy=None)` returns the list of gradients of `sum(dy * f(...))`,
    one per selected parameter (`dy` defaults to ones).

  Raises:
    TypeError: `f` is not callable.
    ValueError: `params` mixes names and positions or names no parameter.
  """
  api = 'make_vjp'
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  prepare_call = _selected_arguments(f, params, api)
  scope = name or api

  @functools.wraps(f)
  def value_and_vjp(*args, **kwargs):
    recorded = _core.record(f, prepare_call(args, kwargs), api=api,
                            name=scope, use_gradient_tape=use_gradient_tape,
                            persistent=persistent)

    def vjp(dy=None):
      return recorded.vjp(dy, unconnected=unconnected, arg_name='dy')

    return recorded.value, vjp

  return value_and_vjp


def value_and_gradients_function(
    f: Callable[..., Any], params: Params = None, *,
    use_gradient_tape: bool = False, name: str | None = None,
    unconnected_gradients: _args.UnconnectedGradientsLike = 'none'
) -> Callable[..., tuple[Any, list[Any]]]:
  """Returns a function that computes `f` and its gradients.

  Example:

  >>> import tfgradtools.eager as tfe
  >>> def f(x, y):
  ...   return x * x * x * y - x * y * y
  >>> value, (dx, dy) = tfe.value_and_gradients_function(f)(2., 3.)
  >>> float(value), float(dx), float(dy)
  (6.0, 27.0, -4.0)
  >>> value, (dy,) = tfe.value_and_gradients_function(f, params=['y'])(2., 3.)
  >>> float(dy)
  -4.0

  Args:
    f: the function to differentiate. If it returns a list or structure of
      Tensors, the gradient is that of the sum of their parts, weighted by
      `dy`.
    params: the parameters to differentiate with respect to: names of `f`'s
      parameters, or positions. Keyword arguments of the call are passed to
      `f` and differentiated only if named here.
      Default value: `None` (every positional argument of the call).
    use_gradient_tape: use `tf.GradientTape` even while building a graph,
      where `tf.gradients` is used otherwise.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'value_and_gradients_function'`).
    unconnected_gradients: `'none'`, `'zero'` or a `tf.UnconnectedGradients`.
      Default value: `'none'`.

  Returns:
    A function `g(*args, dy=None, **kwargs)` returning
    `(f(*args, **kwargs), [gradient for each selected parameter])`.

  Raises:
    TypeError: `f` is not callable.
    ValueError: `params` mixes names and positions or names no parameter.
  """
  return _value_and_gradients_function(
      f, params, api='value_and_gradients_function', name=name,
      use_gradient_tape=use_gradient_tape,
      unconnected_gradients=unconnected_gradients)


def _value_and_gradients_function(f, params, *, api, name, use_gradient_tape,
                                  unconnected_gradients):
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  prepare_call = _selected_arguments(f, params, api)
  scope = name or api

  @functools.wraps(f)
  def value_and_gradients(*args, dy=None, **kwargs):
    recorded, grads = _core.differentiate(
        f, prepare_call(args, kwargs), api=api, name=scope,
        use_gradient_tape=use_gradient_tape, cotangent=dy,
        unconnected=unconnected, arg_name='dy')
    return recorded.value, grads

  return value_and_gradients


def gradients_function(
    f: Callable[..., Any], params: Params = None, *,
    use_gradient_tape: bool = False, name: str | None = None,
    unconnected_gradients: _args.UnconnectedGradientsLike = 'none'
) -> Callable[..., list[Any]]:
  """Returns a function that computes the gradients of `f`.

  As `value_and_gradients_function`, without the value (default name scope
  `'gradients_function'`). It composes: the gradient of a gradient is the
  second derivative.

  Example:

  >>> import tfgradtools.eager as tfe
  >>> def f(x, y):
  ...   return x * x * x * y - x * y * y
  >>> grad_fn = tfe.gradients_function(f)
  >>> [float(g) for g in grad_fn(2., 3.)]
  [27.0, -4.0]
  >>> float(tfe.gradients_function(lambda x, y: grad_fn(x, y)[0])(2., 3.)[0])
  36.0
  """
  value_and_gradients = _value_and_gradients_function(
      f, params, api='gradients_function', name=name,
      use_gradient_tape=use_gradient_tape,
      unconnected_gradients=unconnected_gradients)

  @functools.wraps(f)
  def gradients(*args, dy=None, **kwargs):
    return value_and_gradients(*args, dy=dy, **kwargs)[1]

  return gradients


def implicit_value_and_gradients(
    f: Callable[..., Any], *, use_gradient_tape: bool = False,
    name: str | None = None,
    unconnected_gradients: _args.UnconnectedGradientsLike = 'none'
) -> Callable[..., tuple[Any, list[tuple[Any, Any]]]]:
  """Returns a function computing `f` and its gradients w.r.t. variables.

  The gradients are with respect to every trainable variable `f` reads, in
  creation order, paired with the variable itself — the Keras 3 variable
  where `f` reads one, so the pairs go straight to an optimizer's
  `apply_gradients`. Only a tape can discover the variables, so one is used
  in every regime (`use_gradient_tape` is accepted for symmetry).

  Example:

  >>> import tensorflow as tf
  >>> import tfgradtools.eager as tfe
  >>> w = tf.Variable(3.)
  >>> value, grads_and_vars = tfe.implicit_value_and_gradients(
  ...     lambda x: w * x)(2.)
  >>> float(value), float(grads_and_vars[0][0]), grads_and_vars[0][1] is w
  (6.0, 2.0, True)

  Args:
    f: the function to differentiate.
    use_gradient_tape: accepted for symmetry; a tape is always used.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'implicit_value_and_gradients'`).
    unconnected_gradients: `'none'`, `'zero'` or a `tf.UnconnectedGradients`.
      Default value: `'none'`.

  Returns:
    A function `g(*args, **kwargs)` returning
    `(f(*args, **kwargs), [(gradient, variable), ...])`.

  Raises:
    TypeError: `f` is not callable.
    ValueError (when called): `f` read no trainable variable.
  """
  del use_gradient_tape  # Discovering variables needs a tape in any regime.
  return _implicit_value_and_gradients(
      f, api='implicit_value_and_gradients', name=name,
      unconnected_gradients=unconnected_gradients)


def _implicit_value_and_gradients(f, *, api, name, unconnected_gradients):
  _errors.check_callable(f, api)
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  scope = name or api

  @functools.wraps(f)
  def value_and_gradients(*args, **kwargs):
    recorded, grads = _core.differentiate(
        f, lambda: (args, kwargs, None), api=api, name=scope,
        unconnected=unconnected)
    return recorded.value, list(zip(grads, recorded.sources))

  return value_and_gradients


def implicit_gradients(
    f: Callable[..., Any], *, use_gradient_tape: bool = False,
    name: str | None = None,
    unconnected_gradients: _args.UnconnectedGradientsLike = 'none'
) -> Callable[..., list[tuple[Any, Any]]]:
  """Returns a function computing the gradients of `f` w.r.t. variables.

  As `implicit_value_and_gradients`, without the value (default name scope
  `'implicit_gradients'`).

  Example:

  >>> import tensorflow as tf
  >>> import tfgradtools.eager as tfe
  >>> w = tf.Variable(3.)
  >>> [(float(g), v is w) for g, v in tfe.implicit_gradients(
  ...     lambda: w * w)()]
  [(6.0, True)]
  """
  del use_gradient_tape  # Discovering variables needs a tape in any regime.
  value_and_gradients = _implicit_value_and_gradients(
      f, api='implicit_gradients', name=name,
      unconnected_gradients=unconnected_gradients)

  @functools.wraps(f)
  def gradients(*args, **kwargs):
    return value_and_gradients(*args, **kwargs)[1]

  return gradients
