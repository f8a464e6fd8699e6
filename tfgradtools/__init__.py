"""Values and gradients of Python functions on TensorFlow 2.

The gradient helpers of `tfp.math` (`tfgradtools.math`) and of TF 1.x
`tf.contrib.eager` (`tfgradtools.eager`), on one dispatch core that runs in
every execution regime: eager, `tf.function` (also with XLA), TF1 graphs and
`tf.distribute` replicas.

The names below are imported on first use, so that commands that do not
need TensorFlow (`python -m tfgradtools.migrate --help`) do not wait for its
import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = '0.2.0'

# Each public name and the public module that defines it.
_EXPORTS = {
    'DisconnectedGradientError': 'math',
    'FlatObjective': 'math',
    'GradientReport': 'math',
    'VariableNotFoundWarning': 'eager',
    'VectorizationFallbackWarning': 'math',
    'batch_jacobian': 'math',
    'clipped_gradients': 'math',
    'explain_gradients': 'math',
    'flat_objective': 'math',
    'gradients_function': 'eager',
    'hessian': 'math',
    'hvp': 'math',
    'implicit_gradients': 'eager',
    'implicit_value_and_gradients': 'eager',
    'jacobian': 'math',
    'jvp': 'math',
    'make_vjp': 'eager',
    'per_example_gradient_norms': 'math',
    'per_example_gradients': 'math',
    'value_and_batch_jacobian': 'math',
    'value_and_clipped_gradients': 'math',
    'value_and_gradient': 'math',
    'value_and_gradient_with_auto_expansion': 'math',
    'value_and_gradients_function': 'eager',
    'value_and_hessian': 'math',
    'value_and_hvp': 'math',
    'value_and_jacobian': 'math',
    'value_and_jvp': 'math',
    'value_and_per_example_gradient_norms': 'math',
    'value_and_per_example_gradients': 'math',
}
_MODULES = ('eager', 'math')

__all__ = sorted([*_EXPORTS, *_MODULES])

if TYPE_CHECKING:
  from tfgradtools import eager as eager
  from tfgradtools import math as math
  from tfgradtools.eager import (
      VariableNotFoundWarning as VariableNotFoundWarning)
  from tfgradtools.eager import gradients_function as gradients_function
  from tfgradtools.eager import implicit_gradients as implicit_gradients
  from tfgradtools.eager import (
      implicit_value_and_gradients as implicit_value_and_gradients)
  from tfgradtools.eager import make_vjp as make_vjp
  from tfgradtools.eager import (
      value_and_gradients_function as value_and_gradients_function)
  from tfgradtools.math import (
      DisconnectedGradientError as DisconnectedGradientError)
  from tfgradtools.math import FlatObjective as FlatObjective
  from tfgradtools.math import GradientReport as GradientReport
  from tfgradtools.math import (
      VectorizationFallbackWarning as VectorizationFallbackWarning)
  from tfgradtools.math import batch_jacobian as batch_jacobian
  from tfgradtools.math import clipped_gradients as clipped_gradients
  from tfgradtools.math import explain_gradients as explain_gradients
  from tfgradtools.math import flat_objective as flat_objective
  from tfgradtools.math import hessian as hessian
  from tfgradtools.math import hvp as hvp
  from tfgradtools.math import jacobian as jacobian
  from tfgradtools.math import jvp as jvp
  from tfgradtools.math import (
      per_example_gradient_norms as per_example_gradient_norms)
  from tfgradtools.math import per_example_gradients as per_example_gradients
  from tfgradtools.math import (
      value_and_batch_jacobian as value_and_batch_jacobian)
  from tfgradtools.math import (
      value_and_clipped_gradients as value_and_clipped_gradients)
  from tfgradtools.math import value_and_gradient as value_and_gradient
  from tfgradtools.math import (
      value_and_gradient_with_auto_expansion as
      value_and_gradient_with_auto_expansion)
  from tfgradtools.math import value_and_hessian as value_and_hessian
  from tfgradtools.math import value_and_hvp as value_and_hvp
  from tfgradtools.math import value_and_jacobian as value_and_jacobian
  from tfgradtools.math import value_and_jvp as value_and_jvp
  from tfgradtools.math import (
      value_and_per_example_gradient_norms as
      value_and_per_example_gradient_norms)
  from tfgradtools.math import (
      value_and_per_example_gradients as value_and_per_example_gradients)


def __getattr__(name: str) -> Any:
  """Imports a public name's module on first use (PEP 562)."""
  if name in _MODULES:
    return importlib.import_module(f'tfgradtools.{name}')
  module = _EXPORTS.get(name)
  if module is None:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  value = getattr(importlib.import_module(f'tfgradtools.{module}'), name)
  globals()[name] = value
  return value


def __dir__() -> list[str]:
  return sorted({*globals(), *__all__})
