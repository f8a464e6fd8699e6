"""The public surface: names, re-exports, version, typing marker.

Each facade's `__all__` is the one list of its public names; the package's
names, the reference pages (tests/test_docs.py) and these checks derive from
it, and a public function must also appear in the README's API table and in
the regimes test (tests/test_eager_disabled.py).
"""

from __future__ import annotations

import importlib.resources
import inspect
import pathlib
import re
import subprocess
import sys
import types

import pytest

import test_eager_disabled
import tfgradtools
import tfgradtools.eager
import tfgradtools.math

ROOT = pathlib.Path(__file__).parent.parent
FACADES = (tfgradtools.math, tfgradtools.eager)
FUNCTIONS = sorted(
  (facade.__name__.rsplit('.', 1)[-1], name)
  for facade in FACADES
  for name in facade.__all__
  if inspect.isfunction(getattr(facade, name))
)


def test_module_names():
  names = [name for facade in FACADES for name in facade.__all__]
  assert len(names) == len(set(names)), 'a name in both facades'
  assert tfgradtools.__all__ == sorted([*names, 'eager', 'math'])
  for facade in FACADES:
    for name in facade.__all__:
      obj = getattr(facade, name)
      assert obj.__module__.startswith('tfgradtools.'), name
      if isinstance(obj, type) and issubclass(obj, Warning):
        assert issubclass(obj, UserWarning), name
  assert issubclass(tfgradtools.VariableNotFoundWarning, UserWarning)
  assert issubclass(tfgradtools.VectorizationFallbackWarning, UserWarning)
  assert issubclass(tfgradtools.DisconnectedGradientError, ValueError)


def test_top_level_reexports_are_the_same_objects():
  for facade in FACADES:
    for name in facade.__all__:
      assert getattr(tfgradtools, name) is getattr(facade, name)
  assert set(tfgradtools.__all__) <= set(dir(tfgradtools))
  with pytest.raises(AttributeError, match='no attribute'):
    _ = tfgradtools.gradient
  with pytest.raises(AttributeError, match='no attribute'):
    _ = tfgradtools._EXPORTS


def test_importing_the_package_does_not_import_tensorflow():
  # The migration command's `--help` must not wait for TensorFlow.
  completed = subprocess.run(
    [
      sys.executable,
      '-c',
      'import sys; from tfgradtools import migrate; '
      'print(sorted(m for m in sys.modules if m.startswith("tensorflow")))',
    ],
    capture_output=True,
    text=True,
    timeout=120,
    check=True,
  )
  assert completed.stdout.strip() == '[]', completed.stdout


def test_every_facade_is_a_module():
  for facade in FACADES:
    assert isinstance(facade, types.ModuleType)
    assert facade.__doc__ and facade.__all__


def _api_section() -> str:
  readme = (ROOT / 'README.md').read_text()
  return readme.split('\n## API\n', 1)[1].split('\n## ', 1)[0]


@pytest.mark.parametrize(
  'module, name', FUNCTIONS, ids=[f'{m}.{n}' for m, n in FUNCTIONS]
)
def test_every_public_function_is_listed_in_the_docs_and_regimes_test(
  module, name
):
  assert re.search(rf'`{name}[(`]', _api_section()), (
    f'the README\'s API table does not name {module}.{name}'
  )
  assert name in test_eager_disabled.CASES, (
    f'tests/test_eager_disabled.py has no row for {module}.{name}'
  )
  overview = (ROOT / 'docs' / 'reference' / 'index.md').read_text()
  assert f'[`{name}`]({module}/{name}.md)' in overview, (
    f'docs/reference/index.md does not link to {module}.{name}'
  )


def test_version_and_typing_marker():
  assert tfgradtools.__version__.count('.') == 2
  assert importlib.resources.files('tfgradtools').joinpath('py.typed').is_file()


def test_common_keyword_only_arguments():
  for module, name in FUNCTIONS:
    parameters = inspect.signature(getattr(tfgradtools, name)).parameters
    if 'unconnected_gradients' in parameters:
      assert parameters['unconnected_gradients'].default == 'none', name
    if 'name' in parameters:
      assert parameters['name'].default is None, name
    if module == 'eager':
      for keyword in ('use_gradient_tape', 'name', 'unconnected_gradients'):
        assert parameters[keyword].kind is inspect.Parameter.KEYWORD_ONLY


def test_math_signature_matches_tfp():
  parameters = list(
    inspect.signature(tfgradtools.math.value_and_gradient).parameters
  )
  assert parameters[:7] == [
    'f',
    'args',
    'output_gradients',
    'use_gradient_tape',
    'auto_unpack_single_arg',
    'has_aux',
    'name',
  ]
  assert parameters[-1] == 'kwargs'
