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


def migrate_code(tmp_path: pathlib.Path, code: str, *flags: str
                 ) -> tuple[str, int, str]:
  """Migrates `code` as a .py file with --write: (new code, status, stderr)."""
  path = tmp_path / 'program.py'
  path.write_text(textwrap.dedent(code))
  err = io.StringIO()
  with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
      err):
    status = migrate.main(['--write', *flags, str(path)])
  return path.read_text(), status, err.getvalue()


def test_a_network_subclass_becomes_a_keras_model(tmp_path):
  code, status, _ = migrate_code(tmp_path, '''\
      import tensorflow as tf
      import tensorflow.contrib.eager as tfe

      class Model(tfe.Network):
        def __init__(self):
          super(Model, self).__init__()
          self.dense = self.track_layer(tf.layers.Dense(1))  # the layer
          self.other = other.track_layer(x)   # not self: left alone

        def call(self, x):
          return self.dense(x)
      ''')
  assert status == 1   # The layer's dtype is reported.
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
  code, _, _ = migrate_code(tmp_path, '''\
      import tensorflow as tf
      writer = tf.contrib.summary.create_summary_file_writer(logdir)
      with writer.as_default(), tf.contrib.summary.always_record_summaries():
        tf.contrib.summary.scalar('loss', loss)
        tf.contrib.summary.scalar('lr', lr, step=step)
        tf.contrib.summary.scalar('x', x, family='f')
      ''')
  assert code == textwrap.dedent('''\
      import tensorflow as tf
      writer = tf.summary.create_file_writer(logdir)
      with writer.as_default(), tf.summary.record_if(True):
        tf.summary.scalar(name='loss', data=loss, step=tf.compat.v1.train.get_or_create_global_step())
        tf.summary.scalar(name='lr', data=lr, step=step)
        tf.contrib.summary.scalar('x', x, family='f')
      ''')


def test_optimizers_of_keras_variables_become_keras_ones(tmp_path):
  """TF 2's tf.compat.v1.train optimizers with slots reject Keras 3
  variables; plain gradient descent takes them, and is faster."""
  code, _, _ = migrate_code(tmp_path, '''\
      import tensorflow as tf
      layer = tf.layers.Dense(1, dtype=tf.float32)
      sgd = tf.train.GradientDescentOptimizer(0.1, use_locking=True)
      momentum = tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True)
      adam = tf.train.AdamOptimizer(learning_rate=1e-3)
      def step(pairs):
        adam.apply_gradients(pairs, global_step=global_step)  # counted
      ''')
  assert code == textwrap.dedent('''\
      import tensorflow as tf
      layer = tf.keras.layers.Dense(1, dtype=tf.float32)
      sgd = tf.compat.v1.train.GradientDescentOptimizer(0.1, use_locking=True)
      momentum = tf.keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
      adam = tf.keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-08)
      def step(pairs):
        adam.apply_gradients(pairs)  # counted
        global_step.assign_add(1)
      ''')


def test_optimizers_of_tf_variables_stay_tf1_ones(tmp_path):
  """They run in TF 2 on tf.Variables, a step costing less than with a
  Keras 3 optimizer (benchmarks/migrate.py)."""
  code, _, _ = migrate_code(tmp_path, '''\
      import tensorflow as tf
      momentum = tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True)
      adam = tf.train.AdamOptimizer
      adam(0.1).apply_gradients(pairs, global_step=global_step)
      ''')
  assert code == textwrap.dedent('''\
      import tensorflow as tf
      momentum = tf.compat.v1.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True)
      adam = tf.compat.v1.train.AdamOptimizer
      adam(0.1).apply_gradients(pairs, global_step=global_step)
      ''')


@pytest.mark.parametrize('use', [
    'train_op = opt.minimize(loss)',
    'op = opt.apply_gradients(pairs, global_step=step)',
])
def test_optimizers_stay_where_tf1_methods_are_used(tmp_path, use):
  code = ('import tensorflow as tf\nlayer = tf.layers.Dense(1)\n'
          'opt = tf.train.AdamOptimizer(0.1)\n' + use + '\n')
  assert migrate_code(tmp_path, code)[0] == code.replace(
      'tf.layers', 'tf.keras.layers').replace('tf.train', 'tf.compat.v1.train')


def test_read_value_of_keras_variables(tmp_path):
  code, _, _ = migrate_code(tmp_path, '''\
      import tensorflow as tf
      layer = tf.layers.Dense(1)
      print(layer.kernel.read_value())
      ''')
  assert 'print(tf.convert_to_tensor(layer.kernel))' in code
  plain = 'import tensorflow as tf\nv = tf.Variable(1.)\nv.read_value()\n'
  assert migrate_code(tmp_path, plain)[0] == plain


def test_tfe_run_keeps_main_argv(tmp_path):
  code, _, _ = migrate_code(tmp_path, '''\
      import tensorflow.contrib.eager as tfe
      tfe.run(main=main, argv=argv)
      ''')
  assert code == ('import tensorflow as tf\n'
                  'tf.compat.v1.app.run(main=main, argv=argv)\n')


def test_missing_tensorflow_names_are_reported_with_their_tf2_name(tmp_path):
  code, status, err = migrate_code(tmp_path, '''\
      import tensorflow as tf
      from tensorflow.examples.tutorials.mnist import input_data
      x = tf.layers.dense(tf.ones([1, 2]), 3)
      y = tf.contrib.layers.flatten(x)
      opt = tf.keras.optimizers.Adam(0.1)
      ''', '--tf-upgrade-v2')
  assert status == 1
  path = tmp_path / 'program.py'
  lines = [line for line in err.splitlines() if line.startswith(str(path))]
  assert lines[0] == (
      f'{path}:2:1: tensorflow.examples.tutorials.mnist.input_data: '
      + _names.REMOVED_MODULES['tensorflow.examples.tutorials.mnist'])
  assert lines[1].startswith(f'{path}:3:5: tf.layers.dense: not in '
                             'TensorFlow 2')
  assert 'create tf.keras.layers.Dense(...) once' in lines[1]
  # One line per place: tf_upgrade_v2's error, not a second report.
  assert [line.split(': ')[1] for line in lines
          if line.startswith(f'{path}:4:5:')] == ['tf_upgrade_v2']
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
  source = ('x = tf.random_normal([2])   # odd  spacing\n'
            'y = [1,\n     2]\n  ')
  notebook = nbformat.v4.new_notebook(cells=[
      nbformat.v4.new_code_cell('import tensorflow as tf'),
      nbformat.v4.new_code_cell(source)])
  path = tmp_path / 'old.ipynb'
  nbformat.write(notebook, path)
  with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
      io.StringIO()):
    assert migrate.main(['--write', '--tf-upgrade-v2', str(path)]) == 0
  cells = nbformat.read(path, as_version=4).cells
  assert cells[1].source == source.replace('random_normal', 'random.normal')


def test_keep_changes_restores_what_was_not_meant():
  old = 'a = 1\nb  =  2\n\n\nc = f(x)\n'
  new = 'a = 1\nb = 2\n\nc = g(x)\n'
  assert _upgrade.keep_changes(old, new, {5}) == (
      'a = 1\nb  =  2\n\n\nc = g(x)\n')
  header = 'with f(a,  b):\n    x = 1\n'
  assert _upgrade.keep_changes(header, 'with g(a, b):\n    x = 1\n', {1}) == (
      'with g(a, b):\n    x = 1\n')


@pytest.mark.parametrize('module', ['_upgrade', '_write', '_tfnames'])
def test_module_examples_run(module):
  import doctest  # pylint: disable=g-import-not-at-top
  import importlib  # pylint: disable=g-import-not-at-top
  failures, tried = doctest.testmod(
      importlib.import_module(f'tfgradtools.migrate.{module}'),
      optionflags=doctest.ELLIPSIS)
  assert tried >= 1 and failures == 0
