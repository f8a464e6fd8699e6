"""Values and gradients of Python functions on TensorFlow 2.

The gradient helpers of `tfp.math` (`tfgradtools.math`) and of TF 1.x
`tf.contrib.eager` (`tfgradtools.eager`), on one dispatch core that runs in
every execution regime: eager, `tf.function` (also with XLA), TF1 graphs and
`tf.distribute` replicas.

Every public name of the two facades is also a name of the package. Each
facade's `__all__` is the one list of its names: the package reads it, on
first use of a name (or of `__all__`), so that commands that do not need
TensorFlow (`python -m tfgradtools.migrate --help`) do not wait for its
import.
"""

from __future__ import annotations

import importlib
import importlib.util
import types
from typing import TYPE_CHECKING, Any

__version__ = '0.2.0'

# The public modules whose `__all__` the package re-exports.
_FACADES = ('eager', 'math')

if TYPE_CHECKING:
  from tfgradtools import eager as eager
  from tfgradtools import math as math
  from tfgradtools.eager import *  # noqa: F403
  from tfgradtools.math import *  # noqa: F403


def _facade(name: str) -> types.ModuleType:
  return importlib.import_module(f'{__name__}.{name}')


def _exports() -> dict[str, str]:
  """Each public name and the facade that defines it (imports TensorFlow)."""
  return {
    name: facade for facade in _FACADES for name in _facade(facade).__all__
  }


def __getattr__(name: str) -> Any:
  """Imports a public name's facade on first use (PEP 562)."""
  if name in _FACADES:
    return _facade(name)
  if name == '__all__':
    value: Any = sorted([*_exports(), *_FACADES])
  elif name.startswith('_') or importlib.util.find_spec(f'{__name__}.{name}'):
    # Probes for private or special names (`__path__`, `__wrapped__`) and
    # for submodules not yet imported (`from tfgradtools import migrate`
    # asks before it imports) are answered without importing TensorFlow.
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  else:
    facade = _exports().get(name)
    if facade is None:
      raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(_facade(facade), name)
  globals()[name] = value
  return value


def __dir__() -> list[str]:
  return sorted({*globals(), *__getattr__('__all__')})
