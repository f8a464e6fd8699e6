"""Per-example gradients, their norms and DP-SGD's clipped aggregate.

One feature in five parts: the public functions (`api`), one call's
function, parameters and batch, checked, with the body that differentiates
one example (`batch`), mapping that body over the examples, vectorised or
in a loop, in chunks (`mapping`), norms without per-example gradients
(`ghost`), and DP-SGD's clipping and noise (`clipping`).
"""

from tfgradtools._per_example.api import clipped_gradients as clipped_gradients
from tfgradtools._per_example.api import (
  per_example_gradient_norms as per_example_gradient_norms,
)
from tfgradtools._per_example.api import (
  per_example_gradients as per_example_gradients,
)
from tfgradtools._per_example.api import (
  value_and_clipped_gradients as value_and_clipped_gradients,
)
from tfgradtools._per_example.api import (
  value_and_per_example_gradient_norms as value_and_per_example_gradient_norms,
)
from tfgradtools._per_example.api import (
  value_and_per_example_gradients as value_and_per_example_gradients,
)
from tfgradtools._per_example.mapping import (
  VectorizationFallbackWarning as VectorizationFallbackWarning,
)
