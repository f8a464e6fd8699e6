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

from typing import Any, Callable, Sequence

import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _autograph
from tfgradtools import _core
from tfgradtools import _errors
from tfgradtools import _nest
from tfgradtools import _wrap
from tfgradtools._variable_owners import VariableNotFoundWarning

__all__ = [
  'VariableNotFoundWarning',
  'gradients_function',
  'implicit_gradients',
  'implicit_value_and_gradients',
  'make_vjp',
  'value_and_gradients_function',
]


class _Call:
  """One call of a transformed function: its arguments and sources.

  `prepare` (run by the core, inside its name scope) converts the selected
  arguments; `gradients` gives each selected parameter its gradient,
  structured like the argument (a structure stays a structure).
  """

  __slots__ = ('_args', '_kwargs', '_keys', '_selected')

  def __init__(
    self,
    selector: _args.ParamSelector,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
  ):
    self._args = args
    self._kwargs = kwargs
    self._keys = selector.select(len(args), kwargs)
    self._selected: list[Any] = []

  def prepare(self) -> tuple[list[Any], dict[str, Any], list[Any]]:
    args, kwargs = list(self._args), dict(self._kwargs)
    self._selected, sources = _args.take_sources(args, kwargs, self._keys)
    return args, kwargs, sources

  def gradients(self, flat: list[Any]) -> list[Any]:
    return list(_nest.pack(self._selected, flat))


def _selector(
  f: Callable[..., Any], params: Any, api: str
) -> _args.ParamSelector:
  """Checks `f` and `params` once, when `f` is transformed."""
  _errors.check_callable(f, api)
  return _args.ParamSelector(f, params, api)


def _summary(
  f: Callable[..., Any], api: str, computes: str, returns: str
) -> str:
  """The head of a transformed function's docstring."""
  name = _errors.function_name(f)
  return (
    f'{computes.format(f=name)}\n\nReturned by '
    f'`tfgradtools.eager.{api}({name})`: {returns.format(f=name)}'
  )


@_autograph.library_function
def make_vjp(
  f: Callable[..., Any],
  params: Sequence[str] | Sequence[int] | None = None,
  persistent: bool = True,
  *,
  use_gradient_tape: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Callable[..., tuple[Any, Callable[..., list[Any]]]]:
  """Returns a function computing `f` and its vector-Jacobian product.

  #### Examples

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
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`.
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
  selector = _selector(f, params, api)
  scope = name or api

  @_autograph.library_function
  def value_and_vjp(
    *args: Any, **kwargs: Any
  ) -> tuple[Any, Callable[..., list[Any]]]:
    call = _Call(selector, args, kwargs)
    recorded = _core.record(
      f,
      call.prepare,
      api=api,
      name=scope,
      use_gradient_tape=use_gradient_tape,
      persistent=persistent,
    )

    @_autograph.library_function
    def vjp(dy: Any = None) -> list[Any]:
      """Gradients of `sum(dy * value)`, one per selected parameter."""
      return call.gradients(
        recorded.vjp(dy, unconnected=unconnected, arg_name='dy')
      )

    return recorded.value, vjp

  return _wrap.transformed(
    value_and_vjp,
    f,
    _summary(
      f,
      api,
      f'Computes `{{f}}` and a function for its vector-Jacobian '
      f'products with respect to {selector.describe()}.',
      'takes `{f}`\'s arguments and returns `({f}(...), vjp)`, where '
      '`vjp(dy=None)` returns the gradients of `sum(dy * value)`, one per '
      'selected parameter, each structured like its argument.',
    ),
  )


@_autograph.library_function
def value_and_gradients_function(
  f: Callable[..., Any],
  params: Sequence[str] | Sequence[int] | None = None,
  *,
  use_gradient_tape: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Callable[..., tuple[Any, list[Any]]]:
  """Returns a function that computes `f` and its gradients.

  #### Examples

      >>> import tfgradtools.eager as tfe
      >>> def f(x, y):
      ...   return x * x * x * y - x * y * y
      >>> value, (dx, dy) = tfe.value_and_gradients_function(f)(2., 3.)
      >>> float(value), float(dx), float(dy)
      (6.0, 27.0, -4.0)
      >>> g = tfe.value_and_gradients_function(f, params=['y'])
      >>> value, (dy,) = g(2., 3.)
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
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`.
      Default value: `'none'`.

  Returns:
    A function `g(*args, dy=None, **kwargs)` returning
    `(f(*args, **kwargs), [gradient for each selected parameter])`.

  Raises:
    TypeError: `f` is not callable.
    ValueError: `params` mixes names and positions or names no parameter.
  """
  api = 'value_and_gradients_function'
  value_and_gradients, selector = _value_and_gradients_function(
    f,
    params,
    api=api,
    name=name,
    use_gradient_tape=use_gradient_tape,
    unconnected_gradients=unconnected_gradients,
  )
  return _wrap.transformed(
    value_and_gradients,
    f,
    _summary(
      f,
      api,
      f'Computes `{{f}}` and its gradients with respect to '
      f'{selector.describe()}.',
      _RETURNS.format(what='`({f}(...), gradients)`'),
    ),
    ['dy'],
  )


_RETURNS = (
  'takes `{{f}}`\'s arguments, plus the keyword-only `dy` (weights '
  'of the parts of `{{f}}`\'s value, the vector of the '
  'vector-Jacobian product; default ones), and returns {what}: a '
  'list with one gradient per selected parameter, each structured '
  'like its argument.'
)


def _value_and_gradients_function(
  f: Callable[..., Any],
  params: Sequence[str] | Sequence[int] | None,
  *,
  api: str,
  name: str | None,
  use_gradient_tape: bool,
  unconnected_gradients: str | tf.UnconnectedGradients,
) -> tuple[Callable[..., tuple[Any, list[Any]]], _args.ParamSelector]:
  """The transformer both gradient functions are: the value and gradients."""
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  selector = _selector(f, params, api)
  scope = name or api

  @_autograph.library_function
  def value_and_gradients(
    *args: Any, dy: Any = None, **kwargs: Any
  ) -> tuple[Any, list[Any]]:
    call = _Call(selector, args, kwargs)
    recorded, grads = _core.differentiate(
      f,
      call.prepare,
      api=api,
      name=scope,
      use_gradient_tape=use_gradient_tape,
      cotangent=dy,
      unconnected=unconnected,
      arg_name='dy',
    )
    return recorded.value, call.gradients(grads)

  return value_and_gradients, selector


@_autograph.library_function
def gradients_function(
  f: Callable[..., Any],
  params: Sequence[str] | Sequence[int] | None = None,
  *,
  use_gradient_tape: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Callable[..., list[Any]]:
  """Returns a function that computes the gradients of `f`.

  As `value_and_gradients_function`, without the value. It composes: the
  gradient of a gradient is the second derivative.

  #### Examples

      >>> import tfgradtools.eager as tfe
      >>> def f(x, y):
      ...   return x * x * x * y - x * y * y
      >>> grad_fn = tfe.gradients_function(f)
      >>> [float(g) for g in grad_fn(2., 3.)]
      [27.0, -4.0]
      >>> d2f_dx2 = tfe.gradients_function(lambda x, y: grad_fn(x, y)[0])
      >>> float(d2f_dx2(2., 3.)[0])
      36.0

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
      Default value: `None` (i.e. `'gradients_function'`).
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`.
      Default value: `'none'`.

  Returns:
    A function `g(*args, dy=None, **kwargs)` returning the list of
    gradients of `f(*args, **kwargs)`, one per selected parameter.

  Raises:
    TypeError: `f` is not callable.
    ValueError: `params` mixes names and positions or names no parameter.
  """
  api = 'gradients_function'
  value_and_gradients, selector = _value_and_gradients_function(
    f,
    params,
    api=api,
    name=name,
    use_gradient_tape=use_gradient_tape,
    unconnected_gradients=unconnected_gradients,
  )

  @_autograph.library_function
  def gradients(*args: Any, dy: Any = None, **kwargs: Any) -> list[Any]:
    return value_and_gradients(*args, dy=dy, **kwargs)[1]

  return _wrap.transformed(
    gradients,
    f,
    _summary(
      f,
      api,
      f'Computes the gradients of `{{f}}` with respect to '
      f'{selector.describe()}.',
      _RETURNS.format(what='the gradients'),
    ),
    ['dy'],
  )


@_autograph.library_function
def implicit_value_and_gradients(
  f: Callable[..., Any],
  *,
  use_gradient_tape: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Callable[..., tuple[Any, list[tuple[Any, Any]]]]:
  """Returns a function computing `f` and its gradients w.r.t. variables.

  The gradients are with respect to every trainable variable `f` reads, in
  creation order, paired with the variable itself — the Keras 3 variable
  where `f` reads one, so the pairs go straight to an optimizer's
  `apply_gradients`. Only a tape can discover the variables, so one is used
  in every regime (`use_gradient_tape` is accepted for symmetry).

  #### Examples

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
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`.
      Default value: `'none'`.

  Returns:
    A function `g(*args, **kwargs)` returning
    `(f(*args, **kwargs), [(gradient, variable), ...])`.

  Raises:
    TypeError: `f` is not callable.
    ValueError: when the returned function is called, if `f` read no
      trainable variable.
  """
  del use_gradient_tape  # Discovering variables needs a tape in any regime.
  api = 'implicit_value_and_gradients'
  value_and_gradients = _implicit_value_and_gradients(
    f, api=api, name=name, unconnected_gradients=unconnected_gradients
  )
  return _wrap.transformed(
    value_and_gradients,
    f,
    _summary(
      f,
      api,
      _IMPLICIT.format(what='`{f}` and its gradients'),
      _PAIRS.format(what='`({f}(...), [(gradient, variable), ...])`'),
    ),
  )


def _implicit_value_and_gradients(
  f: Callable[..., Any],
  *,
  api: str,
  name: str | None,
  unconnected_gradients: str | tf.UnconnectedGradients,
) -> Callable[..., tuple[Any, list[tuple[Any, Any]]]]:
  """The transformer both implicit functions are: value and (grad, var)s."""
  _errors.check_callable(f, api)
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  scope = name or api

  @_autograph.library_function
  def value_and_gradients(
    *args: Any, **kwargs: Any
  ) -> tuple[Any, list[tuple[Any, Any]]]:
    recorded, grads = _core.differentiate(
      f,
      lambda: (args, kwargs, None),
      api=api,
      name=scope,
      unconnected=unconnected,
    )
    return recorded.value, list(zip(grads, recorded.sources, strict=True))

  return value_and_gradients


_IMPLICIT = (
  'Computes {what} with respect to the trainable variables `{{f}}` reads.'
)
_PAIRS = (
  'takes `{{f}}`\'s arguments and returns {what}, with '
  '`[(gradient, variable), ...]` in the variables\' creation order.'
)


@_autograph.library_function
def implicit_gradients(
  f: Callable[..., Any],
  *,
  use_gradient_tape: bool = False,
  name: str | None = None,
  unconnected_gradients: str | tf.UnconnectedGradients = 'none',
) -> Callable[..., list[tuple[Any, Any]]]:
  """Returns a function computing the gradients of `f` w.r.t. variables.

  As `implicit_value_and_gradients`, without the value.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.eager as tfe
      >>> w = tf.Variable(3.)
      >>> [(float(g), v is w) for g, v in tfe.implicit_gradients(
      ...     lambda: w * w)()]
      [(6.0, True)]

  Args:
    f: the function to differentiate.
    use_gradient_tape: accepted for symmetry; a tape is always used.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'implicit_gradients'`).
    unconnected_gradients: `'none'`, `'zero'`, `'raise'` or a
      `tf.UnconnectedGradients`.
      Default value: `'none'`.

  Returns:
    A function `g(*args, **kwargs)` returning
    `[(gradient, variable), ...]` for the trainable variables `f` reads.

  Raises:
    TypeError: `f` is not callable.
    ValueError: when the returned function is called, if `f` read no
      trainable variable.
  """
  del use_gradient_tape  # Discovering variables needs a tape in any regime.
  api = 'implicit_gradients'
  value_and_gradients = _implicit_value_and_gradients(
    f, api=api, name=name, unconnected_gradients=unconnected_gradients
  )

  @_autograph.library_function
  def gradients(*args: Any, **kwargs: Any) -> list[tuple[Any, Any]]:
    return value_and_gradients(*args, **kwargs)[1]

  return _wrap.transformed(
    gradients,
    f,
    _summary(
      f,
      api,
      _IMPLICIT.format(what='the gradients of `{f}`'),
      _PAIRS.format(what='`[(gradient, variable), ...]`'),
    ),
  )
