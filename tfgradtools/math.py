"""Drop-in replacements for the gradient functions of `tfp.math`, and more.

`import tfgradtools.math as tfm` runs code written for
`tfp.math.value_and_gradient` and friends unchanged, without TensorFlow
Probability, in every execution regime (eager, `tf.function`, XLA, TF1 graphs
and `tf.distribute` replicas). Beyond `tfp.math`: full Jacobians, Hessians,
Jacobian- and Hessian-vector products, `flat_objective` for optimizers that
want one flat vector, and per-example gradients, their norms and DP-SGD's
clipped aggregate; and `explain_gradients`, which says why a gradient is
`None` or not finite (`unconnected_gradients='raise'` raises that
explanation as a `DisconnectedGradientError`).

Each name lives in a private module of its own idea: gradients
(`_gradients`), Jacobians (`_jacobians`), second order (`_second_order`),
forward mode (`_jvp`), flat vectors (`_flat`), per-example gradients
(`_per_example`) and the diagnosis (`_diagnosis`), all on tfp.math's
calling conventions (`_calls`, and `f(params, *inputs)` for per-example
gradients) over the dispatch core.
"""

from tfgradtools._diagnosis._explain import explain_gradients
from tfgradtools._diagnosis._report import DisconnectedGradientError
from tfgradtools._diagnosis._report import GradientReport
from tfgradtools._flat import FlatObjective
from tfgradtools._flat import flat_objective
from tfgradtools._gradients import value_and_gradient
from tfgradtools._gradients import value_and_gradient_with_auto_expansion
from tfgradtools._jacobians import batch_jacobian
from tfgradtools._jacobians import jacobian
from tfgradtools._jacobians import value_and_batch_jacobian
from tfgradtools._jacobians import value_and_jacobian
from tfgradtools._jvp import jvp
from tfgradtools._jvp import value_and_jvp
from tfgradtools._per_example import VectorizationFallbackWarning
from tfgradtools._per_example import clipped_gradients
from tfgradtools._per_example import per_example_gradient_norms
from tfgradtools._per_example import per_example_gradients
from tfgradtools._per_example import value_and_clipped_gradients
from tfgradtools._per_example import value_and_per_example_gradient_norms
from tfgradtools._per_example import value_and_per_example_gradients
from tfgradtools._second_order import hessian
from tfgradtools._second_order import hvp
from tfgradtools._second_order import value_and_hessian
from tfgradtools._second_order import value_and_hvp

__all__ = [
  'DisconnectedGradientError',
  'FlatObjective',
  'GradientReport',
  'VectorizationFallbackWarning',
  'batch_jacobian',
  'clipped_gradients',
  'explain_gradients',
  'flat_objective',
  'hessian',
  'hvp',
  'jacobian',
  'jvp',
  'per_example_gradient_norms',
  'per_example_gradients',
  'value_and_batch_jacobian',
  'value_and_clipped_gradients',
  'value_and_gradient',
  'value_and_gradient_with_auto_expansion',
  'value_and_hessian',
  'value_and_hvp',
  'value_and_jacobian',
  'value_and_jvp',
  'value_and_per_example_gradient_norms',
  'value_and_per_example_gradients',
]
