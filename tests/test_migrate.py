"""`python -m tfgradtools.migrate`: old programs migrated, run, and checked."""

from __future__ import annotations

import ast
import contextlib
import difflib
import io
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import nbformat
import numpy as np
import pytest
import tensorflow as tf

import helpers
from tfgradtools import migrate
from tfgradtools.migrate import _names
from tfgradtools.migrate import _report
from tfgradtools.migrate import _tfnames

CORPUS = pathlib.Path(__file__).parent / 'migrate_corpus'
GUIDE = (
  pathlib.Path(__file__).parent.parent / 'docs' / 'guides' / 'migrating.md'
)
ALL_FLAGS = ['--tfp', '--tf-upgrade-v2']

# What each corpus program sets that the tests check.
CHECKED = {
  'seed_gradients_function.py': [
    'x_grad',
    'y_grad',
    'x_gradgrad',
    'y_grad_only',
  ],
  'seed_value_and_gradients.py': [
    'f_val',
    'x_grad',
    'y_grad',
    'f_val_y',
    'y_grad_by_name',
    'scaled_val',
    'scaled_dx',
    'scaled_dy',
  ],
  'tfp_value_and_gradient.py': [
    'log_value',
    'log_grad',
    'packed_value',
    'packed_grads',
    'logs',
    'log_grads',
    'legacy_value',
    'legacy_grads',
    'jac',
  ],
  'tfp_with_distributions.py': ['nll', 'dnll_dmu', 'step'],
  'training_loop.py': ['losses', 'final_weight', 'final_bias', 'steps'],
  'aliases.py': [
    'd_cube',
    'cube_value',
    'd_cube_again',
    'd_square',
    'd_sin',
    'w_grad',
    'same_variable',
  ],
  'automatic_differentiation.ipynb': ['x', 'd1', 'd2', 'w_grad', 'dq_dc'],
}
# Old training programs and tutorials, checked against the truth they find.
TRAINED = {
  'network_linear_regression.py': [
    'weights',
    'bias',
    'steps',
    'first_loss',
    'last_loss',
  ],
  'summaries_training_loop.py': ['fitted', 'steps', 'event_files'],
  'layers_model.py': ['accuracy', 'first_loss', 'last_loss'],
  'gradients_tutorial.ipynb': [
    'd_square',
    'd_cube',
    'd_fourth',
    'points',
    'first',
    'second',
    'count_grad_is_none',
  ],
  'recurrent_checkpoints.py': [
    'first_loss',
    'last_loss',
    'output_is_h',
    'output_is_c',
    'restored',
    'checkpoint_name',
  ],
  'metrics_and_summaries.py': [
    'epoch_losses',
    'epoch_accuracies',
    'final_accuracy',
    'loss_dtype',
    'steps',
    'event_files',
    'features',
    'one_hot',
  ],
}


def reported_changes(path: pathlib.Path) -> list[str]:
  """The report on reported_changes.py, migrated: each place with its line."""
  mnist = _names.REMOVED_MODULES['tensorflow.examples.tutorials.mnist']
  lstm = _names.TF_RULES['nn.rnn_cell.BasicLSTMCell'].note
  rnn = _tfnames.KERAS_2_ONLY['tensorflow.compat.v1.nn.dynamic_rnn']
  keras = 'raises with Keras 3 (TF 1.x RNN cells are Keras 2 layers); use '
  layer = _names.TF_RULES['layers.Dense'].note
  return [
    f'{path}:7:1: tensorflow.examples.tutorials.mnist.input_data: {mnist}',
    f'{path}:11:9: tf.examples.tutorials.mnist.input_data.read_data_sets: '
    f'{mnist}',
    f'{path}:14:8: tf.nn.rnn_cell.BasicLSTMCell: {lstm}',
    f'{path}:15:9: tf.layers.Dense: {layer}',
    f'{path}:21:16: tf.nn.dynamic_rnn: {keras}{rnn}',
    f'{path}:27:1: tf.summary.scalar: '
    + _names.TF_RULES['summary.scalar'].note,
    f'{path}:28:1: tf.summary.histogram: '
    + _names.TF_RULES['summary.histogram'].note,
  ]


def run_command(*argv: str) -> tuple[int, str, str]:
  """Runs the command in this process: (exit status, stdout, stderr)."""
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    status = migrate.main([str(a) for a in argv])
  return status, out.getvalue(), err.getvalue()


def migrate_text(
  tmp_path: pathlib.Path, code: str, *flags: str
) -> tuple[str, int, str]:
  """Migrates `code` as a .py file with --write: (new code, status, stderr)."""
  path = tmp_path / 'program.py'
  path.write_bytes(code.encode())
  status, _, err = run_command('--write', *flags, path)
  return path.read_bytes().decode(), status, err


def _run_programs(paths: dict[str, list[str]]) -> dict[str, dict]:
  """Runs each migrated program (a notebook's code cells in order, IPython
  lines masked) in one fresh process; returns the checked variables."""
  return helpers.run_in_fresh_process(
    f'''
      import pathlib, runpy
      import nbformat
      from tfgradtools.migrate import _files

      result = {{}}
      for path, names in {paths!r}.items():
        try:
          if path.endswith('.ipynb'):
            namespace = {{}}
            for cell in nbformat.read(path, as_version=4).cells:
              if cell.cell_type == 'code' and not cell.source.startswith('%%'):
                exec(compile(_files.mask(cell.source)[0], path, 'exec'),
                     namespace)
          else:
            namespace = runpy.run_path(path)
          result[pathlib.Path(path).name] = {{
              name: np.asarray(namespace[name]).tolist() for name in names}}
        except Exception as error:  # One program's failure is its own test's.
          failure = f'{{type(error).__name__}}: {{error}}'
          result[pathlib.Path(path).name] = failure

  ''',
    timeout=600,
  )


@pytest.fixture(scope='module')
def migrated(tmp_path_factory):
  """The corpus copied, migrated with --write and every flag, and run."""
  directory = tmp_path_factory.mktemp('corpus') / 'corpus'
  shutil.copytree(CORPUS, directory)
  status, out, err = run_command('--write', *ALL_FLAGS, directory)
  values = _run_programs(
    {
      str(directory / name): names
      for name, names in {**CHECKED, **TRAINED}.items()
    }
  )
  return directory, status, out, err, values


# The hand-written TensorFlow 2 computations the migrated programs must match.


def _tape_gradients(f, *args):
  args = [tf.constant(a, tf.float32) for a in args]
  with tf.GradientTape() as tape:
    tape.watch(args)
    value = f(*args)
  return value, tape.gradient(value, args)


def _seed(x, y):
  return x * x * x * y - x * y * y


def _seed_numbers():
  _, (dx, dy) = _tape_gradients(_seed, 2.0, 3.0)
  x, y = tf.constant(2.0), tf.constant(3.0)
  with tf.GradientTape() as outer:
    outer.watch(x)
    with tf.GradientTape() as inner:
      inner.watch(x)
      value = _seed(x, y)
    first = inner.gradient(value, x)
  return dx, dy, outer.gradient(first, x)


def expected_seed_gradients_function():
  dx, dy, dxx = _seed_numbers()
  return {'x_grad': dx, 'y_grad': dy, 'x_gradgrad': dxx, 'y_grad_only': dy}


def expected_seed_value_and_gradients():
  value, (dx, dy) = _tape_gradients(_seed, 2.0, 3.0)
  scale = tf.Variable(0.5)
  scaled, (sdx, sdy) = _tape_gradients(
    lambda x, y: scale * _seed(x, y), 2.0, 3.0
  )
  return {
    'f_val': value,
    'x_grad': dx,
    'y_grad': dy,
    'f_val_y': value,
    'y_grad_by_name': dy,
    'scaled_val': scaled,
    'scaled_dx': sdx,
    'scaled_dy': sdy,
  }


def expected_tfp_value_and_gradient():
  log_value, (log_grad,) = _tape_gradients(tf.math.log, 2.0)
  packed_value, packed = _tape_gradients(
    lambda x, y: x * tf.math.log(y), 2.0, 3.0
  )
  logs, (log_grads,) = _tape_gradients(tf.math.log, [1.0, 2.0, 3.0])
  legacy_value, legacy = _tape_gradients(lambda a, b: a * a * b, 3.0, 4.0)
  batch = tf.constant(np.arange(6.0).reshape(3, 2), tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(batch)
    mapped = tf.sin(batch) * batch[:, ::-1]
  return {
    'log_value': log_value,
    'log_grad': log_grad,
    'packed_value': packed_value,
    'packed_grads': packed,
    'logs': logs,
    'log_grads': log_grads,
    'legacy_value': legacy_value,
    'legacy_grads': legacy,
    'jac': tape.batch_jacobian(mapped, batch),
  }


def expected_tfp_with_distributions():
  data = tf.constant([0.5, 1.5, 2.0, 4.0])
  scale = 2.0

  def negative_log_likelihood(mu):  # The Normal density, by hand.
    return tf.reduce_sum(
      tf.square(data - mu) / (2 * scale**2)
      + math.log(scale * math.sqrt(2 * math.pi))
    )

  nll, (grad,) = _tape_gradients(negative_log_likelihood, 1.0)
  return {'nll': nll, 'dnll_dmu': grad, 'step': 1.0 - 0.5 * grad}


def expected_training_loop():
  inputs = np.linspace(-1.0, 1.0, 8).astype(np.float32)
  targets = 3.0 * inputs - 1.0
  w, b = tf.Variable(0.5), tf.Variable(0.0)
  losses, steps = [], 0
  for _ in range(3):
    batch_losses = []
    for start in (0, 4):
      x, y = inputs[start : start + 4], targets[start : start + 4]
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(w * x + b - y))
      dw, db = tape.gradient(loss, [w, b])
      w.assign_sub(0.1 * dw)
      b.assign_sub(0.1 * db)
      batch_losses.append(float(loss))
      steps += 1
    losses.append(np.mean(batch_losses))
  return {'losses': losses, 'final_weight': w, 'final_bias': b, 'steps': steps}


def expected_aliases():
  cube_value, (d_cube,) = _tape_gradients(lambda x: x * x * x, 2.0)
  _, (d_square,) = _tape_gradients(lambda x: x * x, 5.0)
  _, (d_sin,) = _tape_gradients(tf.sin, 0.0)
  w = tf.Variable(4.0)
  with tf.GradientTape() as tape:
    value = w * w
  return {
    'd_cube': d_cube,
    'cube_value': cube_value,
    'd_cube_again': d_cube,
    'd_square': d_square,
    'd_sin': d_sin,
    'w_grad': tape.gradient(value, w),
    'same_variable': True,
  }


def expected_automatic_differentiation():
  x = tf.linspace(-2 * math.pi, 2 * math.pi, 100)
  with tf.GradientTape() as outer:
    outer.watch(x)
    with tf.GradientTape() as inner:
      inner.watch(x)
      value = tf.square(tf.sin(x))
    d1 = inner.gradient(value, x)
  w = tf.Variable(3.0)
  with tf.GradientTape() as tape:
    loss = (w - 1.0) ** 2
  return {
    'x': x,
    'd1': d1,
    'd2': outer.gradient(d1, x),
    'w_grad': tape.gradient(loss, w),
    'dq_dc': 4.0 * 2.0**3,
  }


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(CHECKED))
def test_migrated_program_gives_the_hand_written_numbers(migrated, name):
  expected = globals()['expected_' + name.split('.')[0]]()
  expected = {key: helpers.to_numpy(value) for key, value in expected.items()}
  actual = migrated[4][name]
  assert not isinstance(actual, str), actual
  assert sorted(actual) == sorted(expected)
  for key, value in expected.items():
    if np.asarray(value).dtype == bool:
      assert actual[key] is bool(value), key
    else:
      helpers.assert_all_close(actual[key], value, rtol=1e-5, atol=1e-5)


def _trained(migrated, name):
  values = migrated[4][name]
  assert not isinstance(values, str), values  # The program failed.
  return {key: np.asarray(value) for key, value in values.items()}


@pytest.mark.slow
def test_network_linear_regression_finds_the_true_weights(migrated):
  """tfe.Network, tf.layers.Dense, implicit gradients, a TF1 optimizer with
  a global step, tfe.Iterator: one command, and it converges."""
  values = _trained(migrated, 'network_linear_regression.py')
  np.testing.assert_allclose(
    values['weights'].ravel(), [-2.0, 4.0, 1.0], atol=1e-3
  )
  np.testing.assert_allclose(values['bias'], [0.5], atol=1e-3)
  assert values['steps'] == 4 * 25
  assert values['last_loss'] < 1e-6 < values['first_loss']


@pytest.mark.slow
def test_summaries_training_loop_fits_and_writes_events(migrated):
  values = _trained(migrated, 'summaries_training_loop.py')
  np.testing.assert_allclose(values['fitted'], [1.5, -2.0], atol=1e-2)
  assert values['steps'] == 300
  assert values['event_files'] == 1


@pytest.mark.slow
def test_layers_model_learns_to_separate_the_classes(migrated):
  values = _trained(migrated, 'layers_model.py')
  assert values['accuracy'] == 1.0
  assert values['last_loss'] < 0.01 * values['first_loss']


@pytest.mark.slow
def test_recurrent_checkpoints_train_follow_the_state_and_restore(migrated):
  """A BasicLSTMCell stepped from its zero state becomes a Keras cell whose
  state `[h, c]` is read where TF 1.x read `.h` and `.c`; tfe.Saver becomes
  a tf.train.Checkpoint that restores what it saved."""
  values = _trained(migrated, 'recurrent_checkpoints.py')
  assert values['last_loss'] < 0.25 * values['first_loss']
  assert values['output_is_h'] and not values['output_is_c']
  assert values['restored']
  assert values['checkpoint_name'] == 'sum-1'


@pytest.mark.slow
def test_gradients_tutorial_matches_closed_forms(migrated):
  """The tutorial's integer count (an int32, as tf.convert_to_tensor makes
  it), its `np.asscalar` (gone from NumPy), and derivatives of sin."""
  values = _trained(migrated, 'gradients_tutorial.ipynb')
  assert (values['d_square'], values['d_cube']) == (6.0, 27.0)
  assert values['d_fourth'] == 32.0
  points = values['points']
  np.testing.assert_allclose(values['first'], np.cos(points), rtol=1e-6)
  np.testing.assert_allclose(values['second'], -np.sin(points), atol=1e-6)
  assert values['count_grad_is_none']


@pytest.mark.slow
def test_metrics_and_summaries_train_and_count_as_tf1_did(migrated):
  """tfe.metrics (reset by init_variables, in float64), the writer of
  tf.contrib.eager, summaries through a module imported by name, and the
  _v2 loss, whose gradient is checked against a tape of its closed form."""
  values = _trained(migrated, 'metrics_and_summaries.py')
  assert values['loss_dtype'] == 'float64'
  assert values['final_accuracy'] == 1.0
  assert values['steps'] == 20 * 5 and values['event_files'] == 1
  losses = values['epoch_losses']
  assert losses[-1] < 0.05 * losses[0]
  # The first epoch's mean loss, from its five steps replayed by hand.
  x = values['features'].astype(np.float32)
  y = values['one_hot'].astype(np.float32)
  w, b = tf.Variable(tf.zeros([2, 3])), tf.Variable(tf.zeros([3]))
  batch_losses = []
  for start in range(0, 150, 30):
    with tf.GradientTape() as tape:
      logits = tf.matmul(x[start : start + 30], w) + b
      loss = tf.reduce_mean(
        -tf.reduce_sum(
          y[start : start + 30] * tf.nn.log_softmax(logits), axis=1
        )
      )
    dw, db = tape.gradient(loss, [w, b])
    w.assign_sub(0.5 * dw)
    b.assign_sub(0.5 * db)
    batch_losses.append(float(loss))
  np.testing.assert_allclose(losses[0], np.mean(batch_losses), rtol=1e-5)


@pytest.mark.slow
def test_migration_reports_what_needs_a_person(migrated):
  directory, status, out, err, _ = migrated
  assert status == 1
  report = [
    line
    for line in err.splitlines()
    if re.match(r'\S+(:cell \d+)?:\d+:\d+', line)
  ]
  assert report == [
    f'{directory}/aliases.py:4:1: tf_upgrade_v2: error: The tf_upgrade_v2 '
    'script detected an unaliased `import tensorflow`. The script can only '
    'run when importing with `import tensorflow as tf`.',
    f'{directory}/automatic_differentiation.ipynb:cell 11:5:5: '
    'inner.watch(c): TF 2 watches c on tape inner only (TF 1.11 and '
    'earlier watched it on every active tape): outer.gradient(..., c) is '
    'None if c is not a '
    'tf.Variable; add outer.watch(c) inside `with ... as outer:`',
    *(
      f'{directory}/{name}: {_names.TF_RULES["layers.Dense"].note}'
      for name in (
        'layers_model.py:15:19: tf.layers.Dense',
        'layers_model.py:16:20: tf.layers.Dropout',
        'layers_model.py:17:19: tf.layers.Dense',
        'network_linear_regression.py:20:36: tf.layers.Dense',
      )
    ),
    f'{directory}/no_equivalent.py:4:1: import tensorflow.contrib.eager: '
    + _names.CONTRIB_STAYS.advice,
    f'{directory}/no_equivalent.py:7:1: tf.contrib.eager.seterr: '
    + _names.EAGER_RULES['seterr'].advice,
    f'{directory}/no_equivalent.py:11:9: '
    'tf.contrib.eager.EagerVariableStore: '
    + _names.EAGER_RULES['EagerVariableStore'].advice,
    f'{directory}/no_equivalent.py:12:11: tf.contrib.eager.list_devices: '
    + _names.EAGER_RULES['list_devices'].advice,
    f'{directory}/recurrent_checkpoints.py:18:17: '
    'tf.nn.rnn_cell.BasicLSTMCell: '
    + _names.TF_RULES['nn.rnn_cell.BasicLSTMCell'].note,
    f'{directory}/recurrent_checkpoints.py:55:9: tfe.Saver: '
    + _names.EAGER_RULES['Saver'].note,
    f'{directory}/recurrent_checkpoints.py:56:9: tf_upgrade_v2: warning: '
    '*.save requires manual check. (This warning is only applicable if the '
    'code saves a tf.Keras model) Keras model.save now saves to the '
    'Tensorflow SavedModel format by default, instead of HDF5. To continue '
    "saving to HDF5, add the argument save_format='h5' to the save() "
    'function.',
    f'{directory}/recurrent_checkpoints.py:60:1: tfe.Saver: '
    + _names.EAGER_RULES['Saver'].note,
    *reported_changes(directory / 'reported_changes.py'),
  ]
  migrated_files = sorted(line.split()[-1] for line in out.splitlines())
  assert migrated_files == sorted(
    str(directory / name)
    for name in [*CHECKED, *TRAINED, 'no_equivalent.py', 'reported_changes.py']
  )
  assert err.splitlines()[-1] == (
    '16 file(s) checked, 15 migrated, 9 place(s) need attention, 12 note(s)'
  )


@pytest.mark.slow
def test_nested_tapes_run_once_the_reported_watch_is_added(migrated):
  """The migrated cell, as it is and with the step the report asks for."""
  path = migrated[0] / 'automatic_differentiation.ipynb'
  cell = nbformat.read(path, as_version=4).cells[10].source
  opened = 'with tf.GradientTape() as outer:\n'
  as_migrated, fixed = {'tf': tf}, {'tf': tf}
  exec(compile(cell, path, 'exec'), as_migrated)
  exec(
    compile(cell.replace(opened, opened + '  outer.watch(c)\n'), path, 'exec'),
    fixed,
  )
  assert as_migrated['d2q_dc2'] is None  # TF 2: the outer tape never saw c.
  assert (float(fixed['dq_dc']), float(fixed['d2q_dc2'])) == (
    4.0 * 2.0**3,
    12.0 * 2.0**2,
  )


@pytest.mark.slow
def test_names_without_equivalent_stay_with_their_import(migrated):
  code = (migrated[0] / 'no_equivalent.py').read_text()
  assert code == textwrap.dedent('''\
      """Names without a TF2 equivalent stay and are reported."""
      import tensorflow as tf
      import tfgradtools
      import tensorflow.contrib.eager as tfe

      tf.compat.v1.enable_eager_execution()
      tfe.seterr(inf_or_nan='raise')

      w = tf.Variable(1.0)
      grad_fn = tfgradtools.gradients_function(lambda x: w * x)
      store = tfe.EagerVariableStore()
      devices = tfe.list_devices()
  ''')


@pytest.mark.slow
@pytest.mark.parametrize('flags', [ALL_FLAGS, ['--tfp']])
def test_migrating_twice_changes_nothing(migrated, flags):
  """With --tf-upgrade-v2 again, or without it."""
  directory = migrated[0]
  before = {p: p.read_bytes() for p in directory.iterdir()}
  status, out, err = run_command('--write', *flags, directory)
  assert (status, out) == (1, '')
  assert err.splitlines()[-1].startswith('16 file(s) checked, 0 migrated')
  assert {p: p.read_bytes() for p in directory.iterdir()} == before


@pytest.mark.slow
def test_migrating_twice_without_tf_upgrade_v2_changes_nothing(tmp_path):
  shutil.copytree(CORPUS, tmp_path / 'corpus')
  run_command('--write', '--tfp', tmp_path / 'corpus')
  before = {p: p.read_bytes() for p in (tmp_path / 'corpus').iterdir()}
  status, out, _ = run_command('--write', '--tfp', tmp_path / 'corpus')
  assert out == ''
  assert {p: p.read_bytes() for p in (tmp_path / 'corpus').iterdir()} == (
    before
  )


@pytest.mark.slow
def test_lines_outside_the_changes_stay_byte_for_byte(migrated):
  """Every line the migration changed is in a statement that holds an old
  name; every other line is as it was."""
  old_names = re.compile(
    r'tfe|tfm|tfp|tf\.|tensorflow|summary\.|np\.asscalar|track_layer|'
    r'init_variables|read_value|global_step|zero_state|\.save\(|\.[ch]\b'
  )
  for path in sorted(CORPUS.glob('*.py')):
    text = path.read_text()
    tree = ast.parse(text)
    statements = [node for node in ast.walk(tree) if isinstance(node, ast.stmt)]
    imported = [
      re.escape(alias.asname or alias.name)
      for node in statements
      if isinstance(node, ast.ImportFrom)
      and node.module.startswith('tensorflow')
      for alias in node.names
    ]
    names = re.compile('|'.join([old_names.pattern, *imported]))
    old = text.splitlines(keepends=True)
    new = (migrated[0] / path.name).read_text().splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
      for line in range(i1 + 1, i2 + 1) if tag != 'equal' else ():
        around = [
          (start, s.end_lineno)
          for s in statements
          for start in [
            min(
              [s.lineno, *(d.lineno for d in getattr(s, 'decorator_list', []))]
            )
          ]
          if start <= line <= s.end_lineno
        ]
        if not around:  # A blank or comment line, matched elsewhere.
          assert old[line - 1] in new, (path.name, line)
          continue
        start, end = min(around, key=lambda span: span[1] - span[0])
        assert names.search(''.join(old[start - 1 : end])), (path.name, line)


@pytest.mark.slow
def test_every_tf_name_left_is_reported(migrated):
  """Each `tf.` chain or import the installed TensorFlow lacks, and each
  `tensorflow.contrib` import, is on a report line of its own place."""
  directory, _, _, err, _ = migrated
  reported = {
    tuple(line.split(':')[:3])
    for line in err.splitlines()
    if re.match(r'\S+\.py:\d+:\d+', line)
  }
  for path in sorted(directory.glob('*.py')):
    tree = ast.parse(path.read_text())
    inner = {
      id(node.value)
      for node in ast.walk(tree)
      if isinstance(node, ast.Attribute)
    }
    for node in ast.walk(tree):
      where = (
        str(path),
        str(getattr(node, 'lineno', 0)),
        str(getattr(node, 'col_offset', 0) + 1),
      )
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = (
          [a.name for a in node.names]
          if isinstance(node, ast.Import)
          else [f'{node.module}.{a.name}' for a in node.names]
        )
        if any(
          n.startswith('tensorflow.contrib') or _tfnames.check(n) is not None
          for n in names
          if n.startswith('tensorflow')
        ):
          assert where in reported, where
      elif isinstance(node, ast.Attribute) and id(node) not in inner:
        chain = _report.dotted(node)
        if (
          chain
          and chain[0].startswith('tf.')
          and _tfnames.check('tensorflow' + chain[0][2:]) is not None
        ):
          assert where in reported, (where, chain[0])


@pytest.mark.slow
def test_tfp_goes_only_when_nothing_else_uses_it(migrated):
  only_gradients = (migrated[0] / 'tfp_value_and_gradient.py').read_text()
  assert 'tensorflow_probability' not in only_gradients
  assert 'import tfgradtools.math as tfm\n' in only_gradients
  with_distributions = (migrated[0] / 'tfp_with_distributions.py').read_text()
  assert 'import tensorflow_probability as tfp\n' in with_distributions
  assert 'tfd = tfp.distributions\n' in with_distributions
  assert 'tfm.value_and_gradient(negative_log_likelihood, mu)' in (
    with_distributions
  )


def test_without_tfp_flag_tfp_code_is_left_alone(tmp_path):
  code = (
    'import tensorflow_probability as tfp\n'
    'y = tfp.math.value_and_gradient(f, x)\n'
  )
  assert migrate_text(tmp_path, code)[:2] == (code, 0)


@pytest.mark.slow
def test_notebook_keeps_outputs_metadata_and_ipython_lines(migrated):
  old = nbformat.read(CORPUS / 'automatic_differentiation.ipynb', as_version=4)
  new = nbformat.read(
    migrated[0] / 'automatic_differentiation.ipynb', as_version=4
  )
  assert new.metadata == old.metadata
  assert len(new.cells) == len(old.cells)
  changed = []
  for index, (a, b) in enumerate(zip(old.cells, new.cells, strict=True)):
    assert {k: v for k, v in a.items() if k != 'source'} == {
      k: v for k, v in b.items() if k != 'source'
    }
    if a.source != b.source:
      assert a.cell_type == 'code'
      changed.append(index + 1)
  assert changed == [2, 6, 9]  # Not the markdown, nor the %%bash cell.
  setup = new.cells[1].source.splitlines()
  assert setup[:2] == [
    '!pip install -q tensorflow==1.12.0',
    '%matplotlib inline',
  ]
  assert setup[-1] == (
    'import tfgradtools.eager as tfe # Shorthand for some symbols'
  )


def test_ipython_lines_of_every_kind_are_kept(tmp_path):
  source = (
    'files = !ls\n'
    '!echo one \\\n'
    '  two\n'
    'tfe?\n'
    'for i in range(2):\n'
    '    %time tfe.Variable(i)\n'
    'g = tfe.gradients_function(f)\n'
  )
  notebook = nbformat.v4.new_notebook(
    cells=[
      nbformat.v4.new_code_cell('import tensorflow.contrib.eager as tfe'),
      nbformat.v4.new_code_cell(source),
    ]
  )
  path = tmp_path / 'magic.ipynb'
  nbformat.write(notebook, path)
  assert run_command('--write', path)[0] == 0
  cells = nbformat.read(path, as_version=4).cells
  assert cells[0].source == 'import tfgradtools.eager as tfe'
  assert cells[1].source == source  # Only IPython uses tfe.Variable here.


def test_dry_run_prints_a_diff_and_changes_nothing(tmp_path):
  path = tmp_path / 'seed.py'
  shutil.copy(CORPUS / 'seed_gradients_function.py', path)
  before = path.read_bytes()
  status, out, err = run_command(path)
  assert path.read_bytes() == before
  assert status == 0
  assert out.splitlines() == [
    f'--- {path}',
    f'+++ {path}',
    '@@ -4,9 +4,9 @@',
    ' from __future__ import print_function',
    ' ',
    ' import tensorflow as tf',
    '-import tensorflow.contrib.eager as tfe',
    '+import tfgradtools.eager as tfe',
    ' ',
    '-tfe.enable_eager_execution()',
    '+tf.compat.v1.enable_eager_execution()',
    ' ',
    ' ',
    ' # f(x, y) = (x ^ 3) * y - x * (y ^ 2)',
  ]
  assert err == (
    '1 file(s) checked, 1 to migrate (dry run: --write '
    'applies), 0 place(s) need attention\n'
  )


def test_report_positions_follow_the_file_on_disk(tmp_path):
  """A dry run points into the original; --write into the migrated code."""
  path = tmp_path / 'old.py'
  shutil.copy(CORPUS / 'no_equivalent.py', path)
  dry = run_command(path)[2].splitlines()[1]
  written = run_command('--write', path)[2].splitlines()[1]
  assert dry.startswith(f'{path}:6:1: tf.contrib.eager.seterr: ')
  assert written.startswith(f'{path}:7:1: tf.contrib.eager.seterr: ')
  assert path.read_text().splitlines()[6].startswith('tfe.seterr(')


UNRELATED = '''\
#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Mentions tfe.gradients_function in a docstring: not code."""
import os, sys  # two at once
import tensorflow as tf
import tensorflow.contrib.eager as tfe   # eager!

x  =  [1,2,
       3]   # odd spacing, kept
def   f( Variable , *, key = tfe . gradients_function ):
    """tfe.Variable is a parameter name here."""
    s = 'tfe.Variable(1.)'; t = f"{tfe.Variable}"
    return obj.tfe.Variable, dict(Variable=Variable), \\
        tfe.Variable(0.)
	# a tab-indented comment
y = tfe.gradients_function(lambda v: v)  # keep me
'''

UNRELATED_MIGRATED = '''\
#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Mentions tfe.gradients_function in a docstring: not code."""
import os, sys  # two at once
import tensorflow as tf
import tfgradtools.eager as tfe   # eager!

x  =  [1,2,
       3]   # odd spacing, kept
def   f( Variable , *, key = tfe . gradients_function ):
    """tfe.Variable is a parameter name here."""
    s = 'tfe.Variable(1.)'; t = f"{tf.Variable}"
    return obj.tfe.Variable, dict(Variable=Variable), \\
        tf.Variable(0.)
	# a tab-indented comment
y = tfe.gradients_function(lambda v: v)  # keep me
'''


@pytest.mark.parametrize('newline', ['\n', '\r\n'], ids=['lf', 'crlf'])
def test_unrelated_code_stays_byte_for_byte(tmp_path, newline):
  code = UNRELATED.replace('\n', newline)
  new_code, status, _ = migrate_text(tmp_path, code)
  assert status == 0
  assert new_code == UNRELATED_MIGRATED.replace('\n', newline)


@pytest.mark.parametrize(
  'old, new',
  [
    # The alias only names gradient functions: it is rebound in place.
    (
      'from tensorflow.contrib import eager as tfe\ng = tfe.make_vjp(f)\n',
      'from tfgradtools import eager as tfe\ng = tfe.make_vjp(f)\n',
    ),
    (
      'from tensorflow.contrib.eager import gradients_function\n'
      'g = gradients_function(f)\n',
      'from tfgradtools.eager import gradients_function\n'
      'g = gradients_function(f)\n',
    ),
    # Only TF2 names: the contrib import goes, TensorFlow comes in.
    (
      '"""Doc."""\nfrom __future__ import print_function\n'
      'import tensorflow.contrib.eager as tfe\n\n'
      '@tfe.defun\ndef f(x):\n  return tfe.num_gpus() + x\n',
      '"""Doc."""\nfrom __future__ import print_function\n'
      'import tensorflow as tf\n\n'
      '@tf.function\ndef f(x):\n  return '
      "len(tf.config.list_physical_devices('GPU')) + x\n",
    ),
    # Comments above a removed import stay.
    (
      'import tensorflow as tf\n# Eager mode.\n'
      'from tensorflow.contrib.eager import Variable\nv = Variable(1.)\n',
      'import tensorflow as tf\n# Eager mode.\nv = tf.Variable(1.)\n',
    ),
    # A from-import split: what stays, what moves, what goes.
    (
      'import tensorflow as tf\n'
      'from tensorflow.contrib.eager import (seterr, gradients_function as g,\n'
      '                                      Variable)\n'
      's = seterr(v)\nd = g(f)\nv = Variable(1.)\n',
      'import tensorflow as tf\n'
      'from tensorflow.contrib.eager import (seterr)\n'
      'from tfgradtools.eager import gradients_function as g\n'
      's = seterr(v)\nd = g(f)\nv = tf.Variable(1.)\n',
    ),
    # Chains through the package; `tf` taken by something else.
    (
      'import tensorflow.contrib.eager\ntf = 1\n'
      'm = tensorflow.contrib.eager.metrics.SparseAccuracy()\n'
      'g = tensorflow.contrib.eager.implicit_gradients(f)\n',
      'import tensorflow\nimport tfgradtools.eager as tfe\ntf = 1\n'
      'm = tensorflow.keras.metrics.SparseCategoricalAccuracy('
      "dtype='float64')\n"
      'g = tfe.implicit_gradients(f)\n',
    ),
    # An old spelling of the module; a plain `import tensorflow` is enough.
    (
      'import tensorflow\nimport tensorflow.contrib.eager\n'
      'from tensorflow.contrib.eager.python import tfe\n'
      'g = tfe.gradients_function(tensorflow.sin)\n',
      'import tensorflow\nfrom tfgradtools import eager as tfe\n'
      'g = tfe.gradients_function(tensorflow.sin)\n',
    ),
    # A TF 1.x name imported by itself goes once its uses are rewritten.
    (
      'import tensorflow as tf\nfrom tensorflow.layers import Dense, dense\n'
      'layer = Dense(3)\ny = dense(x, 3)\n',
      'import tensorflow as tf\nfrom tensorflow.layers import dense\n'
      'layer = tf.keras.layers.Dense(3)\ny = dense(x, 3)\n',
    ),
    # A call form that does not fit is reported instead.
    (
      'import tensorflow.contrib.eager as tfe\nit = tfe.Iterator(ds)\n'
      'make = tfe.Iterator\n',
      'import tensorflow.contrib.eager as tfe\nit = iter(ds)\n'
      'make = tfe.Iterator\n',
    ),
  ],
)
def test_imports_follow_what_the_code_still_needs(tmp_path, old, new):
  assert migrate_text(tmp_path, old)[0] == new


@pytest.mark.parametrize(
  'flags', [[], ['--tf-upgrade-v2']], ids=['alone', 'tf_upgrade_v2']
)
@pytest.mark.parametrize(
  'old, new',
  [
    (
      'import numpy as np\nimport tensorflow as tf\n'
      'loss = np.asscalar(tf.reduce_sum(x).numpy())  # a float\n',
      'import numpy as np\nimport tensorflow as tf\n'
      'loss = np.asarray(tf.reduce_sum(x).numpy()).item()  # a float\n',
    ),
    (
      'import numpy\nimport tensorflow as tf\n'
      'total = 1 + numpy.asscalar(\n    x[0],\n)\n',
      'import numpy\nimport tensorflow as tf\n'
      'total = 1 + numpy.asarray(x[0]).item()\n',
    ),
    # Imported by name: the name goes from the import, NumPy comes in.
    (
      'import tensorflow as tf\nfrom numpy import asscalar, float32\n'
      'v = asscalar(float32(2))\n',
      'import tensorflow as tf\nimport numpy as np\n'
      'from numpy import float32\nv = np.asarray(float32(2)).item()\n',
    ),
    # ... under the module's name when `np` is something else.
    (
      'from numpy import asscalar as scalar\nimport tensorflow as tf\n'
      'np = None\nv = scalar(x)\n',
      'import numpy\nimport tensorflow as tf\n'
      'np = None\nv = numpy.asarray(x).item()\n',
    ),
  ],
)
def test_numpy_asscalar_becomes_item(tmp_path, old, new, flags):
  """NumPy 1.23 removed `asscalar(a)`, which returned `a.item()`."""
  assert migrate_text(tmp_path, old, *flags)[:2] == (new, 0)


def test_asscalar_left_in_place_is_reported_with_its_import(tmp_path):
  code = (
    'import tensorflow as tf\nfrom numpy import asscalar\n'
    'values = list(map(asscalar, arrays))\n'
    'value = asscalar(a=array)\n'
  )
  path = tmp_path / 'program.py'
  path.write_text(code)
  status, out, err = run_command(path)
  assert (status, out, path.read_text()) == (1, '', code)
  advice = _names.NUMPY_RULES['asscalar'].advice
  assert err.splitlines() == [
    f'{path}:3:19: np.asscalar: {advice}',
    f'{path}:4:9: np.asscalar: {advice}',
    '1 file(s) checked, 0 to migrate (dry run: --write applies), '
    '2 place(s) need attention',
  ]


def test_the_asscalar_rewrite_gives_what_asscalar_gave():
  """`a.item()` (NumPy 1.22's `asscalar`), for arrays and NumPy scalars."""
  target = _names.NUMPY_RULES['asscalar'].target.format(np='np', args='a')
  for a in (
    np.float32(1.5),
    np.array([[7]]),
    np.array(2.5, np.float64),
    np.int64(3),
    np.bool_(True),
  ):
    rewritten = eval(target, {'np': np, 'a': a})
    assert (type(rewritten), rewritten) == (type(a.item()), a.item())


NESTED_TAPES = """\
import tensorflow as tf
import tensorflow.contrib.eager as tfe
from tensorflow import GradientTape

x, w = tf.constant(3.0), tf.constant(1.0)
with tfe.GradientTape() as t:
  with tfe.GradientTape() as t2:
    t2.watch(x)
    y = x * x
  dy = t2.gradient(y, x)
with GradientTape(watch_accessed_variables=False) as a, GradientTape() as b:
  a.watch(x)
  b.watch([x, w])
with tf.GradientTape() as t:
  t.watch(x)   # What TF 2 needs, here already.
  with tf.GradientTape() as t2:
    t2.watch(x)
"""


def test_nested_tapes_where_only_the_inner_one_watches_are_reported(tmp_path):
  """Reported, not rewritten: positions in the file as the command leaves
  it."""
  path = tmp_path / 'tapes.py'
  path.write_text(NESTED_TAPES)
  dry = run_command(path)
  written = run_command('--write', path)
  assert path.read_text() == NESTED_TAPES.replace(
    'import tensorflow.contrib.eager as tfe\n', ''
  ).replace('tfe.GradientTape', 'tf.GradientTape')
  for (status, _, err), shift in ((dry, 0), (written, 1)):
    assert status == 1
    assert err.splitlines()[:-1] == [
      f'{path}:{8 - shift}:5: t2.watch(x): TF 2 watches x on tape t2 only '
      '(TF 1.11 and earlier watched it on every active tape): '
      't.gradient(..., x) is '
      'None if x is not a tf.Variable; add t.watch(x) inside '
      '`with ... as t:`',
      f'{path}:{13 - shift}:3: b.watch([x, w]): TF 2 watches w on tape b '
      'only (TF 1.11 and earlier watched it on every active tape): '
      'a.gradient(..., w) '
      'is None (a watches no variable by itself); add a.watch(w) inside '
      '`with ... as a:`',
    ]


def test_tfp_imports_of_gradient_functions_move_and_others_stay(tmp_path):
  code = (
    'from tensorflow_probability.python import math as tfm\n'
    'from tensorflow_probability.math import (value_and_gradient,\n'
    '                                         softplus_inverse)\n'
    'j = tfm.batch_jacobian(f, x)\n'
    'v = value_and_gradient(f, softplus_inverse(x))\n'
  )
  assert migrate_text(tmp_path, code, '--tfp')[:2] == (
    'from tfgradtools import math as tfm\n'
    'from tensorflow_probability.math import (softplus_inverse)\n'
    'from tfgradtools.math import value_and_gradient\n'
    'j = tfm.batch_jacobian(f, x)\n'
    'v = value_and_gradient(f, softplus_inverse(x))\n',
    0,
  )


def test_star_imports_and_the_module_as_a_value_are_reported(tmp_path):
  code = (
    'from tensorflow.contrib.eager import *\n'
    'import tensorflow.contrib.eager as tfe\n'
    'modules = [tfe]\n'
  )
  new_code, status, err = migrate_text(tmp_path, code)
  assert (new_code, status) == (code, 1)
  path = tmp_path / 'program.py'
  assert err.splitlines()[:3] == [
    f'{path}:2:1: import tensorflow.contrib.eager: '
    + _names.CONTRIB_STAYS.advice,
    f'{path}:1:1: from tf.contrib.eager import *: ' + _names.STAR_IMPORT.advice,
    f'{path}:3:12: tf.contrib.eager: ' + _names.AS_VALUE.advice,
  ]


def test_tfm_taken_gradient_calls_use_the_package(tmp_path):
  code = (
    'import tensorflow_probability as tfp\n'
    'tfm = "something else"\n'
    'y, dy = tfp.math.value_and_gradient(lambda x: x * x, 3.)\n'
  )
  new_code, status, _ = migrate_text(tmp_path, code, '--tfp')
  assert (new_code, status) == (
    'import tfgradtools\n'
    'tfm = "something else"\n'
    'y, dy = tfgradtools.value_and_gradient(lambda x: x * x, 3.)\n',
    0,
  )
  namespace = {}
  exec(compile(new_code, 'program.py', 'exec'), namespace)
  assert (float(namespace['y']), float(namespace['dy'])) == (9.0, 6.0)


def test_a_file_that_does_not_parse_is_reported_and_others_still_run(tmp_path):
  (tmp_path / 'a_broken.py').write_text(
    'import tensorflow.contrib.eager as tfe\ndef f(:\n  pass\n'
  )
  shutil.copy(CORPUS / 'seed_gradients_function.py', tmp_path / 'b_seed.py')
  status, out, err = run_command('--write', tmp_path)
  assert status == 1
  assert err.splitlines()[0] == (
    f'{tmp_path}/a_broken.py:2:7: syntax error: invalid syntax; left unchanged'
  )
  assert out == f'migrated {tmp_path}/b_seed.py\n'
  assert (
    (tmp_path / 'a_broken.py')
    .read_text()
    .startswith('import tensorflow.contrib.eager')
  )


def test_a_cell_that_does_not_parse_is_reported_and_others_still_run(tmp_path):
  notebook = nbformat.v4.new_notebook(
    cells=[
      nbformat.v4.new_code_cell('import tensorflow.contrib.eager as tfe'),
      nbformat.v4.new_code_cell('print "python 2"'),
      nbformat.v4.new_code_cell('g = tfe.gradients_function(f)'),
    ]
  )
  path = tmp_path / 'old.ipynb'
  nbformat.write(notebook, path)
  status, _, err = run_command('--write', path)
  assert status == 1
  assert err.startswith(
    f'{path}:cell 2:1:1: syntax error: Missing parentheses in call to \'print\''
  )
  cells = nbformat.read(path, as_version=4).cells
  assert [c.source for c in cells] == [
    'import tfgradtools.eager as tfe',
    'print "python 2"',
    'g = tfe.gradients_function(f)',
  ]


def test_bad_paths_exit_with_2_and_the_others_still_run(tmp_path):
  (tmp_path / 'notes.txt').write_text('tfe')
  shutil.copy(CORPUS / 'seed_gradients_function.py', tmp_path / 'seed.py')
  status, out, err = run_command(
    tmp_path / 'missing.py', tmp_path / 'notes.txt', tmp_path / 'seed.py'
  )
  assert status == 2
  assert err.splitlines()[:2] == [
    f'error: {tmp_path}/missing.py: no such file or directory',
    f'error: {tmp_path}/notes.txt: not a .py or .ipynb file',
  ]
  assert out.startswith(f'--- {tmp_path}/seed.py\n')


def test_directories_skip_hidden_and_other_files(tmp_path):
  for name in [
    'a.py',
    'b.ipynb',
    'c.txt',
    '.ipynb_checkpoints/d.ipynb',
    'sub/e.py',
    '__pycache__/f.py',
  ]:
    (tmp_path / name).parent.mkdir(exist_ok=True)
    if name.endswith('.ipynb'):
      nbformat.write(nbformat.v4.new_notebook(), tmp_path / name)
    else:
      (tmp_path / name).write_text('x = 1\n')
  status, out, err = run_command(tmp_path)
  assert (status, out) == (0, '')
  assert err == (
    '3 file(s) checked, 0 to migrate (dry run: --write '
    'applies), 0 place(s) need attention\n'
  )


def test_every_mapped_name_exists_in_tensorflow_2():
  dataset = tf.data.Dataset.range(3)
  for name, rule in [*_names.EAGER_RULES.items(), *_names.TF_RULES.items()]:
    if isinstance(rule, _names.Call):
      assert _tfnames.exists('tensorflow' + rule.target[4:]), name
    elif isinstance(rule, _names.Renamed):
      value = eval(
        rule.target.format(tf='tf', args='dataset'),
        {'tf': tf, 'dataset': dataset},
      )
      assert value is not None, name
  assert list(iter(dataset)) == [0, 1, 2]


def test_the_guide_lists_every_name():
  text = GUIDE.read_text()
  for name in _names.EAGER_RULES:
    assert f'`tfe.{name}' in text, name
  for name in _names.MATH_RULES:
    assert f'`tfp.math.{name}' in text, name
  for name in _names.TF_RULES:
    assert f'`tf.{name}' in text, name
  for name in _names.NUMPY_RULES:
    assert f'`np.{name}' in text, name


def test_without_libcst_the_command_says_how_to_install_it(tmp_path):
  """Also: `import tfgradtools` never needs libcst."""
  script = textwrap.dedent('''
      import runpy, sys
      sys.modules['libcst'] = None   # `import libcst` now fails.
      import tfgradtools
      sys.argv = ['migrate', 'old.py']
      runpy.run_module('tfgradtools.migrate', run_name='__main__')
  ''')
  completed = subprocess.run(
    [sys.executable, '-c', script],
    capture_output=True,
    text=True,
    timeout=300,
    cwd=tmp_path,
    check=False,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'),
  )
  assert completed.returncode == 2
  assert completed.stderr.splitlines()[-2:] == [
    'tfgradtools.migrate needs libcst, which is not installed.',
    'Install the migrate extra: python -m pip install "tfgradtools[migrate]"',
  ]


def test_main_example_runs():
  import doctest  # pylint: disable=g-import-not-at-top

  failures, tried = doctest.testmod(
    migrate, verbose=False, optionflags=doctest.ELLIPSIS
  )
  assert tried >= 4 and failures == 0


def test_help_documents_the_exit_status(capsys):
  with pytest.raises(SystemExit) as exit_info:
    migrate.main(['--help'])
  assert exit_info.value.code == 0
  assert '0  nothing needs a person' in capsys.readouterr().out
