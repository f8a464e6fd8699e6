"""Per-example gradient norms without forming the per-example gradients.

Where every use of a parameter in the graph of one example's loss is a
contraction — a matrix product (`tf.matmul`, a Keras `Dense`), an `einsum`
(`EinsumDense`), a 1-D or 2-D convolution (`Conv1D`, `Conv2D`) —, a gather
of its rows (`Embedding`), or an elementwise sum or product with it
broadcast (a bias, the scale and offset of `LayerNormalization` and
`GroupNormalization`), its gradient is known from the uses' other inputs
and the gradients of their outputs.

For a contraction the gradient is `Xᵀ Y`: the rows of `X` come from the
uses' other inputs (one row per position of the example: one for a `Dense`
layer on a vector, one per time step on a sequence, one per output pixel
of a convolution, whose row is the input patch that pixel sees), those of
`Y` from the gradients of the uses' outputs. Its squared norm is then
`sum((X Xᵀ) * (Y Yᵀ))`, which needs `N × N` Gram matrices for `N` rows
instead of the `P × Q` gradient: the outer-product identity of Goodfellow
(2015), which TensorFlow Privacy's fast clipping applies to `tf.keras`
layers, and ghost clipping (Li et al., 2022; Bu et al., 2023) to
convolutions. Where the Gram matrices (with a convolution's patches,
which must be built) would be larger than the gradient (many positions
through a small layer, as in a convolution of large images), the gradient
is materialised instead. An elementwise use's gradient has the
parameter's size: it is formed, summed over the positions.

`plan` reads the graph built for one example (`f` always sees one example,
so every row belongs to it) and lists a parameter's uses, through reshapes
of it (which keep its norm); a parameter with any other use on the way to
the loss (another op, a nested function or loop, a cast) gets `None`, and
its gradient is materialised instead.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import tensorflow as tf

# Ops through which a value passes unchanged, ops that only reshape it
# (their gradient reshapes back: the norm is the same), and ops that read
# only its shape (no gradient flows through them).
_PASS_THROUGH = frozenset({'Identity'})
_RESHAPES = frozenset({'Reshape', 'ExpandDims', 'Squeeze'})
_SHAPE_ONLY = frozenset({'Shape', 'ShapeN', 'Size', 'Rank'})
_ELLIPSIS = '.'  # One token for einsum's '...'.


@dataclasses.dataclass(frozen=True)
class Use:
  """One use of a parameter whose gradient is `rowsᵀ @ columns(d output)`.

  Attributes:
    kind: `'dense'` (`rows` is `X`, `[N, P]`), `'gather'` (`rows` holds the
      `N` gathered indices: `X` is their one-hot rows) or `'elementwise'`
      (`X` is a column of ones; `rows` is `None`).
    layout: the shape the use sees the parameter in (a reshape of it), and
      which of its axes `X` and `Y` span: uses of one parameter combine
      only with the same layout.
    output: the Tensor whose gradient gives `Y`.
    rows: builds `X`, or the gathered indices (`None` for an elementwise
      use).
    columns: `Y`, `[N, Q]`, from the gradient of the loss w.r.t. `output`.
    built: whether `X` is built (a convolution's patches: `N × P` new
      values) rather than read from the graph.
  """

  kind: str
  layout: tuple[Any, ...]
  output: tf.Tensor
  rows: Callable[[], tf.Tensor] | None
  columns: Callable[[tf.Tensor], tf.Tensor]
  built: bool = False


def ancestors(tensor: tf.Tensor) -> set[tf.Operation]:
  """The ops `tensor` depends on through data edges, itself included."""
  seen: set[tf.Operation] = set()
  stack = [tensor.op]
  while stack:
    op = stack.pop()
    if op not in seen:
      seen.add(op)
      stack.extend(t.op for t in op.inputs)
  return seen


def plan(
  parameter: tf.Tensor, shape: tf.TensorShape, needed: set[tf.Operation]
) -> list[Use] | None:
  """Every use of `parameter` among the ops `needed`, or `None`.

  Args:
    parameter: a variable's resource handle, or a Tensor parameter, in the
      graph that computes the loss.
    shape: the parameter's shape (fully defined, else `None` is returned).
    needed: the ops the loss depends on (`ancestors(loss)`); other uses do
      not change its gradient.

  Returns:
    The uses (at least one, all of one kind and layout), or `None` where
    the parameter's gradient must be materialised.
  """
  if not shape.is_fully_defined():
    return None
  uses: list[Use] = []
  values: list[tuple[tf.Tensor, tf.TensorShape]] = []
  if parameter.dtype == tf.resource:
    for op in _consumers(parameter, needed):
      if op.type == 'ReadVariableOp':
        values.append((op.outputs[0], shape))
      elif op.type == 'ResourceGather' and op.get_attr('batch_dims') == 0:
        uses.append(_gather(op.inputs[1], op.outputs[0], shape))
      else:
        return None
  else:
    values.append((parameter, shape))
  while values:
    value, seen_as = values.pop()
    for op in _consumers(value, needed):
      if op.type in _PASS_THROUGH:
        values.append((op.outputs[0], seen_as))
      elif op.type in _RESHAPES:
        reshaped = op.outputs[0].shape
        if (
          op.inputs[0] is not value
          or not reshaped.is_fully_defined()
          or reshaped.num_elements() != seen_as.num_elements()
        ):
          return None
        values.append((op.outputs[0], reshaped))
      elif op.type not in _SHAPE_ONLY:
        use = _use(op, value, seen_as)
        if use is None:
          return None
        uses.append(use)
  if not uses or len({(u.kind, u.layout) for u in uses}) > 1:
    return None
  if uses[0].kind == 'dense' and not _gram_is_smaller(uses):
    return None
  return uses


def _gram_is_smaller(uses: list[Use]) -> bool:
  """Whether the Gram matrices of contractions `uses` add fewer values than
  forming each example's gradient.

  They add `N²` values for `N` rows (and the `N × P` rows, where those are
  built), the gradient `P × Q`. Where the gradient is the smaller (many
  positions through a small layer: long sequences, large images), it is
  materialised, and then serves the clipped sum too. Rows whose number is
  known only at run time are taken to be few.
  """
  shape, x_axes, y_axes = uses[0].layout
  p = math.prod(shape[axis] for axis in x_axes)
  q = math.prod(shape[axis] for axis in y_axes)
  counts = [use.output.shape.num_elements() for use in uses]
  if None in counts:
    return True
  rows = sum(counts) // q
  built = any(use.built for use in uses)
  return bool(rows * (rows + (p if built else 0)) <= p * q)


def squared_norm(
  uses: list[Use], grads: list[tf.Tensor | None]
) -> tf.Tensor | None:
  """`‖Σ_uses rowsᵀ @ columns‖²` for one example; `None` if unconnected.

  In `accumulation_dtype(the gradient's dtype)`. Where the example has
  several rows, the Gram matrices' terms can cancel, so they are formed and
  summed in `float64`: exact to the rounding of the gradient itself, never
  an underestimate beyond it.
  """
  connected = [
    (use, grad)
    for use, grad in zip(uses, grads, strict=True)
    if grad is not None
  ]
  if not connected:
    return None
  y = tf.concat([use.columns(grad) for use, grad in connected], 0)
  dtype = result = accumulation_dtype(y.dtype)
  kind = connected[0][0].kind
  if kind == 'elementwise':  # The gradient itself, as the materialised one.
    return tf.reduce_sum(tf.square(tf.cast(tf.reduce_sum(y, 0), dtype)))
  rows = y.shape[0]
  x = tf.concat(
    [
      use.rows()
      for use, _ in connected  # Not elementwise: rows.
      if use.rows is not None
    ],
    0,
  )
  if rows != 1:
    dtype = tf.float64
  y = tf.cast(y, dtype)
  if kind == 'gather':
    gram_x = tf.cast(tf.equal(x[:, None], x[None, :]), dtype)
  else:
    x = tf.cast(x, dtype)
    gram_x = tf.matmul(x, x, transpose_b=True)
  squared = tf.reduce_sum(gram_x * tf.matmul(y, y, transpose_b=True))
  squared = tf.maximum(squared, 0.0)  # Rounding can make 0 slightly negative.
  return tf.cast(squared, result)


def accumulation_dtype(dtype: tf.DType) -> tf.DType:
  """The dtype squared norms of gradients of `dtype` are summed in.

  Half precision would overflow past a norm of 256 (`float16`) or round
  to three digits (`bfloat16`): their squares are summed in `float32`.
  """
  return dtype if dtype.size >= 4 else tf.float32


def _consumers(
  tensor: tf.Tensor, needed: set[tf.Operation]
) -> list[tf.Operation]:
  return [op for op in tensor.consumers() if op in needed]


def _use(
  op: tf.Operation, value: tf.Tensor, shape: tf.TensorShape
) -> Use | None:
  """`value`'s use by `op`, if it is one `squared_norm` handles.

  `shape` is the shape `value` holds the parameter in.
  """
  positions = [i for i, t in enumerate(op.inputs) if t is value]
  if len(positions) != 1:
    return None
  position = positions[0]
  if op.type == 'MatMul' and position == 1:
    lhs = 'kn' if op.get_attr('transpose_a') else 'nk'
    rhs = 'mk' if op.get_attr('transpose_b') else 'km'
    return _contraction(lhs, rhs, 'nm', op, shape)
  if op.type in ('BatchMatMulV2', 'BatchMatMulV3') and position == 1:
    lhs = _ELLIPSIS + ('kn' if op.get_attr('adj_x') else 'nk')
    rhs = 'mk' if op.get_attr('adj_y') else 'km'
    return _contraction(lhs, rhs, _ELLIPSIS + 'nm', op, shape)
  if op.type == 'Einsum' and len(op.inputs) == 2:
    inputs, arrow, output = op.get_attr('equation').decode().partition('->')
    terms = [t.strip().replace('...', _ELLIPSIS) for t in inputs.split(',')]
    if not arrow or len(terms) != 2:
      return None
    other, mine = terms if position == 1 else terms[::-1]
    return _contraction(
      other, mine, output.strip().replace('...', _ELLIPSIS), op, shape, position
    )
  if op.type == 'Conv2D' and position == 1:
    return _convolution(op, shape)
  if (
    op.type == 'GatherV2'
    and position == 0
    and op.get_attr('batch_dims') == 0
    and tf.get_static_value(op.inputs[2]) == 0
  ):
    return _gather(op.inputs[1], op.outputs[0], shape)
  if op.type == 'BiasAdd' and position == 1:
    rank = op.outputs[0].shape.rank
    if rank is None:
      return None
    channels = 1 if op.get_attr('data_format') == b'NCHW' else rank - 1
    broadcast = [1] * rank
    broadcast[channels] = shape[0]
    return _elementwise(op, None, broadcast, shape)
  if op.type in ('AddV2', 'Add', 'Mul'):
    rank = op.outputs[0].shape.rank
    if rank is None or rank < shape.rank:
      return None
    other = op.inputs[1 - position] if op.type == 'Mul' else None
    return _elementwise(
      op, other, [1] * (rank - shape.rank) + shape.as_list(), shape
    )
  return None


def _contraction(
  other: str,
  mine: str,
  output: str,
  op: tf.Operation,
  shape: tf.TensorShape,
  position: int = 1,
) -> Use | None:
  """A parameter contracted with `op`'s other input, as an einsum.

  `other`, `mine` and `output` are the einsum subscripts of the other
  input, the parameter and the output. The parameter's gradient is
  `Σ_rows X[row, mine ∩ other] Y[row, mine ∩ output]` when each of its axes
  is in exactly one of the other input and the output, and appears once.
  """
  if (
    _ELLIPSIS in mine
    or len(mine) != shape.rank
    or any(len(set(s)) != len(s) for s in (other, mine, output))
  ):
    return None
  x_axes = [label for label in mine if label in other and label not in output]
  y_axes = [label for label in mine if label in output and label not in other]
  rows = ''.join(label for label in output if label not in mine)
  if len(x_axes) + len(y_axes) != len(mine) or any(
    label not in other for label in rows
  ):
    return None
  p = math.prod(shape[mine.index(label)] for label in x_axes)
  q = math.prod(shape[mine.index(label)] for label in y_axes)
  to_x = _einsum(f'{other}->{rows}{"".join(x_axes)}')
  to_y = _einsum(f'{output}->{rows}{"".join(y_axes)}')
  layout = (
    tuple(shape),
    tuple(mine.index(label) for label in x_axes),
    tuple(mine.index(label) for label in y_axes),
  )
  return Use(
    'dense',
    layout,
    op.outputs[0],
    lambda: tf.reshape(tf.einsum(to_x, op.inputs[1 - position]), [-1, p]),
    lambda grad: tf.reshape(tf.einsum(to_y, grad), [-1, q]),
  )


def _convolution(op: tf.Operation, shape: tf.TensorShape) -> Use | None:
  """The kernel of a 2-D convolution (`Conv2D`, which `Conv1D` is too).

  Its gradient is `Xᵀ Y` with one row per output pixel (of every image in
  the op's batch, all from one example): `X` the input patch the pixel
  sees, flattened in the kernel's order (rows, columns, input channels),
  `Y` the pixel's output gradient. Where the patches are not those of the
  whole kernel (channels first, a grouped convolution, spatial sizes known
  only at run time), `None`.
  """
  inputs, output = op.inputs[0], op.outputs[0]
  if (
    op.get_attr('data_format') != b'NHWC'
    or not inputs.shape[1:].is_fully_defined()
    or not output.shape[1:].is_fully_defined()
    or inputs.shape[3] != shape[2]
  ):
    return None
  kernel = shape[:2]
  strides = op.get_attr('strides')[1:3]
  dilations = op.get_attr('dilations')[1:3]
  padding = op.get_attr('padding')
  if padding == b'EXPLICIT':
    explicit = op.get_attr('explicit_paddings')
    pads = [(explicit[2], explicit[3]), (explicit[4], explicit[5])]
  else:
    pads = [(0, 0), (0, 0)]
    for axis in range(2):
      if padding == b'SAME':  # TensorFlow's: the smaller half before.
        total = max(
          _extent(
            output.shape[axis + 1], kernel[axis], strides[axis], dilations[axis]
          )
          - inputs.shape[axis + 1],
          0,
        )
        pads[axis] = (total // 2, total - total // 2)
  for axis in range(2):
    if sum(pads[axis]) + inputs.shape[axis + 1] < _extent(
      output.shape[axis + 1], kernel[axis], strides[axis], dilations[axis]
    ):
      return None

  def patches() -> tf.Tensor:
    padded = tf.pad(inputs, [(0, 0), *pads, (0, 0)])
    taps = [
      padded[:, i * dilations[0] :: strides[0], j * dilations[1] :: strides[1]][
        :, : output.shape[1], : output.shape[2]
      ]
      for i in range(kernel[0])
      for j in range(kernel[1])
    ]
    return tf.reshape(tf.stack(taps, 3), [-1, shape[:3].num_elements()])

  return Use(
    'dense',
    (tuple(shape), (0, 1, 2), (3,)),
    output,
    patches,
    lambda grad: tf.reshape(grad, [-1, shape[3]]),
    built=True,
  )


def _extent(size: int, kernel: int, stride: int, dilation: int) -> int:
  """The input length `size` outputs of a convolution read."""
  return (size - 1) * stride + (kernel - 1) * dilation + 1


def _einsum(subscripts: str) -> str:
  """Subscripts for `tf.einsum`, with its own ellipsis back."""
  return subscripts.replace(_ELLIPSIS, '...')


def _gather(
  indices: tf.Tensor, output: tf.Tensor, shape: tf.TensorShape
) -> Use:
  """Rows of a parameter gathered along its first axis."""
  q = shape[1:].num_elements()
  return Use(
    'gather',
    (tuple(shape),),
    output,
    lambda: tf.reshape(indices, [-1]),
    lambda grad: tf.reshape(grad, [-1, q]),
  )


def _elementwise(
  op: tf.Operation,
  other: tf.Tensor | None,
  broadcast: list[int],
  shape: tf.TensorShape,
) -> Use:
  """A parameter broadcast to `op`'s output, as `broadcast`, and added to
  (`other` is `None`) or multiplied by `other`.

  Its gradient is the output's gradient (times `other`) summed over the
  axes it is broadcast along, as the materialised gradient is summed.
  """
  axes = [axis for axis, size in enumerate(broadcast) if size == 1]
  leading = axes == list(range(len(axes)))  # Rows: `squared_norm` sums them.
  q = shape.num_elements()

  def gradient(grad: tf.Tensor) -> tf.Tensor:
    if other is not None:
      grad = grad * other
    if leading:
      return tf.reshape(grad, [-1, q])
    return tf.reshape(tf.reduce_sum(grad, axes), [1, q])

  return Use('elementwise', (tuple(shape),), op.outputs[0], None, gradient)
