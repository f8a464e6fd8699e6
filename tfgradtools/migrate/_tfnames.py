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
  removed = _names.removed_module(path)
  if removed:
    return removed
  package = _NEEDS.get(path)
  if package and importlib.util.find_spec(package) is None:
    return (
      f'needs the {package} package, which is not installed: '
      f'python -m pip install {package}'
    )
  if exists(path):
    return None
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  missing = f'not in TensorFlow {tf.__version__}'
  name = 'tf' + path[len(_names.TENSORFLOW) :]
  keras = KERAS_2_ONLY.get(path) or KERAS_2_ONLY.get(
    _names.TENSORFLOW + (_known_equivalent(name) or 'tf')[2:]
  )
  if keras and _keras_3():
    return (
      f'raises with Keras 3 (TF 1.x RNN cells are Keras 2 layers); use {keras}'
    )
  layer = _names.TF_LAYER_FUNCTIONS.get(name[len('tf.layers.') :])
  if name.startswith('tf.layers.') and layer:
    return (
      f'{missing}, and TF2 has no such function: create '
      f'tf.keras.layers.{layer}(...) once (it holds the variables) and '
      'call it on the inputs'
    )
  target = _known_equivalent(name)
  if target is None:
    return f'{missing}; no known equivalent, rewrite it by hand'
  if not exists(_names.TENSORFLOW + target[2:].split('(')[0]):
    return (
      f'{missing}, nor is {target.split("(")[0]}, its TF2 name; no '
      'equivalent, rewrite it by hand'
    )
  return f'{missing}; use {target}'


def exists(path: str) -> bool:
  """Whether `path` names something usable: an attribute chain from
  `tensorflow`, or an importable module. Anything that fails otherwise than
  with an `AttributeError` or `ImportError` is taken to exist (it is not a
  missing name)."""
  if (
    path.startswith(_KERAS_LEGACY_OPTIMIZERS) or path in KERAS_2_ONLY
  ) and _keras_3():
    return False  # Placeholders that raise when used.
  try:
    attribute(path)
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
_NEEDS = {
  f'tensorflow.summary.{name}': 'tensorboard'
  for name in ('audio', 'histogram', 'image', 'scalar', 'text')
}
_KERAS_LEGACY_OPTIMIZERS = 'tensorflow.keras.optimizers.legacy.'
_CELLS = 'tensorflow.compat.v1.nn.rnn_cell.'
_STATE = (
  ', which returns its state as a list [h, c], not an LSTMStateTuple (c, h)'
)
# Names TensorFlow 2 has that raise when used with Keras 3 (TF 1.x's RNN
# cells are Keras 2 layers; whether the name itself resolves depends on what
# else was imported), and what to use instead. Checked against the installed
# TensorFlow by the tests.
KERAS_2_ONLY = {
  _CELLS + 'BasicLSTMCell': 'tf.keras.layers.LSTMCell(units)'
  + _STATE
  + ' (forget_bias=1.0 is unit_forget_bias=True)',
  _CELLS + 'LSTMCell': 'tf.keras.layers.LSTMCell(units)' + _STATE,
  _CELLS + 'LSTMStateTuple': 'the [h, c] list of tf.keras.layers.LSTMCell',
  _CELLS + 'GRUCell': 'tf.keras.layers.GRUCell(units)',
  _CELLS + 'BasicRNNCell': 'tf.keras.layers.SimpleRNNCell(units)',
  _CELLS + 'RNNCell': 'a tf.keras.layers.Layer with state_size and call('
  'inputs, states)',
  _CELLS + 'MultiRNNCell': 'tf.keras.layers.StackedRNNCells(cells)',
  _CELLS + 'DropoutWrapper': 'the dropout= and recurrent_dropout= arguments '
  'of the Keras cell',
  _CELLS + 'ResidualWrapper': 'a Keras cell whose call adds its inputs',
  _CELLS + 'DeviceWrapper': 'a Keras cell called under `with tf.device(...)`',
  'tensorflow.compat.v1.nn.dynamic_rnn': (
    'tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)'
    '(inputs)'
  ),
  'tensorflow.compat.v1.nn.static_rnn': (
    'tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)'
    '(tf.stack(inputs, axis=1))'
  ),
}


@functools.cache
def _keras_3() -> bool:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return getattr(tf.keras, '__version__', '3').startswith('3')


def attribute(path: str) -> object:
  """What `path` (`tensorflow.nn.relu`) names in the installed TensorFlow."""
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
        return table[prefix] + name[len(prefix) :]
  return None


@functools.cache
def _upgrade_renames() -> dict[str, str]:
  # pylint: disable=g-import-not-at-top
  from tensorflow.tools.compatibility import all_renames_v2

  return dict(all_renames_v2.symbol_renames)
