"""The examples in the docstrings and the README run and say what they show."""

from __future__ import annotations

import doctest
import inspect
import pathlib
import re

import pytest

import tfgradtools
import tfgradtools.eager
import tfgradtools.math

README = pathlib.Path(__file__).parent.parent / 'README.md'


@pytest.mark.parametrize('facade', [tfgradtools.math, tfgradtools.eager],
                         ids=lambda m: m.__name__)
def test_docstring_examples(facade):
  """The examples of every module that defines a facade's public names."""
  modules = {inspect.getmodule(getattr(facade, name))
             for name in facade.__all__}
  results = [doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE,
                             verbose=False) for module in modules]
  assert sum(r.attempted for r in results) >= 5
  assert sum(r.failed for r in results) == 0


@pytest.mark.parametrize('name', tfgradtools.__all__)
def test_every_public_function_has_an_example(name):
  obj = getattr(tfgradtools, name)
  if callable(obj):
    # A function without a value shows its example in its value_and_ twin.
    documented = getattr(tfgradtools, f'value_and_{name}', obj)
    assert '>>> ' in obj.__doc__ + documented.__doc__, (
        f'{name} has no runnable example')


def _python_blocks(text: str) -> list[str]:
  return re.findall(r'```python\n(.*?)```', text, flags=re.DOTALL)


def test_readme_python_examples_run():
  blocks = _python_blocks(README.read_text())
  assert blocks
  for block in blocks:
    exec(compile(block, str(README), 'exec'), {})  # pylint: disable=exec-used
