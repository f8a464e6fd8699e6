"""Public signatures and their docstrings agree.

Every public function documents each of its parameters, in order, in an
`Args:` section that griffe's Google-style parser (what the reference pages
use) reads; and each `value_and_X` / `X` pair of a facade takes the same
parameters, with the same defaults, documented in the same words (but for
the default name scope, which is each function's own name).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

import griffe
import pytest

import tfgradtools.eager
import tfgradtools.math

FACADES = (tfgradtools.math, tfgradtools.eager)

FUNCTIONS = sorted(
  (facade.__name__, name)
  for facade in FACADES
  for name in facade.__all__
  if inspect.isfunction(getattr(facade, name))
)
# The public methods of the public classes, as (class, method).
METHODS = sorted(
  (
    (cls, name)
    for facade in FACADES
    for cls in (getattr(facade, n) for n in facade.__all__)
    if inspect.isclass(cls)
    for name, member in vars(cls).items()
    if not name.startswith('_')
    and (inspect.isfunction(member) or isinstance(member, staticmethod))
  ),
  key=lambda method: (method[0].__name__, method[1]),
)
PAIRS = sorted(
  (facade.__name__, name, name.replace('value_and_', '', 1))
  for facade in FACADES
  for name in facade.__all__
  if 'value_and_' in name
  and name.replace('value_and_', '', 1) in facade.__all__
)


def _function(module: str, name: str) -> Callable[..., Any]:
  return getattr(next(f for f in FACADES if f.__name__ == module), name)


def _documented(fn: Callable[..., Any]) -> dict[str, str]:
  """Each parameter of `fn`'s `Args:` section and its description."""
  docstring = griffe.Docstring(inspect.getdoc(fn) or '', parser='google')
  logger = logging.getLogger('griffe')
  level = logger.level
  logger.setLevel(logging.ERROR)  # Griffe warns of untyped parameters.
  try:
    sections = docstring.parse()
  finally:
    logger.setLevel(level)
  return {
    parameter.name.lstrip('*'): parameter.description
    for section in sections
    if section.kind is griffe.DocstringSectionKind.parameters
    for parameter in section.value
  }


def test_the_pairs_are_found():
  assert ('tfgradtools.math', 'value_and_hvp', 'hvp') in PAIRS
  assert (
    'tfgradtools.eager',
    'implicit_value_and_gradients',
    'implicit_gradients',
  ) in PAIRS
  assert len(PAIRS) >= 10


@pytest.mark.parametrize(
  'module, name', FUNCTIONS, ids=[f'{m}.{n}' for m, n in FUNCTIONS]
)
def test_every_parameter_is_documented(module, name):
  fn = _function(module, name)
  parameters = list(inspect.signature(fn).parameters)
  documented = list(_documented(fn))
  assert documented == parameters, (
    f'{module}.{name}: its Args: section documents {documented}, its '
    f'signature has {parameters}'
  )
  for parameter, description in _documented(fn).items():
    assert description.strip(), f'{module}.{name}: {parameter} undescribed'


@pytest.mark.parametrize(
  'cls, name', METHODS, ids=[f'{c.__name__}.{n}' for c, n in METHODS]
)
def test_every_parameter_of_a_public_method_is_documented(cls, name):
  method = getattr(cls, name)
  parameters = [p for p in inspect.signature(method).parameters if p != 'self']
  documented = list(_documented(method))
  assert documented == parameters, (
    f'{cls.__name__}.{name}: its Args: section documents {documented}, its '
    f'signature has {parameters}'
  )


@pytest.mark.parametrize(
  'module, value_and, without', PAIRS, ids=[f'{m}.{w}' for m, _, w in PAIRS]
)
def test_pairs_agree(module, value_and, without):
  first, second = _function(module, value_and), _function(module, without)
  parameters = [
    (p.name, p.kind, p.default, p.annotation)
    for p in inspect.signature(first).parameters.values()
  ]
  assert parameters == [
    (p.name, p.kind, p.default, p.annotation)
    for p in inspect.signature(second).parameters.values()
  ], f'{without} takes other parameters than {value_and}'
  own_name = {
    k: v.replace(f"'{value_and}'", f"'{without}'")
    for k, v in _documented(first).items()
  }
  assert _documented(second) == own_name, (
    f'{without} documents its arguments otherwise than {value_and}'
  )
