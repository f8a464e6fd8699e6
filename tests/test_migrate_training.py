"""What old eager training code becomes, and what is reported about it."""

from __future__ import annotations

import contextlib
import io
import pathlib
import textwrap

import nbformat
import pytest

from tfgradtools import migrate
from tfgradtools.migrate import _names
from tfgradtools.migrate import _tfnames
from tfgradtools.migrate import _upgrade


def migrate_code(
  tmp_path: pathlib.Path, code: str, *flags: str
) -> tuple[str, int, str]:
  """Migrates `code` as a .py file with --write: (new code, status, stderr)."""
  path = tmp_path / 'program.py'
  path.write_text(textwrap.dedent(code))
  err = io.StringIO()
  with (
    contextlib.redirect_stdout(io.StringIO()),
    contextlib.redirect_stderr(err),
  ):
    status = migrate.main(['--write', *flags, str(path)])
  return path.read_text(), status, err.getvalue()


def test_a_network_subclass_becomes_a_keras_model(tmp_path):
  code, status, _ = migrate_code(
    tmp_path,
    '''\
      import tensorflow as tf
      import tensorflow.contrib.eager as tfe

      class Model(tfe.Network):
        def __init__(self):
          super(Model, self).__init__()
          self.dense = self.track_layer(tf.layers.Dense(1))  # the layer
          self.other = other.track_layer(x)   # not self: left alone

        def call(self, x):
          return self.dense(x)
      ''',
  )
  assert status == 0  # The layer's dtype note asks nothing.
  assert code == textwrap.dedent('''\
      import tensorflow as tf

      class Model(tf.keras.Model):
        def __init__(self):
          super(Model, self).__init__()
          self.dense = tf.keras.layers.Dense(1)  # the layer
          self.other = other.track_layer(x)   # not self: left alone

        def call(self, x):
          return self.dense(x)
      ''')


def test_summaries_become_tf_summary_with_the_global_step(tmp_path):
  code, _, _ = migrate_code(
    tmp_path,
    '''\
      import tensorflow as tf
      writer = tf.contrib.summary.create_summary_file_writer(logdir)
      with writer.as_default(), tf.contrib.summary.always_record_summaries():
        tf.contrib.summary.scalar('loss', loss)
        tf.contrib.summary.scalar('lr', lr, step=step)
        tf.contrib.summary.scalar('x', x, family='f')
      ''',
  )
  step = 'tf.compat.v1.train.get_or_create_global_step()'
  assert code == textwrap.dedent(f'''\
      import tensorflow as tf
      writer = tf.summary.create_file_writer(logdir)
      with writer.as_default(), tf.summary.record_if(True):
        tf.summary.scalar(name='loss', data=loss, step={step})
        tf.summary.scalar(name='lr', data=lr, step=step)
        tf.contrib.summary.scalar('x', x, family='f')
      ''')


def test_optimizers_of_keras_variables_become_keras_ones(tmp_path):
  """TF 2's tf.compat.v1.train optimizers with slots reject Keras 3
  variables; plain gradient descent takes them, and is faster."""
  code, _, _ = migrate_code(
    tmp_path,
    '''\
      import tensorflow as tf
      layer = tf.layers.Dense(1, dtype=tf.float32)
      sgd = tf.train.GradientDescentOptimizer(0.1, use_locking=True)
      m = tf.train.MomentumOptimizer(1, 2, use_nesterov=True)
      adam = tf.train.AdamOptimizer(learning_rate=1e-3)
      def step(pairs):
        adam.apply_gradients(pairs, global_step=global_step)  # counted
      ''',
  )
  assert code == textwrap.dedent('''\
      import tensorflow as tf
      layer = tf.keras.layers.Dense(1, dtype=tf.float32)
      sgd = tf.compat.v1.train.GradientDescentOptimizer(0.1, use_locking=True)
      m = tf.keras.optimizers.SGD(learning_rate=1, momentum=2, nesterov=True)
      adam = tf.keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-08)
      def step(pairs):
        adam.apply_gradients(pairs)  # counted
        global_step.assign_add(1)
      ''')


def test_optimizers_of_tf_variables_stay_tf1_ones(tmp_path):
  """They run in TF 2 on tf.Variables, a step costing less than with a
  Keras 3 optimizer (benchmarks/migrate.py)."""
  code, _, _ = migrate_code(
    tmp_path,
    '''\
      import tensorflow as tf
      m = tf.train.MomentumOptimizer(1, 2, use_nesterov=True)
      adam = tf.train.AdamOptimizer
      adam(0.1).apply_gradients(pairs, global_step=global_step)
      ''',
  )
  assert code == textwrap.dedent('''\
      import tensorflow as tf
      m = tf.compat.v1.train.MomentumOptimizer(1, 2, use_nesterov=True)
      adam = tf.compat.v1.train.AdamOptimizer
      adam(0.1).apply_gradients(pairs, global_step=global_step)
      ''')


@pytest.mark.parametrize(
  'use',
  [
    'train_op = opt.minimize(loss)',
    'op = opt.apply_gradients(pairs, global_step=step)',
  ],
)
def test_optimizers_stay_where_tf1_methods_are_used(tmp_path, use):
  """And, as their slots reject the layer's Keras 3 variables, they are
  reported (as is `minimize`, which takes tf.Variables only)."""
  code = (
    'import tensorflow as tf\nlayer = tf.layers.Dense(1)\n'
    'opt = tf.train.AdamOptimizer(0.1)\n' + use + '\n'
  )
  new, status, err = migrate_code(tmp_path, code)
  assert new == code.replace('tf.layers', 'tf.keras.layers').replace(
    'tf.train', 'tf.compat.v1.train'
  )
  path = tmp_path / 'program.py'
  problems = [
    line.split(': fails in TF 2 where ')[0]
    for line in err.splitlines()
    if ': fails in TF 2 where ' in line
  ]
  assert problems == [
    f'{path}:3:7: tf.train.AdamOptimizer',
    *([f'{path}:4:12: opt.minimize'] if 'minimize' in use else []),
  ]
  assert status == 1


def test_read_value_of_keras_variables(tmp_path):
  code, _, _ = migrate_code(
    tmp_path,
    '''\
      import tensorflow as tf
      layer = tf.layers.Dense(1)
      print(layer.kernel.read_value())
      ''',
  )
  assert 'print(tf.convert_to_tensor(layer.kernel))' in code
  plain = 'import tensorflow as tf\nv = tf.Variable(1.)\nv.read_value()\n'
  assert migrate_code(tmp_path, plain)[0] == plain


def test_tfe_run_keeps_main_argv(tmp_path):
  code, _, _ = migrate_code(
    tmp_path,
    '''\
      import tensorflow.contrib.eager as tfe
      tfe.run(main=main, argv=argv)
      ''',
  )
  assert code == (
    'import tensorflow as tf\ntf.compat.v1.app.run(main=main, argv=argv)\n'
  )


def test_missing_tensorflow_names_are_reported_with_their_tf2_name(tmp_path):
  code, status, err = migrate_code(
    tmp_path,
    '''\
      import tensorflow as tf
      from tensorflow.examples.tutorials.mnist import input_data
      x = tf.layers.dense(tf.ones([1, 2]), 3)
      y = tf.contrib.layers.flatten(x)
      opt = tf.keras.optimizers.Adam(0.1)
      ''',
    '--tf-upgrade-v2',
  )
  assert status == 1
  path = tmp_path / 'program.py'
  lines = [line for line in err.splitlines() if line.startswith(str(path))]
  assert lines[0] == (
    f'{path}:2:1: tensorflow.examples.tutorials.mnist.input_data: '
    + _names.REMOVED_MODULES['tensorflow.examples.tutorials.mnist']
  )
  assert lines[1].startswith(
    f'{path}:3:5: tf.layers.dense: not in TensorFlow 2'
  )
  assert 'create tf.keras.layers.Dense(...) once' in lines[1]
  # One line per place: tf_upgrade_v2's error, not a second report.
  assert [
    line.split(': ')[1] for line in lines if line.startswith(f'{path}:4:5:')
  ] == ['tf_upgrade_v2']
  # tf_upgrade_v2 would make it a legacy optimizer Keras 3 refuses.
  assert 'opt = tf.keras.optimizers.Adam(0.1)' in code
  assert not any('keras.optimizers' in line for line in lines)


def test_the_checker_knows_keras_3_and_tensorboard():
  assert _tfnames.check('tensorflow.keras.layers.Dense') is None
  assert not _tfnames.exists('tensorflow.keras.optimizers.legacy.SGD')
  assert not _tfnames.exists('tensorflow.compat.v1.layers.Dense')
  assert 'tf.keras.layers.Dense' in _tfnames.check('tensorflow.layers.Dense')


def test_tf_upgrade_v2_keeps_the_rest_byte_for_byte(tmp_path):
  """Its changes stay in the statements it changed; a whitespace-only
  last line of a cell survives."""
  source = 'x = tf.random_normal([2])   # odd  spacing\ny = [1,\n     2]\n  '
  notebook = nbformat.v4.new_notebook(
    cells=[
      nbformat.v4.new_code_cell('import tensorflow as tf'),
      nbformat.v4.new_code_cell(source),
    ]
  )
  path = tmp_path / 'old.ipynb'
  nbformat.write(notebook, path)
  with (
    contextlib.redirect_stdout(io.StringIO()),
    contextlib.redirect_stderr(io.StringIO()),
  ):
    assert migrate.main(['--write', '--tf-upgrade-v2', str(path)]) == 0
  cells = nbformat.read(path, as_version=4).cells
  assert cells[1].source == source.replace('random_normal', 'random.normal')


def test_keep_changes_restores_what_was_not_meant():
  old = 'a = 1\nb  =  2\n\n\nc = f(x)\n'
  new = 'a = 1\nb = 2\n\nc = g(x)\n'
  assert _upgrade.keep_changes(old, new, {5}) == (
    'a = 1\nb  =  2\n\n\nc = g(x)\n'
  )
  header = 'with f(a,  b):\n    x = 1\n'
  assert _upgrade.keep_changes(header, 'with g(a, b):\n    x = 1\n', {1}) == (
    'with g(a, b):\n    x = 1\n'
  )


@pytest.mark.parametrize('module', ['_upgrade', '_write', '_tfnames'])
def test_module_examples_run(module):
  import doctest  # pylint: disable=g-import-not-at-top
  import importlib  # pylint: disable=g-import-not-at-top

  failures, tried = doctest.testmod(
    importlib.import_module(f'tfgradtools.migrate.{module}'),
    optionflags=doctest.ELLIPSIS,
  )
  assert tried >= 1 and failures == 0


def test_rnn_cells_become_keras_cells_and_their_state_follows(tmp_path):
  """`zero_state` is `get_initial_state`; an LSTM state named by
  `zero_state` or by a call of the cell is `[h, c]`."""
  code, status, err = migrate_code(
    tmp_path,
    '''\
      import tensorflow as tf
      class Model(tf.keras.Model):
        def __init__(self):
          super(Model, self).__init__()
          self.lstm = tf.nn.rnn_cell.BasicLSTMCell(8, name='lstm')
          self.gru = tf.contrib.rnn.GRUCell(4)
          self.rnn = tf.nn.rnn_cell.BasicRNNCell(4, activation='relu')
        def call(self, x):
          state = self.lstm.zero_state(8, tf.float32)
          other = self.gru.zero_state(batch_size=8, dtype=tf.float64)
          out, state = self.lstm(x, state)
          return state.h + state.c + other
      peepholes = tf.nn.rnn_cell.LSTMCell(8, use_peepholes=True)
      ''',
  )
  assert code == textwrap.dedent('''\
      import tensorflow as tf
      class Model(tf.keras.Model):
        def __init__(self):
          super(Model, self).__init__()
          self.lstm = tf.keras.layers.LSTMCell(units=8, name='lstm')
          self.gru = tf.keras.layers.GRUCell(units=4, reset_after=False)
          self.rnn = tf.keras.layers.SimpleRNNCell(units=4, activation='relu')
        def call(self, x):
          state = self.lstm.get_initial_state(batch_size=8)
          other = self.gru.get_initial_state(batch_size=8)
          out, state = self.lstm(x, state)
          return state[0] + state[1] + other
      peepholes = tf.nn.rnn_cell.LSTMCell(8, use_peepholes=True)
      ''')
  path = tmp_path / 'program.py'
  report = [line.split(': ', 2)[:2] for line in err.splitlines()[:-1]]
  assert report == [
    [f'{path}:5:17', 'tf.nn.rnn_cell.BasicLSTMCell'],
    [f'{path}:6:16', 'tf.contrib.rnn.GRUCell'],
    [f'{path}:7:16', 'tf.nn.rnn_cell.BasicRNNCell'],
    [f'{path}:10:13', 'self.gru.zero_state'],  # float64: the cell's dtype
  ]
  assert status == 0  # Notes only: without --tf-upgrade-v2, no name check.


def test_stateless_tf_layers_functions_become_applied_layers(tmp_path):
  """Those with variables made new ones on each call: they stay, and are
  reported with --tf-upgrade-v2."""
  code, _, _ = migrate_code(
    tmp_path,
    '''\
      import tensorflow as tf
      x = tf.layers.dropout(x, 0.3, training=is_training)
      x = tf.layers.max_pooling2d(x, 2, padding='same')
      y = (tf.layers.flatten(x))
      z = tf.layers.dense(y, 3)
      ''',
  )
  assert code == textwrap.dedent('''\
      import tensorflow as tf
      x = tf.keras.layers.Dropout(rate=0.3)(x, training=is_training)
      x = tf.keras.layers.MaxPooling2D(pool_size=2, padding='same')(x)
      y = (tf.keras.layers.Flatten()(x))
      z = tf.layers.dense(y, 3)
      ''')


def test_a_saver_becomes_a_checkpoint(tmp_path):
  code, status, err = migrate_code(
    tmp_path,
    '''\
      import tensorflow.contrib.eager as tfe
      saver = tfe.Saver(model.variables)
      path = saver.save(prefix, global_step=step)
      tfe.Saver(var_list=model.variables).save(prefix, step)
      saver.restore(path)
      model.save(prefix, step)  # Not a saver: left alone.
      ''',
  )
  assert code == textwrap.dedent('''\
      import tensorflow as tf
      saver = tf.train.Checkpoint(variables=model.variables)
      path = saver.save(prefix)
      tf.train.Checkpoint(variables=model.variables).save(prefix)
      saver.restore(path)
      model.save(prefix, step)  # Not a saver: left alone.
      ''')
  assert 'import tensorflow.contrib' not in code
  assert err.count('tfe.Saver: behaviour change: a tf.train.Checkpoint') == 2
  assert status == 0


def test_the_exit_status_counts_what_a_person_must_do(tmp_path):
  """Notes (behaviour changes, tf_upgrade_v2 warnings) are printed and
  counted apart; the status is 1 only for what must be done."""
  notes = '''\
      import tensorflow as tf
      layer = tf.layers.Dense(3)
      w = tf.get_variable('w', [2])
      '''
  _, status, err = migrate_code(tmp_path, notes, '--tf-upgrade-v2')
  assert 'tf.layers.Dense: behaviour change: ' in err
  assert 'tf_upgrade_v2: warning: tf.get_variable requires manual check' in err
  assert err.splitlines()[-1] == (
    '1 file(s) checked, 1 migrated, 0 place(s) need attention, 2 note(s)'
  )
  assert status == 0
  _, status, err = migrate_code(
    tmp_path, notes + 'd = tf.contrib.eager.make_template(f)\n'
  )
  assert err.splitlines()[-1] == (
    '1 file(s) checked, 1 migrated, 1 place(s) need attention, 1 note(s)'
  )
  assert status == 1
