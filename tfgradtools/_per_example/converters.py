"""The ops of one example's graph that `pfor` gets a conversion of ours for.

`set_converters` reads the ops built for one example, before `pfor`
vectorises them, and gives some of them their own conversion:

* a broadcast matrix product, which TensorFlow 2.21's own conversion
  computes with wrong strides (`_matmul_of_flat_rows`);
* a gather from a variable (`tf.gather` on a `tf.Variable`), which `pfor`
  has no conversion for: the variable is read once, and its rows gathered;
* a counter each example advances by a constant step — a Keras seed
  generator, which each random layer draws its seed from. In a loop, example
  `i` reads the counter after `i` steps, so each example draws its own
  random values (its own dropout mask); vectorised, every example would
  read the same value. Each example's read is made the loop's, and the
  counter ends where the loop leaves it after the chunk's examples (a last
  chunk filled up with earlier examples advances it for those too);
* a stateless random op, whose seed then differs per example: a loop over
  the examples for that op alone, as `pfor` does for the older stateless
  random ops;
* 3-D convolutions, converted as `pfor` converts 2-D ones (the kernel's
  per-example gradient in a loop over the examples, as for 2-D).

All of this is TensorFlow's private `pfor`, the only way to vectorise
with these conversions (the public `tf.vectorized_map` takes none, and
would give every example of a chunk the same random draws). It is used
only where `private_pfor` finds it as expected; elsewhere every example
runs in a `tf.while_loop` (public API), with the same results, as with
`experimental_use_pfor=False`. What it buys, for a 1M-parameter MLP at
batch 256 in `tf.function` (against one batch gradient): norms 0.61×
instead of 2.4×, the clipped aggregate 1.2× instead of 19×, per-example
gradients 33× instead of 47×.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import tensorflow as tf


def _private(name: str) -> Any:
  """A module of TensorFlow's `pfor`, or `None` where there is none."""
  try:
    return importlib.import_module(f'tensorflow.python.ops.parallel_for.{name}')
  except ImportError:
    return None


# TensorFlow's `pfor`, behind `tf.vectorized_map`, with what its public
# function does not offer: conversions of our own for some ops, and the
# while-loop fallback for one op alone. Private: `private_pfor` checks it.
control_flow_ops = _private('control_flow_ops')
pfor_lib = _private('pfor')

# What is used of each private module.
_USED = (
  ('control_flow_ops', ('pfor', '_is_under_xla_context')),
  (
    'pfor_lib',
    (
      'wrap',
      '_convert_batch_mat_mul_v2',
      '_fallback_converter',
      '_convert_flatten_batch',
      '_convert_flatten_batch_shape_input',
    ),
  ),
)


def pfor_is_usable(modules: dict[str, Any]) -> bool:
  """Whether the private `modules` are as this code uses them.

  Every name used must exist, and `pfor` must honour a conversion set on an
  op (tried on one small graph, traced and never run). Where any of that
  fails — another TensorFlow version — the per-example functions map their
  examples with a `tf.while_loop` instead (`mapping.mapping_for`): the same
  results, from public API only.
  """
  for module_name, names in _USED:
    module = modules.get(module_name)
    if module is None or not all(hasattr(module, n) for n in names):
      return False
  try:
    return _honours_converters(modules['control_flow_ops'], modules['pfor_lib'])
  except Exception:  # pylint: disable=broad-except
    return False  # Whatever changed, the loop does not depend on it.


@functools.cache
def private_pfor() -> bool:
  """Whether this TensorFlow's private `pfor` is usable, checked once."""
  return pfor_is_usable(
    {'control_flow_ops': control_flow_ops, 'pfor_lib': pfor_lib}
  )


def _honours_converters(flow: Any, lib: Any) -> bool:
  """Whether `pfor` converts an op by the conversion set on it."""
  used = []

  def converter(pfor_input: Any) -> Any:
    used.append(True)
    value, stacked, _ = pfor_input.input(0)
    return lib.wrap(tf.identity(value), stacked)

  def loop_fn(i: tf.Tensor) -> tf.Tensor:
    out = tf.identity(tf.cast(i, tf.float32))
    out.op.pfor_converter = converter
    return out

  with tf.Graph().as_default():  # Built, never run.
    out = flow.pfor(loop_fn, 2)
  return bool(used) and out.shape == [2]


# The random ops that take a per-example key and counter, converted by a
# loop over the examples (their kernels draw from one key at a time).
_STATELESS_RANDOM = frozenset(
  {
    'StatelessRandomGetKeyCounter',
    'StatelessRandomGetKeyCounterAlg',
    'StatelessRandomUniformV2',
    'StatelessRandomNormalV2',
    'StatelessTruncatedNormalV2',
    'StatelessRandomUniformIntV2',
    'StatelessRandomUniformFullIntV2',
  }
)


def set_converters(
  ops: list[tf.Operation], index: tf.Tensor, size: Any
) -> None:
  """Gives `ops` (one example's, in creation order) our conversions.

  Args:
    ops: the ops built for one example.
    index: the example's position in the chunk, `pfor`'s loop index.
    size: the number of examples in the chunk.
  """
  for op in ops:
    if (
      op.type == 'BatchMatMulV2'
      and op.inputs[1].shape.rank == 2
      and (op.inputs[0].shape.rank or 0) >= 3
    ):
      op.pfor_converter = _matmul_of_flat_rows
    elif op.type == 'ResourceGather' and op.get_attr('batch_dims') == 0:
      op.pfor_converter = _gather_of_one_read
    elif op.type in _STATELESS_RANDOM or op.type == 'Conv3DBackpropFilterV2':
      op.pfor_converter = _looped_op
    elif op.type == 'Conv3D':
      op.pfor_converter = _conv3d
    elif op.type == 'Conv3DBackpropInputV2':
      op.pfor_converter = _conv3d_backprop_input
  _advance_counters(ops, index, size)


def _matmul_of_flat_rows(pfor_input: Any) -> Any:
  """`BatchMatMulV2(x, w)` with a loop-invariant matrix, as a 2-D product.

  `pfor` turns an example's `[..., n, k] @ [k, m]` into a product of a
  rank-4-or-more Tensor with a broadcast matrix, which TensorFlow 2.21's
  oneDNN kernel computes with wrong strides, corrupting the heap (TensorFlow
  issues 117700 and 123109: `EinsumDense` layers, `tf.matmul` of
  sequences). The flattened rows are multiplied instead: the same product,
  and one large matrix multiplication.
  """
  x, x_stacked, _ = pfor_input.input(0)
  w, w_stacked, _ = pfor_input.input(1)
  if not x_stacked or w_stacked:
    return pfor_lib._convert_batch_mat_mul_v2(pfor_input)  # pylint: disable=protected-access
  if pfor_input.get_attr('adj_x'):
    x = tf.math.conj(tf.linalg.matrix_transpose(x))
  rows = tf.reshape(x, [-1, tf.shape(x)[-1]])
  product = tf.matmul(rows, w, adjoint_b=pfor_input.get_attr('adj_y'))
  return pfor_lib.wrap(
    tf.reshape(
      product, tf.concat([tf.shape(x)[:-1], tf.shape(product)[-1:]], 0)
    ),
    True,
  )


def _gather_of_one_read(pfor_input: Any) -> Any:
  """`ResourceGather` with per-example indices: one read, then a gather."""
  handle = pfor_input.unstacked_input(0)
  indices, _, _ = pfor_input.input(1)
  value = tf.raw_ops.ReadVariableOp(
    resource=handle, dtype=pfor_input.get_attr('dtype')
  )
  return pfor_lib.wrap(tf.gather(value, indices), True)


def _conv3d(pfor_input: Any) -> Any:
  """`Conv3D` of per-example inputs: one convolution of their batch.

  As `pfor` converts `Conv2D` (it has no conversion of `Conv3D`).
  """
  return pfor_lib._convert_flatten_batch(pfor_input, 'Conv3D', dims=[0])  # pylint: disable=protected-access


def _conv3d_backprop_input(pfor_input: Any) -> Any:
  """`Conv3DBackpropInputV2` of per-example output gradients, batched.

  As `pfor` converts `Conv2DBackpropInput`.
  """
  return pfor_lib._convert_flatten_batch_shape_input(  # pylint: disable=protected-access
    pfor_input, 'Conv3DBackpropInputV2', flatten_dims=[2], shape_dim=0
  )


def _looped_op(pfor_input: Any) -> Any:
  """An op with per-example inputs, in a loop over the examples."""
  return pfor_lib._fallback_converter(pfor_input, warn=False)  # pylint: disable=protected-access


def _advance_counters(
  ops: list[tf.Operation], index: tf.Tensor, size: Any
) -> None:
  """Makes each example read a counter as the loop would (see above).

  A counter is a variable the example assigns once, its read plus a
  constant step. `pfor` keeps that assignment as written, run once for the
  chunk; it now adds `size` steps, where the loop leaves the counter. Every
  read of it by the example becomes the read plus `index` steps (one more
  after the assignment), which `pfor` vectorises over the examples.
  """
  for k, assign in enumerate(ops):
    counter = _counter(assign)
    if counter is None:
      continue
    handle, own_read, step = counter
    if (
      sum(
        op.type == 'AssignVariableOp' and op.inputs[0] is handle for op in ops
      )
      != 1
    ):
      continue
    with tf.name_scope('per_example_counter'):
      for position, read in enumerate(ops):
        if read.type == 'ReadVariableOp' and read.inputs[0] is handle:
          value = read.outputs[0]
          _replace(
            value,
            value + tf.cast(index + int(position > k), value.dtype) * step,
          )
      assign._update_input(1, own_read + tf.cast(size, own_read.dtype) * step)  # pylint: disable=protected-access


def _replace(value: tf.Tensor, by: tf.Tensor) -> None:
  """Makes every op reading `value`, but those computing `by`, read `by`."""
  for consumer in value.consumers():
    if consumer is not by.op:
      for i, t in enumerate(consumer.inputs):
        if t is value:
          consumer._update_input(i, by)  # pylint: disable=protected-access


def _counter(op: tf.Operation) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor] | None:
  """`(handle, read, step)` if `op` assigns its variable's read + a step."""
  if op.type != 'AssignVariableOp' or op.inputs[1].op.type not in (
    'AddV2',
    'Add',
  ):
    return None
  handle = op.inputs[0]
  terms = list(op.inputs[1].op.inputs)
  reads = [
    t
    for t in terms
    if t.op.type == 'ReadVariableOp' and t.op.inputs[0] is handle
  ]
  steps = [t for t in terms if t.op.type == 'Const']
  if len(reads) != 1 or len(steps) != 1:
    return None
  return handle, reads[0], steps[0]
