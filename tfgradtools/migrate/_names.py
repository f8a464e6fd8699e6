"""What each old name becomes: `tf.contrib.eager` and `tfp.math` gradients.

Each entry of `CONTRIB_EAGER` is one of:

* `TRANSFORMER` — a gradient transformer, now in `tfgradtools.eager`;
* a `Rename` — the TF2 expression that replaces the name (`{tf}` stands for
  the file's TensorFlow alias), or, with `call`, that replaces a call of it
  without arguments;
* an `Unmapped` — no TF2 equivalent: the name is left and reported with
  what to do.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Rename:
  expression: str
  call: bool = False  # Replaces `name()`, not the name: it is an expression.


@dataclasses.dataclass(frozen=True)
class Unmapped:
  advice: str


TRANSFORMER = 'tfgradtools.eager'

TRANSFORMERS = ('gradients_function', 'value_and_gradients_function',
                'implicit_gradients', 'implicit_value_and_gradients',
                'make_vjp')

_CHECK_NUMERICS = Unmapped('TF2 has no execution callbacks; use '
                           'tf.debugging.enable_check_numerics() to catch '
                           'NaN and Inf')
_ASYNC = Unmapped('TF2 runs eagerly and synchronously by default; use '
                  'tf.config.experimental.set_synchronous_execution to '
                  'change it')
_PLACEMENT = Unmapped('use tf.config.set_soft_device_placement instead of '
                      'device placement policies')

CONTRIB_EAGER: dict[str, object] = {
    **{name: TRANSFORMER for name in TRANSFORMERS},
    'GradientTape': Rename('{tf}.GradientTape'),
    'Variable': Rename('{tf}.Variable'),
    'defun': Rename('{tf}.function'),
    'function': Rename('{tf}.function'),
    'py_func': Rename('{tf}.py_function'),
    'custom_gradient': Rename('{tf}.custom_gradient'),
    'Checkpoint': Rename('{tf}.train.Checkpoint'),
    'Iterator': Rename('iter'),
    'executing_eagerly': Rename('{tf}.executing_eagerly'),
    'in_eager_mode': Rename('{tf}.executing_eagerly'),
    'enable_eager_execution': Rename('{tf}.compat.v1.enable_eager_execution'),
    'num_gpus': Rename("len({tf}.config.list_physical_devices('GPU'))",
                       call=True),
    'list_devices': Rename('{tf}.config.list_logical_devices'),
    'metrics': Rename('{tf}.keras.metrics'),
    'Sequential': Rename('{tf}.keras.Sequential'),
    'TensorSpec': Rename('{tf}.TensorSpec'),
    'make_template': Rename('{tf}.compat.v1.make_template'),
    'EagerVariableStore': Rename('{tf}.compat.v1.EagerVariableStore'),
    'run': Rename('{tf}.compat.v1.app.run'),
    'connect_to_remote_host': Rename('{tf}.config.experimental_connect_to_host'),
    'Network': Unmapped('subclass tf.keras.Model (or tf.Module) instead'),
    'Saver': Unmapped('use tf.train.Checkpoint(**objects).save / .restore'),
    'save_network_checkpoint': Unmapped('use tf.train.Checkpoint(model=...)'
                                        '.save'),
    'restore_network_checkpoint': Unmapped('use tf.train.Checkpoint('
                                           'model=...).restore'),
    'restore_variables_on_create': Unmapped(
        'restore with tf.train.Checkpoint(...).restore, which also restores '
        'variables created later (deferred restoration)'),
    'get_optimizer_variables': Unmapped('use optimizer.variables'),
    'Checkpointable': Unmapped('subclass tf.Module (tracked by '
                               'tf.train.Checkpoint)'),
    'CheckpointableSaver': Unmapped('use tf.train.Checkpoint'),
    'in_graph_mode': Unmapped('use `not tf.executing_eagerly()`'),
    'enable_remote_eager_execution': Unmapped(
        'TF2 is eager by default; connect with '
        'tf.config.experimental_connect_to_cluster'),
    'set_server_def': Unmapped('use tf.config.experimental_connect_to_cluster'),
    'connect_to_cloud_tpu': Unmapped(
        'use tf.distribute.cluster_resolver.TPUClusterResolver with '
        'tf.config.experimental_connect_to_cluster'),
    'add_execution_callback': _CHECK_NUMERICS,
    'clear_execution_callbacks': _CHECK_NUMERICS,
    'inf_callback': _CHECK_NUMERICS,
    'inf_nan_callback': _CHECK_NUMERICS,
    'nan_callback': _CHECK_NUMERICS,
    'seterr': _CHECK_NUMERICS,
    'errstate': _CHECK_NUMERICS,
    'set_execution_mode': _ASYNC,
    'execution_mode': _ASYNC,
    'async_wait': _ASYNC,
    'async_clear_error': _ASYNC,
    'SYNC': _ASYNC,
    'ASYNC': _ASYNC,
    'DEVICE_PLACEMENT_EXPLICIT': _PLACEMENT,
    'DEVICE_PLACEMENT_WARN': _PLACEMENT,
    'DEVICE_PLACEMENT_SILENT': _PLACEMENT,
    'run_test_in_graph_and_eager_modes': Unmapped(
        'TF2 tests run eagerly; use tf.test.TestCase and tf.function for the '
        'graph case'),
    'run_all_tests_in_graph_and_eager_modes': Unmapped(
        'TF2 tests run eagerly; use tf.test.TestCase and tf.function for the '
        'graph case'),
}

UNKNOWN = Unmapped('not a tf.contrib.eager name tfgradtools.migrate knows; '
                   'find its TF2 replacement by hand')

# The gradient functions of tfp.math that tfgradtools.math replaces.
TFP_MATH = ('value_and_gradient', 'value_and_batch_jacobian',
            'batch_jacobian', 'value_and_gradient_with_auto_expansion')
