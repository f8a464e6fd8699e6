"""What each old name becomes: tfgradtools, a TensorFlow 2 name, or a report.

The `tf.contrib.eager` names are those TensorFlow 1.15 exported
(`tensorflow/contrib/eager/python/tfe.py`), plus `make_vjp`, which
`tfgradtools.eager` provides beside the four transformers. Old eager
programs also used NumPy names that current NumPy removed; those with a
documented replacement are rewritten too.
"""

from __future__ import annotations

import dataclasses
import enum

CONTRIB = 'tensorflow.contrib'
EAGER = 'tensorflow.contrib.eager'
MATH = 'tensorflow_probability.math'
TENSORFLOW = 'tensorflow'
PROBABILITY = 'tensorflow_probability'
TFGRADTOOLS = 'tfgradtools'
NUMPY = 'numpy'
# Other spellings of the old modules, normalised to the names above.
OLD_SPELLINGS = {
  'tensorflow.contrib.eager.python.tfe': EAGER,
  # The module behind tf.contrib.summary, imported by its own name.
  'tensorflow.contrib.summary.summary': 'tensorflow.contrib.summary',
  'tensorflow_probability.python.math': MATH,
}
# Where the gradient functions go, and the alias a new import uses.
NEW_MODULES = {EAGER: 'tfgradtools.eager', MATH: 'tfgradtools.math'}
NEW_ALIASES = {EAGER: 'tfe', MATH: 'tfm'}
# `enable_eager_execution` wherever TF 1.x had it, and the device policy
# TF 2 has by default.
ENABLE_EAGER = (
  f'{EAGER}.enable_eager_execution',
  f'{TENSORFLOW}.enable_eager_execution',
  f'{TENSORFLOW}.compat.v1.enable_eager_execution',
)
DEFAULT_POLICY = f'{EAGER}.DEVICE_PLACEMENT_SILENT'
# How reports spell the old modules.
SHORT = {EAGER: 'tf.contrib.eager', MATH: 'tfp.math'}
# The usual aliases of the modules rules name (`{tf}`, `{np}` in targets).
USUAL_ALIASES = {NUMPY: 'np', TENSORFLOW: 'tf'}


@dataclasses.dataclass(frozen=True)
class Gradient:
  """A gradient function: the same name in `tfgradtools.eager`/`.math`."""


@dataclasses.dataclass(frozen=True)
class Renamed:
  """A TensorFlow 2 expression, with `{tf}` for the TensorFlow module (and
  `{np}` for NumPy's).

  With `arity` set, the rule rewrites only a call with that many positional
  arguments and no keywords, the whole call becoming `target` (`{args}`
  holds the arguments); other uses are reported with `advice`. `note`: how
  the TF 2 name behaves otherwise, reported where the rule rewrote (unless
  the call passes `dtype=`, which TF 1 took from the inputs).
  """

  target: str
  arity: int | None = None
  advice: str = ''
  note: str = ''


@dataclasses.dataclass(frozen=True)
class Report:
  """No TensorFlow 2 equivalent: left in place, reported with `advice`."""

  advice: str


class Made(enum.Enum):
  """An object a rewritten call makes whose methods changed too."""

  # A TF 1.x RNN cell made as a Keras cell: `zero_state(batch, dtype)` is
  # `get_initial_state(batch_size=batch)`.
  CELL = 'cell'
  # The same, for an LSTM: its state is also the list `[h, c]` where TF 1.x
  # had `LSTMStateTuple(c, h)`, so `state.c` is `state[1]`.
  LSTM = 'lstm'
  # `tfe.Saver(vars)` made as a `tf.train.Checkpoint`, which numbers its
  # saves itself: `save(prefix, global_step)` is `save(prefix)`.
  SAVER = 'saver'


@dataclasses.dataclass(frozen=True)
class Call:
  """A call to `target`, its arguments passed by keyword.

  `parameters` are the old function's, in order (to name positional
  arguments); `keywords` renames them (to None: dropped); `defaults` adds
  keywords the call does not give (old defaults that differ from the new
  ones); `refused` lists parameters the new function has no equivalent
  for: a call giving one is left in place. `applied`: parameters that go
  to a call of the made object instead (`tf.layers.dropout(x, 0.5)` is
  `tf.keras.layers.Dropout(rate=0.5)(x)`; the first is passed by position).
  `optimizer`: a TF1 optimizer, rewritten where the program's optimizers
  update Keras variables and can all become Keras ones, else kept as
  `tf.compat.v1.train`'s. `made`: what the call makes, whose method calls
  are rewritten too where the object is named (`Made`). `note`: as
  `Renamed`'s.
  """

  target: str
  parameters: tuple[str, ...]
  keywords: tuple[tuple[str, str | None], ...] = ()
  defaults: tuple[tuple[str, str], ...] = ()
  refused: tuple[str, ...] = ()
  applied: tuple[str, ...] = ()
  optimizer: bool = False
  made: Made | None = None
  advice: str = ''
  note: str = ''


Rule = Gradient | Renamed | Report | Call

_CHECK_NUMERICS = Report(
  'no TF2 equivalent; tf.debugging.enable_check_numerics() raises on the '
  'first inf or NaN'
)
_CHECKPOINT = Report(
  'no TF2 equivalent; save and restore with tf.train.Checkpoint(**objects)'
  '.save(prefix) and .restore(path)'
)
_CLUSTER = Report(
  'no TF2 equivalent; connect with tf.config.experimental_connect_to_cluster'
  '(cluster_resolver)'
)
_DEVICE_POLICY = Report(
  "no TF2 constant; call tf.config.experimental.set_device_policy() with "
  "'explicit', 'warn' or 'silent'"
)
_EXECUTION_MODE = Report(
  'no TF2 equivalent; call tf.config.experimental.set_synchronous_execution'
  '(enable), or run a block in `with tf.experimental.async_scope():`'
)
_GRAPH_AND_EAGER_TESTS = Report(
  'no public TF2 equivalent; TF2 tests run eagerly: test graph mode by '
  'calling the code inside a tf.function'
)
_VARIABLE_STORE = Report(
  'no TF2 equivalent; keep variables as attributes of a tf.Module or a '
  'Keras layer'
)


def _metric(keras: str, *parameters: str) -> Call:
  """A `tfe.metrics` class made as the Keras metric `keras` (its
  `init_variables()` becomes `reset_state()`)."""
  return Call(
    '{tf}.keras.metrics.' + keras,
    ('name', *parameters, 'dtype', 'use_global_variables'),
    defaults=(('dtype', "'float64'"),),
    refused=('use_global_variables',),
    advice=(
      f'no drop-in; create tf.keras.metrics.{keras}(...) and '
      'use update_state(), result() and reset_state()'
    ),
  )


EAGER_RULES: dict[str, Rule] = {
  # The function transformers, in tfgradtools.eager.
  'gradients_function': Gradient(),
  'value_and_gradients_function': Gradient(),
  'implicit_gradients': Gradient(),
  'implicit_value_and_gradients': Gradient(),
  'make_vjp': Gradient(),
  # TensorFlow 2 names doing the same.
  'Variable': Renamed('{tf}.Variable'),
  'defun': Renamed('{tf}.function'),
  'function': Renamed('{tf}.function'),
  'GradientTape': Renamed('{tf}.GradientTape'),
  'custom_gradient': Renamed('{tf}.custom_gradient'),
  'Checkpoint': Renamed('{tf}.train.Checkpoint'),
  'Checkpointable': Renamed('{tf}.Module'),
  'executing_eagerly': Renamed('{tf}.executing_eagerly'),
  'in_eager_mode': Renamed('{tf}.executing_eagerly'),
  'enable_eager_execution': Renamed('{tf}.compat.v1.enable_eager_execution'),
  'py_func': Renamed('{tf}.py_function'),
  'TensorSpec': Renamed('{tf}.TensorSpec'),
  'async_clear_error': Renamed('{tf}.experimental.async_clear_error'),
  'connect_to_remote_host': Renamed('{tf}.config.experimental_connect_to_host'),
  # TF 1.x eager metrics counted in float64 by default; Keras in float32.
  'metrics.Mean': _metric('Mean'),
  'metrics.Accuracy': _metric('Accuracy'),
  'metrics.BinaryAccuracy': _metric('BinaryAccuracy', 'threshold'),
  'metrics.CategoricalAccuracy': _metric('CategoricalAccuracy'),
  'metrics.SparseAccuracy': _metric('SparseCategoricalAccuracy'),
  'Iterator': Renamed(
    'iter({args})',
    arity=1,
    advice='iterate over the tf.data.Dataset itself: iter(dataset)',
  ),
  'num_gpus': Renamed(
    "len({tf}.config.list_physical_devices('GPU'))",
    arity=0,
    advice="use len(tf.config.list_physical_devices('GPU'))",
  ),
  # No equivalent: reported.
  'metrics.Metric': Report(
    'no drop-in; subclass tf.keras.metrics.Metric and implement '
    'update_state() and result() instead of build() and call()'
  ),
  'list_devices': Report(
    'no drop-in; tf.config.list_logical_devices() lists LogicalDevice '
    'objects (the name is in .name)'
  ),
  'make_template': _VARIABLE_STORE,
  'EagerVariableStore': _VARIABLE_STORE,
  'get_optimizer_variables': Report(
    'no TF2 equivalent; read optimizer.variables'
  ),
  # Eager execution, then tf.app.run: TF2 executes eagerly.
  'run': Renamed('{tf}.compat.v1.app.run'),
  'enable_remote_eager_execution': _CLUSTER,
  'set_server_def': _CLUSTER,
  'connect_to_cloud_tpu': Report(
    'no TF2 equivalent; use tf.distribute.cluster_resolver.'
    'TPUClusterResolver and tf.tpu.experimental.initialize_tpu_system'
  ),
  'add_execution_callback': _CHECK_NUMERICS,
  'clear_execution_callbacks': _CHECK_NUMERICS,
  'ExecutionCallback': _CHECK_NUMERICS,
  'errstate': _CHECK_NUMERICS,
  'inf_callback': _CHECK_NUMERICS,
  'inf_nan_callback': _CHECK_NUMERICS,
  'nan_callback': _CHECK_NUMERICS,
  'seterr': _CHECK_NUMERICS,
  # tf.compat.v1.train.Saver saves no Keras 3 variable: a Checkpoint does.
  'Saver': Call(
    '{tf}.train.Checkpoint',
    ('var_list',),
    (('var_list', 'variables'),),
    made=Made.SAVER,
    advice=_CHECKPOINT.advice,
    note=(
      'behaviour change: a tf.train.Checkpoint numbers its files by its own '
      'saves (prefix-1, prefix-2, ...; tf.train.latest_checkpoint finds the '
      'last) where tfe.Saver used global_step, and keys the variables by '
      'their place in the list where tfe.Saver used their names: it cannot '
      'read a TF 1.x checkpoint'
    ),
  ),
  'CheckpointableSaver': _CHECKPOINT,
  'save_network_checkpoint': _CHECKPOINT,
  'restore_network_checkpoint': _CHECKPOINT,
  'restore_variables_on_create': Report(
    'no TF2 equivalent; tf.train.Checkpoint(...).restore(path) restores '
    'each variable when it is created'
  ),
  # A base class: `self.track_layer(layer)` in its subclasses becomes
  # `layer`.
  'Network': Renamed('{tf}.keras.Model'),
  # TF 1.5's writer, made from a log directory (TF 1.15 exported the
  # class only, made by tf.contrib.summary.create_file_writer).
  'SummaryWriter': Call(
    '{tf}.summary.create_file_writer',
    ('logdir', 'max_queue', 'flush_secs', 'filename_suffix'),
    refused=('flush_secs',),
    advice=(
      'no drop-in; writer = tf.summary.create_file_writer(logdir), '
      'then `with writer.as_default(): tf.summary.scalar(name, value, '
      'step=step)`, counting the steps yourself'
    ),
  ),
  'Sequential': Report(
    'no drop-in; tf.keras.Sequential takes layers (wrap plain functions '
    'in tf.keras.layers.Lambda)'
  ),
  'set_execution_mode': _EXECUTION_MODE,
  'execution_mode': _EXECUTION_MODE,
  'async_wait': _EXECUTION_MODE,
  'SYNC': _EXECUTION_MODE,
  'ASYNC': _EXECUTION_MODE,
  'DEVICE_PLACEMENT_EXPLICIT': _DEVICE_POLICY,
  'DEVICE_PLACEMENT_WARN': _DEVICE_POLICY,
  # Given to enable_eager_execution as its device_policy, the keyword goes
  # instead: it is TF 2's default policy.
  'DEVICE_PLACEMENT_SILENT': _DEVICE_POLICY,
  'run_test_in_graph_and_eager_modes': _GRAPH_AND_EAGER_TESTS,
  'run_all_tests_in_graph_and_eager_modes': _GRAPH_AND_EAGER_TESTS,
}

# With --tfp; the other `tfp.math` functions stay as they are.
MATH_RULES: dict[str, Rule] = {
  'value_and_gradient': Gradient(),
  'value_and_gradient_with_auto_expansion': Gradient(),
  'value_and_batch_jacobian': Gradient(),
  'batch_jacobian': Gradient(),
}

# A tape opened inside another that watches what the outer one does not:
# TF 1.11 and earlier watched a tensor on every active tape; TF 1.12 and
# TF 2 watch it on that tape only.
GRADIENT_TAPE = TENSORFLOW + '.GradientTape'
NESTED_WATCH = (
  'TF 2 watches {tensor} on tape {inner} only (TF 1.11 and earlier watched '
  'it on every active tape): {outer}.gradient(..., {tensor}) is '
  'None{unless}; add '
  '{outer}.watch({tensor}) inside `with ... as {outer}:`'
)
UNLESS_VARIABLE = ' if {tensor} is not a tf.Variable'
NO_VARIABLES = ' ({outer} watches no variable by itself)'

UNKNOWN = Report(
  'not a tf.contrib.eager name of TensorFlow 1.15; rewrite it by hand'
)
AS_VALUE = Report('the module itself is used here; rewrite this by hand')
STAR_IMPORT = Report(
  'a star import hides which names are used; import them by name'
)
CONTRIB_STAYS = Report(
  'TensorFlow 2 has no tensorflow.contrib: this import stays for the names '
  'reported below, and the program fails here until they are rewritten by '
  'hand'
)


_STEP = ('step', '{tf}.compat.v1.train.get_or_create_global_step()')
_SUMMARY = ('name', 'tensor', 'family', 'step')
_OPTIMIZER_ADVICE = (
  'no drop-in where the program calls minimize() or compute_gradients(); '
  '--tf-upgrade-v2 keeps it as tf.compat.v1.train'
)

LAYER_DTYPE = (
  'behaviour change: a TF 1.x layer took its dtype from its first input '
  "(float64 in, float64 weights and outputs); a Keras layer computes in "
  "float32 and casts its inputs: pass dtype='float64' if it is fed float64"
)
_SUMMARY_V1 = (
  'behaviour change: a TF 1.x summary op returns a serialized Summary, '
  'written only by tf.compat.v1.summary.FileWriter.add_summary(), or by a '
  'TF 2 default writer once tf.summary.experimental.set_step(step) is '
  "called; TF 2's tf.summary.{name}(name, data, step=step) writes itself"
)
# What TF 1.x `tf.summary` functions took: TF 2's take other arguments
# (`data`, `step`, `description`), so a call with one of those is TF 2 code.
_SUMMARY_V1_PARAMETERS = {
  'scalar': ('name', 'tensor', 'collections', 'family'),
  'histogram': ('name', 'values', 'collections', 'family'),
  'image': ('name', 'tensor', 'max_outputs', 'collections', 'family'),
  'audio': (
    'name',
    'tensor',
    'sample_rate',
    'max_outputs',
    'collections',
    'family',
  ),
  'text': ('name', 'tensor', 'collections'),
}

# TF 1.x names outside tf.contrib.eager (after `tf.`) that old eager training
# code needs, rewritten where TensorFlow 2 has a clear equivalent.
TF_RULES: dict[str, Rule] = {
  **{
    f'summary.{name}': Call(
      '{tf}.compat.v1.summary.' + name,
      parameters,
      note=_SUMMARY_V1.format(name=name),
    )
    for name, parameters in _SUMMARY_V1_PARAMETERS.items()
  },
  **{
    f'layers.{name}': Renamed(
      '{tf}.keras.layers.' + name,
      note='' if name == 'InputSpec' else LAYER_DTYPE,
    )
    for name in (
      'AveragePooling1D',
      'AveragePooling2D',
      'AveragePooling3D',
      'BatchNormalization',
      'Conv1D',
      'Conv2D',
      'Conv2DTranspose',
      'Conv3D',
      'Conv3DTranspose',
      'Dense',
      'Dropout',
      'Flatten',
      'InputSpec',
      'Layer',
      'MaxPooling1D',
      'MaxPooling2D',
      'MaxPooling3D',
      'SeparableConv1D',
      'SeparableConv2D',
    )
  },
  'contrib.summary.create_summary_file_writer': Renamed(
    '{tf}.summary.create_file_writer'
  ),
  'contrib.summary.create_file_writer': Renamed(
    '{tf}.summary.create_file_writer'
  ),
  'contrib.summary.always_record_summaries': Renamed(
    '{tf}.summary.record_if(True)', arity=0
  ),
  'contrib.summary.never_record_summaries': Renamed(
    '{tf}.summary.record_if(False)', arity=0
  ),
  'contrib.summary.flush': Renamed('{tf}.summary.flush'),
  'contrib.summary.scalar': Call(
    '{tf}.summary.scalar',
    _SUMMARY,
    (('tensor', 'data'),),
    (_STEP,),
    ('family',),
  ),
  'contrib.summary.histogram': Call(
    '{tf}.summary.histogram',
    _SUMMARY,
    (('tensor', 'data'),),
    (_STEP,),
    ('family',),
  ),
  # It has no slots: it updates Keras 3 variables too.
  'train.GradientDescentOptimizer': Renamed(
    '{tf}.compat.v1.train.GradientDescentOptimizer'
  ),
  'train.MomentumOptimizer': Call(
    '{tf}.keras.optimizers.SGD',
    ('learning_rate', 'momentum', 'use_locking', 'name', 'use_nesterov'),
    (('use_locking', None), ('use_nesterov', 'nesterov')),
    optimizer=True,
    advice=_OPTIMIZER_ADVICE,
  ),
  'train.AdamOptimizer': Call(
    '{tf}.keras.optimizers.Adam',
    ('learning_rate', 'beta1', 'beta2', 'epsilon', 'use_locking', 'name'),
    (('beta1', 'beta_1'), ('beta2', 'beta_2'), ('use_locking', None)),
    (('epsilon', '1e-08'),),
    optimizer=True,
    advice=_OPTIMIZER_ADVICE,
  ),
}

# TF 1.x RNN cells, which TF 2 keeps as Keras 2 layers that raise with
# Keras 3, and the Keras cell of each: (parameters, the ones it takes, what
# the new one needs to compute the same function, what the cell makes).
_CELL_PARAMETERS = ('num_units', 'activation', 'reuse', 'name', 'dtype')
_CELLS = {
  'BasicLSTMCell': (
    'LSTMCell',
    ('num_units', 'forget_bias', 'state_is_tuple', *_CELL_PARAMETERS[1:]),
    (),
    Made.LSTM,
  ),
  'LSTMCell': (
    'LSTMCell',
    (
      'num_units',
      'use_peepholes',
      'cell_clip',
      'initializer',
      'num_proj',
      'proj_clip',
      'num_unit_shards',
      'num_proj_shards',
      'forget_bias',
      'state_is_tuple',
      *_CELL_PARAMETERS[1:],
    ),
    (),
    Made.LSTM,
  ),
  # TF 1.x applied the reset gate before the recurrent kernel.
  'GRUCell': (
    'GRUCell',
    (
      'num_units',
      'activation',
      'reuse',
      'kernel_initializer',
      'bias_initializer',
      'name',
      'dtype',
    ),
    (('reset_after', 'False'),),
    Made.CELL,
  ),
  'BasicRNNCell': ('SimpleRNNCell', _CELL_PARAMETERS, (), Made.CELL),
  'MultiRNNCell': (
    'StackedRNNCells',
    ('cells', 'state_is_tuple'),
    (),
    Made.CELL,
  ),
}
KERAS_CELL_ADVICE = (
  'no drop-in for this use; make the Keras cell (tf.keras.layers.LSTMCell, '
  'GRUCell, SimpleRNNCell, StackedRNNCells) with the arguments it has'
)
# What a Keras cell takes too (not `reuse=`, which shared TF 1.x variable
# scopes, which Keras layers never join).
_CELL_KEPT = (
  'num_units',
  'cells',
  'activation',
  'kernel_initializer',
  'bias_initializer',
  'name',
  'dtype',
)
# Where TF 1.x code reached them.
_CELL_MODULES = ('nn.rnn_cell.', 'compat.v1.nn.rnn_cell.', 'contrib.rnn.')
_CELL_NOTE = (
  'behaviour change: a Keras cell initialises its weights otherwise '
  '(recurrent kernels orthogonal){lstm}, so it trains to other numbers and '
  'cannot read a TF 1.x checkpoint of the cell'
)
_LSTM_NOTE = (
  ', keeps its state as [h, c] where TF 1.x had LSTMStateTuple(c, h) '
  '(state.c and state.h are rewritten where the state is named), and '
  'learns a forget bias initialised to 1 where TF 1.x added forget_bias=1.0'
)
TF_RULES.update(
  {
    module + name: Call(
      '{tf}.keras.layers.' + keras,
      parameters,
      keywords=(('num_units', 'units'),),
      defaults=defaults,
      refused=tuple(p for p in parameters if p not in _CELL_KEPT),
      made=made,
      advice=KERAS_CELL_ADVICE,
      note=_CELL_NOTE.format(lstm=_LSTM_NOTE if made is Made.LSTM else ''),
    )
    for name, (keras, parameters, defaults, made) in _CELLS.items()
    for module in _CELL_MODULES
  }
)

# Functions of TF 1.x `tf.layers` that hold no variables: the same Keras
# layer, made and applied in one expression. (The others made variables on
# each call: a Keras layer must be made once.)
_POOLING = ('pool_size', 'strides', 'padding', 'data_format', 'name')
TF_RULES.update(
  {
    'layers.dropout': Call(
      '{tf}.keras.layers.Dropout',
      ('inputs', 'rate', 'noise_shape', 'seed', 'training', 'name'),
      applied=('inputs', 'training'),
    ),
    'layers.flatten': Call(
      '{tf}.keras.layers.Flatten',
      ('inputs', 'name', 'data_format'),
      applied=('inputs',),
    ),
    **{
      f'layers.{kind}_pooling{n}d': Call(
        f'{{tf}}.keras.layers.{kind.title()}Pooling{n}D',
        ('inputs', *_POOLING),
        applied=('inputs',),
      )
      for kind in ('max', 'average')
      for n in (1, 2, 3)
    },
  }
)

# The functions of TF 1.x `tf.layers` and the Keras layer each one made.
TF_LAYER_FUNCTIONS = {
  'average_pooling1d': 'AveragePooling1D',
  'average_pooling2d': 'AveragePooling2D',
  'average_pooling3d': 'AveragePooling3D',
  'batch_normalization': 'BatchNormalization',
  'conv1d': 'Conv1D',
  'conv2d': 'Conv2D',
  'conv2d_transpose': 'Conv2DTranspose',
  'conv3d': 'Conv3D',
  'conv3d_transpose': 'Conv3DTranspose',
  'dense': 'Dense',
  'dropout': 'Dropout',
  'flatten': 'Flatten',
  'max_pooling1d': 'MaxPooling1D',
  'max_pooling2d': 'MaxPooling2D',
  'max_pooling3d': 'MaxPooling3D',
  'separable_conv1d': 'SeparableConv1D',
  'separable_conv2d': 'SeparableConv2D',
}

# TensorFlow 1.x names (`tf.`-rooted) and their TensorFlow 2 spelling, for the
# report; a prefix maps every name under it.
TF_EQUIVALENTS: dict[str, str] = {
  'tf.layers': 'tf.keras.layers',
  'tf.contrib.summary': 'tf.summary',
}


# TF 1.x modules TensorFlow 2 removed, and what replaces them.
REMOVED_MODULES: dict[str, str] = {
  'tensorflow.examples.tutorials.mnist': (
    'removed in TensorFlow 2; (x_train, y_train), (x_test, y_test) = '
    'tf.keras.datasets.mnist.load_data() gives uint8 images of shape '
    '(N, 28, 28) in 0..255 and int labels, where read_data_sets gave '
    'float32 rows of 784 in [0, 1] (and one-hot float labels with '
    "one_hot=True), and kept 5000 training images for validation: use "
    "x.reshape(-1, 784).astype('float32') / 255 and tf.one_hot(y, 10), "
    'and batches of tf.data.Dataset.from_tensor_slices((x, y))'
    '.shuffle(60000).batch(n) for mnist.train.next_batch(n)'
  ),
}


def removed_module(path: str) -> str | None:
  """What replaces the removed TF 1.x module `path` is in, if it is."""
  for module, advice in REMOVED_MODULES.items():
    if path == module or path.startswith(module + '.'):
      return advice
  return None


# NumPy names (after `np.`) that NumPy removed, and their replacement.
NUMPY_RULES: dict[str, Rule] = {
  # NumPy 1.23 removed it; it returned `a.item()`.
  'asscalar': Renamed(
    '{np}.asarray({args}).item()',
    arity=1,
    advice='removed in NumPy 1.23; use np.asarray(x).item()',
  ),
}


def rules_under(path: str) -> bool:
  """Whether some TF 1.x name this command rewrites is inside the module
  `path` (`tensorflow.contrib.summary`)."""
  prefix = path[len(TENSORFLOW) + 1 :] + '.'
  return path.startswith(TENSORFLOW + '.') and any(
    name.startswith(prefix) for name in TF_RULES
  )


def lookup(module: str, rest: str) -> tuple[str, Rule | None]:
  """The rule for `module.rest`, and the name it is for.

  `rest` may go on past the rule's name (`metrics.Mean.result` is
  `metrics.Mean`'s). An unknown `tf.contrib.eager` name gets `UNKNOWN`; a
  `tfp.math` name other than the gradient functions gets `None`.
  """
  rules = {
    EAGER: EAGER_RULES,
    MATH: MATH_RULES,
    TENSORFLOW: TF_RULES,
    NUMPY: NUMPY_RULES,
  }[module]
  parts = rest.split('.')
  for end in range(len(parts), 0, -1):
    name = '.'.join(parts[:end])
    if name in rules:
      return name, rules[name]
  return rest, UNKNOWN if module == EAGER else None
