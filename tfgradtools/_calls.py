"""tfp.math's calling conventions, over the dispatch core.

`MathCall` unpacks packed arguments, converts them inside the core's name
scope and mirrors their structure in the derivatives; `value_and_derivative`
and `value_and_product` are the drivers every `tfgradtools.math` function
is a few lines over.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _core
from tfgradtools import _errors
from tfgradtools import _nest

_T = TypeVar('_T')


def without_value(result: tuple[Any, ...], has_aux: bool) -> Any:
  """`(y, d...)` or `((y, aux), d...)` without `y`: `d` or `(d, aux)`."""
  derivative = result[1] if len(result) == 2 else result[1:]
  return (derivative, result[0][1]) if has_aux else derivative


class MathCall:
  """tfp.math's calling conventions for one call.

  It unpacks packed arguments, converts them inside the core's name scope
  (`prepare`), and mirrors the arguments' structure in the derivatives
  (`derivatives`).
  """

  def __init__(
    self,
    f: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    api: str,
    auto_unpack_single_arg: bool,
    expand_modules: bool = False,
  ) -> None:
    _errors.check_callable(f, api)
    args, kwargs = _args.legacy_xs(f, args, kwargs)
    if not args and not kwargs:
      raise _errors.no_arguments(api)
    packed = args[0] if args else None
    call_args, self.unpacked = _args.unpack_packed_args(
      args, kwargs, auto_unpack_single_arg
    )
    self.f = f
    self.api = api
    self.packed_kind = type(packed).__name__
    self.structure = (call_args, kwargs)
    self.expand_modules = expand_modules
    self.bases: list[Any] = []

  def prepare(self) -> tuple[Any, dict[str, Any], list[Any]]:
    """Converted arguments for `f`, and the flat sources."""
    leaves = [_args.to_math_source(x) for x in _nest.flatten(self.structure)]
    self.bases = (
      [_args.expand_to_trainable_variables(x) for x in leaves]
      if self.expand_modules
      else leaves
    )
    sources = _nest.flatten(self.bases)
    if not _args.takes_arguments(self.f):
      return (), {}, sources
    return (*_nest.pack(self.structure, leaves), sources)

  def flat_like_sources(self, values: Any, what: str) -> list[Any]:
    """`values`, structured like the arguments, as a flat list."""
    args, kwargs = self.structure
    try:
      tf.nest.assert_same_structure((args, kwargs), values, check_types=False)
    except (ValueError, TypeError):
      raise _errors.mismatched_tangents(
        what, _nest.flatten(self.structure), _nest.flatten(values)
      ) from None
    return _nest.flatten(values)

  def derivatives(self, flat: list[Any]) -> tuple[Any, ...]:
    """`flat` (one entry per source) structured like the arguments."""
    args, kwargs = self.structure
    d_args, d_kwargs = _nest.pack(self.structure, _nest.pack(self.bases, flat))
    if not self.unpacked:
      d_args = d_args[0] if len(args) == 1 else list(d_args)
    return ((d_args,) if args else ()) + ((d_kwargs,) if kwargs else ())

  def run(self, differentiate: Callable[[], _T]) -> _T:
    """`differentiate()`, explaining a failed call of unpacked arguments."""
    try:
      return differentiate()
    except TypeError as error:
      args = self.structure[0]
      if (
        self.unpacked
        and _args.takes_arguments(self.f)
        and not (_args.accepts_positional(self.f, len(args)))
      ):
        raise _errors.unpacked_mismatch(
          self.api, self.f, len(args), self.packed_kind
        ) from error
      raise

  def result(
    self, value: Any, aux: Any, has_aux: bool, flat: list[Any]
  ) -> tuple[Any, ...]:
    head = ((value, aux),) if has_aux else (value,)
    return head + self.derivatives(flat)


def value_and_derivative(
  f: Callable[..., Any],
  args: tuple[Any, ...],
  kwargs: dict[str, Any],
  *,
  api: str,
  name: str,
  expand_modules: bool,
  output_gradients: Any,
  use_gradient_tape: bool,
  auto_unpack_single_arg: bool,
  has_aux: bool,
  unconnected_gradients: str | tf.UnconnectedGradients,
  derivative: _core.Derivative,
  use_pfor: bool = True,
  parallel_iterations: int | None = None,
) -> tuple[Any, ...]:
  """The driver of gradients, Jacobians and Hessians.

  `derivative` is `_core.differentiate`'s kind; the result is `(y, d...)`
  with the derivatives structured like the arguments (twice for a kind with
  one derivative per pair of sources, the Hessian).
  """
  call = MathCall(
    f,
    args,
    kwargs,
    api=api,
    auto_unpack_single_arg=auto_unpack_single_arg,
    expand_modules=expand_modules,
  )
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  recorded, flat = call.run(
    lambda: _core.differentiate(
      f,
      call.prepare,
      api=api,
      name=name,
      use_gradient_tape=use_gradient_tape,
      has_aux=has_aux,
      cotangent=output_gradients,
      unconnected=unconnected,
      derivative=derivative,
      use_pfor=use_pfor,
      parallel_iterations=parallel_iterations,
    )
  )
  if derivative.per_pair:
    flat = [call.derivatives(row) for row in flat]
    flat = [row[0] if len(row) == 1 else row for row in flat]
  return call.result(recorded.value, recorded.aux, has_aux, flat)


def value_and_product(
  product: Callable[..., tuple[Any, Any, list[Any]]],
  f: Callable[..., Any],
  primals: Any,
  tangents: Any,
  *,
  api: str,
  name: str,
  auto_unpack_single_arg: bool,
  has_aux: bool,
  unconnected_gradients: str | tf.UnconnectedGradients,
  **options: Any,
) -> tuple[Any, Any]:
  """The driver of `_core.jvp` and `_core.hvp` (`product`), with `options`.

  `primals` is what `value_and_gradient`'s one argument would be; the
  result is `(y, jvp)`, the JVP structured like `f`'s value, or `(y, hvp)`,
  the HVP structured like `primals`.
  """
  call = MathCall(
    f, (primals,), {}, api=api, auto_unpack_single_arg=auto_unpack_single_arg
  )
  unpacked_tangents, _ = _args.unpack_packed_args(
    (tangents,), {}, auto_unpack_single_arg and call.unpacked
  )
  flat_tangents = call.flat_like_sources((unpacked_tangents, {}), api)
  unconnected = _args.as_unconnected_gradients(unconnected_gradients)
  value, aux, flat = call.run(
    lambda: product(
      f,
      call.prepare,
      flat_tangents,
      api=api,
      name=name,
      has_aux=has_aux,
      unconnected=unconnected,
      **options,
    )
  )
  derivative = (
    _nest.pack(value, flat)
    if product is _core.jvp
    else call.derivatives(flat)[0]
  )
  return ((value, aux) if has_aux else value), derivative
