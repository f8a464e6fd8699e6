"""Per-example gradient norms without forming the per-example gradients.

Where every use of a parameter in the graph of one example's loss is a
contraction — a matrix product (`tf.matmul`, a Keras `Dense`), an `einsum`
(`EinsumDense`) —, a gather of its rows (`Embedding`) or a bias added along
its last axes, the gradient of that loss is `Xᵀ Y`: the rows of `X` come
from the uses' other inputs (one row per position of the example: one for a
`Dense` layer on a vector, one per time step on a sequence), those of `Y`
from the gradients of the uses' outputs. Its squared norm is then
`sum((X Xᵀ) * (Y Yᵀ))`, which needs `N × N` Gram matrices for `N` rows
instead of the `P × Q` gradient: the outer-product identity of Goodfellow
(2015), which TensorFlow Privacy's fast clipping applies to `tf.keras`
layers.

`plan` reads the graph built for one example (`f` always sees one example,
so every row belongs to it) and lists a parameter's uses; a parameter with
any other use on the way to the loss (another op, a nested function or
loop, a cast) gets `None`, and its gradient is materialised instead.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import tensorflow as tf

# Ops through which a value passes unchanged, and ops that read only its
# shape (no gradient flows through them).
_PASS_THROUGH = frozenset({'Identity'})
_SHAPE_ONLY = frozenset({'Shape', 'ShapeN', 'Size', 'Rank'})
_ELLIPSIS = '.'  # One token for einsum's '...'.


@dataclasses.dataclass(frozen=True)
class Use:
  """One use of a parameter whose gradient is `rowsᵀ @ columns(d output)`.

  Attributes:
    kind: `'dense'` (`rows` is `X`, `[N, P]`), `'gather'` (`rows` holds the
      `N` gathered indices: `X` is their one-hot rows) or `'bias'` (`X` is a
      column of ones; `rows` is `None`).
    layout: which parameter axes `X` and `Y` span: uses of one parameter
      combine only with the same layout.
    output: the Tensor whose gradient gives `Y`.
    rows: builds `X`, or the gathered indices (`None` for a bias).
    columns: `Y`, `[N, Q]`, from the gradient of the loss w.r.t. `output`.
  """
  kind: str
  layout: tuple
  output: tf.Tensor
  rows: Callable[[], tf.Tensor] | None
  columns: Callable[[tf.Tensor], tf.Tensor]


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


def plan(parameter: tf.Tensor, shape: tf.TensorShape,
         needed: set[tf.Operation]) -> list[Use] | None:
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
  values = []
  if parameter.dtype == tf.resource:
    for op in _consumers(parameter, needed):
      if op.type == 'ReadVariableOp':
        values.append(op.outputs[0])
      elif op.type == 'ResourceGather' and op.get_attr('batch_dims') == 0:
        uses.append(_gather(op.inputs[1], op.outputs[0], shape))
      else:
        return None
  else:
    values.append(parameter)
  while values:
    value = values.pop()
    for op in _consumers(value, needed):
      if op.type in _PASS_THROUGH:
        values.append(op.outputs[0])
      elif op.type not in _SHAPE_ONLY:
        use = _use(op, value, shape)
        if use is None:
          return None
        uses.append(use)
  if not uses or len({(u.kind, u.layout) for u in uses}) > 1:
    return None
  return uses


def squared_norm(uses: list[Use], grads: list[tf.Tensor | None]
                 ) -> tf.Tensor | None:
  """`‖Σ_uses rowsᵀ @ columns‖²` for one example; `None` if unconnected.

  In `accumulation_dtype(the gradient's dtype)`; where the example has
  several rows, their terms can cancel, so the Gram matrices are formed and
  summed in `float64`: exact to the rounding of the gradient itself, never
  an underestimate beyond it.
  """
  connected = [(use, grad) for use, grad in zip(uses, grads)
               if grad is not None]
  if not connected:
    return None
  y = tf.concat([use.columns(grad) for use, grad in connected], 0)
  dtype = result = accumulation_dtype(y.dtype)
  kind = connected[0][0].kind
  if kind == 'bias':  # The gradient itself, as the materialised one.
    return tf.reduce_sum(tf.square(tf.cast(tf.reduce_sum(y, 0), dtype)))
  x = tf.concat([use.rows() for use, _ in connected  # Not a bias: rows.
                 if use.rows is not None], 0)
  rows = y.shape[0]
  if kind == 'dense':
    p, q = x.shape[1], y.shape[1]
    if rows is not None and rows * rows > p * q:
      # Long sequences through small layers: the gradient is smaller than
      # the Gram matrices.
      gradient = tf.matmul(tf.cast(x, y.dtype), y, transpose_a=True)
      return tf.reduce_sum(tf.square(tf.cast(gradient, dtype)))
  if rows != 1:
    dtype = tf.float64
  y = tf.cast(y, dtype)
  if kind == 'gather':
    gram_x = tf.cast(tf.equal(x[:, None], x[None, :]), dtype)
  else:
    x = tf.cast(x, dtype)
    gram_x = tf.matmul(x, x, transpose_b=True)
  squared = tf.reduce_sum(gram_x * tf.matmul(y, y, transpose_b=True))
  squared = tf.maximum(squared, 0.)  # Rounding can make 0 slightly negative.
  return tf.cast(squared, result)


def accumulation_dtype(dtype: tf.DType) -> tf.DType:
  """The dtype squared norms of gradients of `dtype` are summed in.

  Half precision would overflow past a norm of 256 (`float16`) or round
  to three digits (`bfloat16`): their squares are summed in `float32`.
  """
  return dtype if dtype.size >= 4 else tf.float32


def _consumers(tensor: tf.Tensor,
               needed: set[tf.Operation]) -> list[tf.Operation]:
  return [op for op in tensor.consumers() if op in needed]


def _use(op: tf.Operation, value: tf.Tensor,
         shape: tf.TensorShape) -> Use | None:
  """`value`'s use by `op`, if it is one `squared_norm` handles."""
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
    return _contraction(other, mine, output.strip().replace('...', _ELLIPSIS),
                        op, shape, position)
  if (op.type == 'GatherV2' and position == 0 and
      op.get_attr('batch_dims') == 0 and
      tf.get_static_value(op.inputs[2]) == 0):
    return _gather(op.inputs[1], op.outputs[0], shape)
  if op.type == 'BiasAdd' and position == 1 and (
      op.get_attr('data_format') == b'NHWC'):
    return _bias(op.outputs[0], shape)
  if op.type in ('AddV2', 'Add'):
    other = op.inputs[1 - position].shape
    if (other.is_fully_defined() and other.rank >= shape.rank and
        other[other.rank - shape.rank:] == shape and
        op.outputs[0].shape == other):
      return _bias(op.outputs[0], shape)
  return None


def _contraction(other: str, mine: str, output: str, op: tf.Operation,
                 shape: tf.TensorShape, position: int = 1) -> Use | None:
  """A parameter contracted with `op`'s other input, as an einsum.

  `other`, `mine` and `output` are the einsum subscripts of the other
  input, the parameter and the output. The parameter's gradient is
  `Σ_rows X[row, mine ∩ other] Y[row, mine ∩ output]` when each of its axes
  is in exactly one of the other input and the output, and appears once.
  """
  if (_ELLIPSIS in mine or len(mine) != shape.rank or
      any(len(set(s)) != len(s) for s in (other, mine, output))):
    return None
  x_axes = [label for label in mine if label in other and label not in output]
  y_axes = [label for label in mine if label in output and label not in other]
  rows = ''.join(label for label in output if label not in mine)
  if (len(x_axes) + len(y_axes) != len(mine) or
      any(label not in other for label in rows)):
    return None
  p = math.prod(shape[mine.index(label)] for label in x_axes)
  q = math.prod(shape[mine.index(label)] for label in y_axes)
  to_x = _einsum(f'{other}->{rows}{"".join(x_axes)}')
  to_y = _einsum(f'{output}->{rows}{"".join(y_axes)}')
  layout = (tuple(mine.index(label) for label in x_axes),
            tuple(mine.index(label) for label in y_axes))
  return Use('dense', layout, op.outputs[0],
             lambda: tf.reshape(tf.einsum(to_x, op.inputs[1 - position]),
                                [-1, p]),
             lambda grad: tf.reshape(tf.einsum(to_y, grad), [-1, q]))


def _einsum(subscripts: str) -> str:
  """Subscripts for `tf.einsum`, with its own ellipsis back."""
  return subscripts.replace(_ELLIPSIS, '...')


def _gather(indices: tf.Tensor, output: tf.Tensor,
            shape: tf.TensorShape) -> Use:
  """Rows of a parameter gathered along its first axis."""
  q = shape[1:].num_elements()
  return Use('gather', (), output, lambda: tf.reshape(indices, [-1]),
             lambda grad: tf.reshape(grad, [-1, q]))


def _bias(output: tf.Tensor, shape: tf.TensorShape) -> Use:
  """A parameter added along the last axes of another Tensor."""
  q = shape.num_elements()
  return Use('bias', (), output, None,
             lambda grad: tf.reshape(grad, [-1, q]))
