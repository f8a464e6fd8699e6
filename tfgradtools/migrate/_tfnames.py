"""Whether the installed TensorFlow has a name, and what to use if not.

TensorFlow builds its namespace when it is imported (lazy Keras modules,
module wrappers that raise for names Keras 3 dropped), so names are looked
up in the imported package itself: exact, and only done when TensorFlow is
imported anyway (`--tf-upgrade-v2`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util

from tfgradtools.migrate import _names


@functools.cache
def check(path: str) -> str | None:
  """What to do about `path` (`tensorflow.layers.Dense`), None if it exists.

  Example:

  >>> check('tensorflow.random.normal') is None
  True
  >>> print(check('tensorflow.random_normal'))  # doctest: +ELLIPSIS
  not in TensorFlow 2...; use tf.random.normal
  """
  package = _NEEDS.get(path)
  if package and importlib.util.find_spec(package) is None:
    return (f'needs the {package} package, which is not installed: '
            f'python -m pip install {package}')
  if exists(path):
    return None
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  missing = f'not in TensorFlow {tf.__version__}'
  name = 'tf' + path[len(_names.TENSORFLOW):]
  layer = _names.TF_LAYER_FUNCTIONS.get(name[len('tf.layers.'):])
  if name.startswith('tf.layers.') and layer:
    return (f'{missing}, and TF2 has no such function: create '
            f'tf.keras.layers.{layer}(...) once (it holds the variables) and '
            'call it on the inputs')
  target = _known_equivalent(name)
  if target is None:
    return f'{missing}; no known equivalent, rewrite it by hand'
  if not exists(_names.TENSORFLOW + target[2:].split('(')[0]):
    return (f'{missing}, nor is {target.split("(")[0]}, its TF2 name; no '
            'equivalent, rewrite it by hand')
  return f'{missing}; use {target}'


def exists(path: str) -> bool:
  """Whether `path` names something usable: an attribute chain from
  `tensorflow`, or an importable module. Anything that fails otherwise than
  with an `AttributeError` or `ImportError` is taken to exist (it is not a
  missing name)."""
  if path.startswith(_KERAS_LEGACY_OPTIMIZERS) and _keras_3():
    return False   # Placeholders that raise when constructed.
  try:
    _attribute(path)
    return True
  except (AttributeError, ImportError):
    pass
  except Exception:  # pylint: disable=broad-except
    return True
  module, _, name = path.rpartition('.')
  try:
    if importlib.util.find_spec(path) is not None:
      return True
    return bool(module) and hasattr(importlib.import_module(module), name)
  except ImportError:
    return False
  except Exception:  # pylint: disable=broad-except
    return True


# Names TensorFlow has, whose implementation is in another package.
_NEEDS = {f'tensorflow.summary.{name}': 'tensorboard'
          for name in ('audio', 'histogram', 'image', 'scalar', 'text')}
_KERAS_LEGACY_OPTIMIZERS = 'tensorflow.keras.optimizers.legacy.'


@functools.cache
def _keras_3() -> bool:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return getattr(tf.keras, '__version__', '3').startswith('3')


def _attribute(path: str):
  value = importlib.import_module(_names.TENSORFLOW)
  for part in path.split('.')[1:]:
    value = getattr(value, part)
  return value


def _known_equivalent(name: str) -> str | None:
  """The TF2 spelling of `name` (`tf.`-rooted): this command's own
  mappings first, then those of tf_upgrade_v2 (prefixes too)."""
  for table in (_names.TF_EQUIVALENTS, _upgrade_renames()):
    parts = name.split('.')
    for end in range(len(parts), 1, -1):
      prefix = '.'.join(parts[:end])
      if prefix in table:
        return table[prefix] + name[len(prefix):]
  return None


@functools.cache
def _upgrade_renames() -> dict[str, str]:
  # pylint: disable=g-import-not-at-top
  from tensorflow.tools.compatibility import all_renames_v2
  return dict(all_renames_v2.symbol_renames)
