"""The public surface: names, re-exports, version, typing marker."""

from __future__ import annotations

import importlib.resources
import inspect

import tfgradtools
import tfgradtools.eager
import tfgradtools.math

MATH = ['batch_jacobian', 'hessian', 'hvp', 'jacobian', 'jvp',
        'value_and_batch_jacobian', 'value_and_gradient',
        'value_and_gradient_with_auto_expansion', 'value_and_hessian',
        'value_and_hvp', 'value_and_jacobian', 'value_and_jvp']
EAGER = ['gradients_function', 'implicit_gradients',
         'implicit_value_and_gradients', 'make_vjp',
         'value_and_gradients_function']


FLAT = ['FlatObjective', 'flat_objective']
PER_EXAMPLE = ['clipped_gradients', 'per_example_gradient_norms',
               'per_example_gradients', 'value_and_clipped_gradients',
               'value_and_per_example_gradient_norms',
               'value_and_per_example_gradients']
DIAGNOSIS = ['DisconnectedGradientError', 'GradientReport',
             'explain_gradients']


def test_module_names():
  assert sorted(tfgradtools.math.__all__) == sorted(
      MATH + FLAT + PER_EXAMPLE + DIAGNOSIS +
      ['VectorizationFallbackWarning'])
  assert sorted(tfgradtools.eager.__all__) == sorted(
      EAGER + ['VariableNotFoundWarning'])
  assert sorted(tfgradtools.__all__) == sorted(
      MATH + EAGER + FLAT + PER_EXAMPLE + DIAGNOSIS +
      ['VariableNotFoundWarning', 'VectorizationFallbackWarning', 'eager',
       'math'])
  assert issubclass(tfgradtools.VariableNotFoundWarning, UserWarning)
  assert issubclass(tfgradtools.VectorizationFallbackWarning, UserWarning)
  assert issubclass(tfgradtools.DisconnectedGradientError, ValueError)


def test_top_level_reexports_are_the_same_objects():
  for name in MATH + PER_EXAMPLE + DIAGNOSIS:
    assert getattr(tfgradtools, name) is getattr(tfgradtools.math, name)
  for name in EAGER:
    assert getattr(tfgradtools, name) is getattr(tfgradtools.eager, name)


def test_version_and_typing_marker():
  assert tfgradtools.__version__.count('.') == 2
  assert importlib.resources.files('tfgradtools').joinpath(
      'py.typed').is_file()


def test_common_keyword_only_arguments():
  for name in MATH + EAGER + PER_EXAMPLE:
    parameters = inspect.signature(getattr(tfgradtools, name)).parameters
    assert parameters['unconnected_gradients'].default == 'none'
    assert parameters['name'].default is None
  for name in EAGER:
    parameters = inspect.signature(getattr(tfgradtools, name)).parameters
    for keyword in ('use_gradient_tape', 'name', 'unconnected_gradients'):
      assert parameters[keyword].kind is inspect.Parameter.KEYWORD_ONLY


def test_math_signature_matches_tfp():
  parameters = list(inspect.signature(
      tfgradtools.math.value_and_gradient).parameters)
  assert parameters[:7] == ['f', 'args', 'output_gradients',
                            'use_gradient_tape', 'auto_unpack_single_arg',
                            'has_aux', 'name']
  assert parameters[-1] == 'kwargs'
