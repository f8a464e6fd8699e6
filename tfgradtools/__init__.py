"""Values and gradients of Python functions on TensorFlow 2.

The gradient helpers of `tfp.math` (`tfgradtools.math`) and of TF 1.x
`tf.contrib.eager` (`tfgradtools.eager`), on one dispatch core that runs in
every execution regime: eager, `tf.function` (also with XLA), TF1 graphs and
`tf.distribute` replicas.
"""

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
from tfgradtools.math import FlatObjective as FlatObjective
from tfgradtools.math import batch_jacobian as batch_jacobian
from tfgradtools.math import flat_objective as flat_objective
from tfgradtools.math import hessian as hessian
from tfgradtools.math import hvp as hvp
from tfgradtools.math import jacobian as jacobian
from tfgradtools.math import jvp as jvp
from tfgradtools.math import value_and_batch_jacobian as value_and_batch_jacobian
from tfgradtools.math import value_and_gradient as value_and_gradient
from tfgradtools.math import (
    value_and_gradient_with_auto_expansion as
    value_and_gradient_with_auto_expansion)
from tfgradtools.math import value_and_hessian as value_and_hessian
from tfgradtools.math import value_and_hvp as value_and_hvp
from tfgradtools.math import value_and_jacobian as value_and_jacobian
from tfgradtools.math import value_and_jvp as value_and_jvp

__version__ = '0.1.0'

__all__ = [
    'FlatObjective',
    'VariableNotFoundWarning',
    'batch_jacobian',
    'eager',
    'flat_objective',
    'gradients_function',
    'hessian',
    'hvp',
    'implicit_gradients',
    'implicit_value_and_gradients',
    'jacobian',
    'jvp',
    'make_vjp',
    'math',
    'value_and_batch_jacobian',
    'value_and_gradient',
    'value_and_gradient_with_auto_expansion',
    'value_and_gradients_function',
    'value_and_hessian',
    'value_and_hvp',
    'value_and_jacobian',
    'value_and_jvp',
]
