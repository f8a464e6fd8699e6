"""The migration's lists of TensorFlow names, checked against TensorFlow."""

from __future__ import annotations

import pytest
import tensorflow as tf

import helpers
from tfgradtools.migrate import _tfnames
from tfgradtools.migrate import _upgrade


@pytest.mark.slow
def test_keras_2_only_names_raise_with_keras_3():
  """Each listed name fails when a fresh program uses it (whether the name
  resolves depends on what was imported before, so not here)."""
  failed = helpers.run_in_fresh_process(f'''
      from tfgradtools.migrate import _tfnames
      inputs = tf.ones([2, 3, 4])
      uses = {{
          'dynamic_rnn': lambda f: f(tf.keras.layers.GRUCell(3), inputs,
                                     dtype=tf.float32),
          'static_rnn': lambda f: f(tf.keras.layers.GRUCell(3),
                                    tf.unstack(inputs, axis=1),
                                    dtype=tf.float32),
          'LSTMStateTuple': lambda f: f(inputs[:, 0], inputs[:, 0]),
          'MultiRNNCell': lambda f: f([tf.keras.layers.GRUCell(3)]),
          'RNNCell': lambda f: f(),
      }}
      result = []
      for path in {sorted(_tfnames.KERAS_2_ONLY)!r}:
        name = path.rpartition('.')[2]
        try:
          value = _tfnames.attribute(path)
          if 'Wrapper' in name:
            value = value(tf.keras.layers.GRUCell(3))
          else:
            value = uses.get(name, lambda f: f(3))(value)
        except (AttributeError, TypeError) as error:
          continue
        result.append(path)
  ''')
  assert failed == []


@pytest.mark.parametrize('path', sorted(_tfnames.KERAS_2_ONLY))
def test_keras_2_only_names_are_reported_with_what_replaces_them(path):
  advice = _tfnames.check(path)
  assert advice.startswith('raises with Keras 3')
  for name in (
    'LSTMCell',
    'GRUCell',
    'SimpleRNNCell',
    'StackedRNNCells',
    'RNN',
    'Layer',
  ):
    if f'tf.keras.layers.{name}(' in advice:
      assert hasattr(tf.keras.layers, name)
  old_spelling = 'tensorflow' + path[len('tensorflow.compat.v1') :]
  assert _tfnames.check(old_spelling) == advice


@pytest.mark.slow
def test_tf_upgrade_v2_renames_are_stable_under_a_second_run():
  """A call the upgrader renamed is not upgraded again: it would take the
  new name for TF 1's (softmax_cross_entropy_with_logits_v2 became the name
  whose TF 1 calls it wraps in tf.stop_gradient)."""
  renames = _upgrade._upgrader()._api_change_spec.symbol_renames  # pylint: disable=protected-access
  unstable = []
  for old in sorted(renames):
    for arguments in ('(a, b)', '(labels=a, logits=b)'):
      code = f'import tensorflow as tf\nr = {old}{arguments}\n'
      try:
        once = _upgrade.upgrade(code)[0]
      except IndexError:  # More arguments than the function has.
        continue
      if _upgrade.upgrade(once)[0] != once:
        unstable.append(old + arguments)
  assert unstable == []
  assert renames['tf.nn.softmax_cross_entropy_with_logits_v2'] == (
    _upgrade.STABLE + '.nn.softmax_cross_entropy_with_logits'
  )
