"""How the functions the `eager` transformers return present themselves.

As JAX's transformers do: `f`'s name and module, `__wrapped__`, a docstring
that says what the function computes followed by `f`'s own, and a signature
with `f`'s parameters plus the keyword-only ones the transformer adds
(`dy`). Unlike `functools.wraps`, nothing from `f`'s instance `__dict__` is
copied (a Keras layer has dozens of attributes).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence, TypeVar

from tfgradtools import _args
from tfgradtools import _errors

G = TypeVar('G', bound=Callable[..., Any])


def _with_keyword_only(
  signature: inspect.Signature | None, names: Sequence[str]
) -> inspect.Signature:
  """`signature` with keyword-only parameters `names` (default `None`)."""
  if signature is None:
    parameters = [
      inspect.Parameter('args', inspect.Parameter.VAR_POSITIONAL),
      inspect.Parameter('kwargs', inspect.Parameter.VAR_KEYWORD),
    ]
  else:
    parameters = list(signature.parameters.values())
  taken = {p.name for p in parameters}
  added = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
    for name in names
    if name not in taken
  ]
  if parameters and parameters[-1].kind is inspect.Parameter.VAR_KEYWORD:
    parameters[-1:-1] = added
  else:
    parameters += added
  return inspect.Signature(parameters)


def transformed(
  g: G, f: Callable[..., Any], summary: str, keyword_only: Sequence[str] = ()
) -> G:
  """Presents `g`, a function computed from `f`, as JAX's transformers do.

  Args:
    g: the function a transformer returns.
    f: the function it transforms.
    summary: what `g` computes, in a sentence or two (the docstring's head).
    keyword_only: keyword-only parameters `g` adds to `f`'s.

  Returns:
    `g`, with `__name__`, `__qualname__`, `__module__`, `__doc__`,
    `__wrapped__` and `__signature__` set.
  """
  name = _errors.function_name(f)
  g.__name__ = name
  g.__qualname__ = getattr(f, '__qualname__', name)
  g.__module__ = getattr(f, '__module__', None) or g.__module__
  own_doc = inspect.getdoc(_errors.unpartial(f))
  g.__doc__ = summary + (
    f'\n\nOriginal documentation:\n\n{own_doc}' if own_doc else ''
  )
  g.__wrapped__ = f  # type: ignore[attr-defined]
  g.__signature__ = _with_keyword_only(  # type: ignore[attr-defined]
    _args.signature_of(f), keyword_only
  )
  return g
