"""AutoGraph: the library traced as written, `f` as its caller would have it.

Inside a user's `tf.function`, AutoGraph rewrites every function it meets
unless told otherwise. Rewriting this library's own code gains nothing (it
has no Python control flow on Tensors) and costs seconds on the first trace
of every process. So each public function is a `library_function`: its body
runs unconverted, like TensorFlow's own functions. The user's `f` is another
matter: hand-written code calls it from the user's own (converted) code, so
its Python `if`s and loops on Tensors work in a `tf.function`. `call` calls
`f` as the code that called the library would have: converted where that
code was (inside a `tf.function` with AutoGraph on), as it is elsewhere
(eagerly, in TF1 graphs, with `autograph=False`) — TensorFlow's
`tf_convert` protocol for functions that take functions. A graph the library
traces for an eager call converts `f` as `tf.function` and
`tf.vectorized_map` do by default.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Any, Callable, Iterator, TypeVar, cast

import tensorflow as tf

Function = TypeVar('Function', bound=Callable[..., Any])

_autograph = getattr(getattr(tf, '__internal__', None), 'autograph', None)
# Where the outermost library function was called: its AutoGraph status,
# and whether it ran eagerly.
_caller: contextvars.ContextVar[tuple[Any, bool] | None] = (
  contextvars.ContextVar('tfgradtools_caller', default=None)
)


def as_written(function: Function) -> Function:
  """`function`, which AutoGraph leaves unconverted wherever it is called."""
  # TensorFlow's decorator is untyped: it returns `function`, wrapped.
  return cast(Function, tf.autograph.experimental.do_not_convert(function))


def library_function(function: Function) -> Function:
  """`function`, traced as written, remembering its caller's AutoGraph status.

  A library function called by another keeps the outermost caller's status.
  In a TensorFlow without the protocol, `function` is left to AutoGraph,
  which then converts `f` too.
  """
  if _autograph is None:
    return function
  body = as_written(function)

  @functools.wraps(function)
  def traced_as_written(*args: Any, **kwargs: Any) -> Any:
    if _caller.get() is not None:
      return body(*args, **kwargs)
    token = _caller.set(
      (_autograph.control_status_ctx(), tf.executing_eagerly())
    )
    try:
      return body(*args, **kwargs)
    finally:
      _caller.reset(token)

  # AutoGraph calls a function carrying its artifact marker as it is,
  # leaving the caller's status in place (where the marker is unknown, it
  # converts this small wrapper instead, which reads the same status).
  traced_as_written.autograph_info__ = None  # type: ignore[attr-defined]
  return traced_as_written  # type: ignore[return-value]


def call(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
  """`f(*args, **kwargs)`, converted by AutoGraph where the library's caller
  was, as hand-written code would have called it."""
  caller = _caller.get()
  if caller is None or _autograph is None or tf.executing_eagerly():
    return f(*args, **kwargs)
  status, caller_was_eager = caller
  return _autograph.tf_convert(f, status, convert_by_default=caller_was_eager)(
    *args, **kwargs
  )


@contextlib.contextmanager
def unconverted() -> Iterator[None]:
  """Within: `call` calls `f` unconverted, wherever it is called.

  A graph traced only to look at `f`'s ops uses it: AutoGraph's converted
  code would name its generated files, not the user's lines.
  """
  token = _caller.set(None)
  try:
    yield
  finally:
    _caller.reset(token)
