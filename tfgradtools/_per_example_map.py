"""Running a per-example computation over a batch: vectorised, or in a loop.

`Mapping.examples` runs `body(i)` for every example `i` of a chunk and
stacks the results: vectorised with TensorFlow's `pfor` (what
`tf.vectorized_map` uses), or in a loop. Where `pfor` has no vectorisation
for an op, it is run again with pfor's own while-loop fallback for that op
alone, and, should that fail too, as a loop over the examples — with one
`VectorizationFallbackWarning` naming the op, and none of pfor's log
messages. `over_chunks` splits the batch into chunks of bounded size, in a
`tf.while_loop` where there are several. `run` runs it all in the regime:
eagerly, in a graph function traced for the call, or as a loop of tapes
for a few examples.

Bodies return flat dicts of Tensors (name -> Tensor): the same names on
every trace.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import warnings
from typing import Any, Callable, Iterator

import tensorflow as tf
from tensorflow.python.ops.parallel_for import control_flow_ops  # pylint: disable=g-direct-tensorflow-import
from tensorflow.python.ops.parallel_for import pfor as pfor_lib  # pylint: disable=g-direct-tensorflow-import

Outputs = dict[str, tf.Tensor]

# Eagerly, up to this many examples are a loop of tapes; more are vectorised
# in a graph function traced for the call, whose tracing costs about as much
# as 16 to 32 eager forward and backward passes of an MLP
# (`benchmarks/per_example.py`).
EAGER_LOOP_EXAMPLES = 16


class VectorizationFallbackWarning(UserWarning):
  """Per-example work could not all be vectorised: part of it is a loop.

  TensorFlow's `pfor` (behind `tf.vectorized_map`) has no vectorisation for
  some ops (`'No pfor vectorization defined for ...'`); the per-example
  functions of `tfgradtools.math` then run that op, or if need be every
  example, in a `tf.while_loop`, with the same results, and say so once
  with this warning, naming the op. To silence it:

  >>> import warnings
  >>> import tfgradtools.math as tfm
  >>> with warnings.catch_warnings():
  ...   warnings.simplefilter('ignore', tfm.VectorizationFallbackWarning)
  """


# What pfor raises when it cannot convert an op (after tracing the body).
_CONVERSION_ERRORS = (ValueError, TypeError, NotImplementedError)


class Mapping:
  """How one call maps bodies over examples; remembers a failed `pfor`.

  Args:
    vectorize: vectorise with `pfor` (else loop).
    api: the public function's name, for the warning.
  """

  def __init__(self, vectorize: bool, api: str):
    self.vectorize = vectorize
    self._api = api
    self._op_level_fallback = False
    self._unconverted = ''  # The op pfor could not convert, in words.
    self._warned = False
    self._body_traced = False

  def examples(self, body: Callable[[tf.Tensor], Outputs],
               indices: tf.Tensor | None, size: Any) -> Outputs:
    """`body(index)` for each of the `size` `indices`, stacked.

    `indices=None` means `range(size)`: the whole batch.
    """
    if not self.vectorize:
      return _loop(body, indices, size)
    if not self._op_level_fallback:
      try:
        return self._pfor(body, indices, size, op_level_fallback=False)
      except _CONVERSION_ERRORS as error:
        if not self._body_traced:  # Raised by `f` itself, not by pfor.
          raise
        self._op_level_fallback = True
        self._unconverted = _unconverted_op(error)
    try:
      outputs = self._pfor(body, indices, size, op_level_fallback=True)
    except _CONVERSION_ERRORS:
      if not self._body_traced:
        raise
      self.vectorize = False
      self._warn('every example is computed in a tf.while_loop')
      return _loop(body, indices, size)
    self._warn('that op runs in a tf.while_loop over the examples, the '
               'rest stays vectorised')
    return outputs

  def _pfor(self, body, indices, size, op_level_fallback):
    self._body_traced = False

    def loop_fn(i):
      graph = tf.compat.v1.get_default_graph()
      start = len(graph.get_operations())
      outputs = body(i if indices is None else tf.gather(indices, i))
      _flatten_broadcast_matmuls(graph.get_operations()[start:])
      self._body_traced = True
      return outputs

    with _quiet_pfor():
      return control_flow_ops.pfor(loop_fn, size,
                                   fallback_to_while_loop=op_level_fallback)

  def _warn(self, how: str) -> None:
    if self._warned:
      return
    self._warned = True
    warnings.warn(
        f'{self._api}: TensorFlow cannot vectorise {self._unconverted} over '
        f'the examples (pfor has no conversion for it), so {how}: same '
        'results, more time. Pass experimental_use_pfor=False to loop '
        'without trying to vectorise.',
        VectorizationFallbackWarning, stacklevel=2)


class _GraphCall:
  """One eager call's computation, as the Python function of a graph.

  A new object per call: `tf.function` counts retraces per function code,
  and a call traced afresh by design is not a retrace to warn about.
  """

  def __init__(self, compute: Callable[[], Any]):
    self._compute = compute

  def __call__(self) -> Any:
    return self._compute()


def run(mapping: Mapping, batch_size: Any, compute: Callable[[], Any]) -> Any:
  """`compute()` in the regime.

  Building a graph, in it. Eagerly, more than `EAGER_LOOP_EXAMPLES`
  examples to vectorise run in a graph function traced for this call, as
  `tf.vectorized_map` does; fewer are a loop of tapes.
  """
  if tf.executing_eagerly():
    if mapping.vectorize and batch_size > EAGER_LOOP_EXAMPLES:
      return tf.function(_GraphCall(compute), autograph=False)()
    mapping.vectorize = False
  return compute()


def under_xla() -> bool:
  """Whether the current graph is compiled with XLA (`jit_compile`)."""
  return control_flow_ops._is_under_xla_context()  # pylint: disable=protected-access


def _flatten_broadcast_matmuls(ops: list[tf.Operation]) -> None:
  """Vectorises `x @ w` with a matrix `w` as one 2-D product.

  `pfor` turns an example's `[..., n, k] @ [k, m]` into a product of a
  rank-4-or-more Tensor with a broadcast matrix, which TensorFlow 2.21's
  oneDNN kernel computes with wrong strides, corrupting the heap (TensorFlow
  issues 117700 and 123109: `EinsumDense` layers, `tf.matmul` of sequences).
  These ops get a converter that multiplies the flattened rows instead: the
  same product, and one large matrix multiplication.
  """
  if not _PFOR_INTERNALS:
    return
  for op in ops:
    if (op.type == 'BatchMatMulV2' and op.inputs[1].shape.rank == 2 and
        (op.inputs[0].shape.rank or 0) >= 3):
      op.pfor_converter = _matmul_of_flat_rows


# The pfor internals `_matmul_of_flat_rows` uses (a TensorFlow without them
# vectorises these products its own way).
_PFOR_INTERNALS = all(hasattr(pfor_lib, name) for name in (
    'wrap', '_convert_batch_mat_mul_v2'))


def _matmul_of_flat_rows(pfor_input: Any) -> Any:
  """pfor converter for `BatchMatMulV2(x, w)` with a loop-invariant matrix."""
  x, x_stacked, _ = pfor_input.input(0)
  w, w_stacked, _ = pfor_input.input(1)
  if not x_stacked or w_stacked:
    return pfor_lib._convert_batch_mat_mul_v2(pfor_input)  # pylint: disable=protected-access
  if pfor_input.get_attr('adj_x'):
    x = tf.math.conj(tf.linalg.matrix_transpose(x))
  rows = tf.reshape(x, [-1, tf.shape(x)[-1]])
  product = tf.matmul(rows, w, adjoint_b=pfor_input.get_attr('adj_y'))
  return pfor_lib.wrap(tf.reshape(product, tf.concat(
      [tf.shape(x)[:-1], tf.shape(product)[-1:]], 0)), True)


def _unconverted_op(error: Exception) -> str:
  """The op pfor could not convert, as named in its error."""
  found = re.search(r'No pfor vectorization defined for (\S+)', str(error))
  if found:
    return f'the op {found.group(1)}'
  return f'an op ({str(error).splitlines()[0][:200]})'


def _loop(body: Callable[[tf.Tensor], Outputs], indices: tf.Tensor | None,
          size: Any) -> Outputs:
  """`body` for each index in a loop: Python eagerly, else a while loop.

  The first example is computed before the loop, which gives the dtypes
  and shapes of its stacked outputs.
  """
  if indices is None:
    indices = tf.range(size)
  if tf.executing_eagerly():
    results = [body(indices[i]) for i in range(size)]
    return {name: tf.stack([r[name] for r in results]) for name in results[0]}
  first = body(indices[0])
  if isinstance(size, int) and size == 1:
    return {name: value[None] for name, value in first.items()}
  names = sorted(first)
  arrays = [tf.TensorArray(first[n].dtype, size=size,
                           element_shape=first[n].shape).write(0, first[n])
            for n in names]

  def step(i, arrays):
    outputs = body(indices[i])
    return i + 1, [a.write(i, outputs[n]) for a, n in zip(arrays, names)]

  _, arrays = tf.while_loop(lambda i, _: i < size, step, (1, arrays))
  return {n: a.stack() for n, a in zip(names, arrays)}


ChunkFn = Callable[[tf.Tensor, Any, Any], tuple[Outputs, Outputs]]


def over_chunks(chunk_fn: ChunkFn, batch_size: Any, chunk: int | None
                ) -> tuple[Outputs, Outputs]:
  """`chunk_fn` over the batch in chunks: stacked results and sums.

  `chunk_fn(indices, valid, size)` gets the `size` example indices of one
  chunk (`None`: the whole batch, in order) and a boolean mask of the real
  ones (`None`: all are; the last of several chunks is filled up with
  earlier examples), and returns per-example results (concatenated here,
  and cut to the batch) and sums over the chunk's valid examples (added up
  here). Several chunks are a `tf.while_loop`, whose accumulators take the
  dtypes and shapes of a chunk traced in a graph that is never run.

  Args:
    chunk_fn: computes one chunk.
    batch_size: the number of examples: a Python int, or a scalar Tensor
      where it is not known statically.
    chunk: examples per chunk, or `None` for one chunk of the whole batch.

  Returns:
    `(stacked, sums)`.
  """
  if chunk is None or (isinstance(batch_size, int) and batch_size <= chunk):
    return chunk_fn(None, None, batch_size)

  def chunk_at(c):
    positions = c * chunk + tf.range(chunk)
    return chunk_fn(positions % batch_size, positions < batch_size, chunk)

  stacked, sums = tf.function(lambda: chunk_at(0), autograph=False
                             ).get_concrete_function().structured_outputs
  names, sum_names = sorted(stacked), sorted(sums)
  chunks = (batch_size + chunk - 1) // chunk
  arrays = [tf.TensorArray(stacked[n].dtype, size=chunks,
                           element_shape=stacked[n].shape) for n in names]
  totals = [tf.zeros(sums[n].shape, sums[n].dtype) for n in sum_names]

  def step(c, arrays, totals):
    more, added = chunk_at(c)
    return (c + 1, [a.write(c, more[n]) for a, n in zip(arrays, names)],
            [t + added[n] for t, n in zip(totals, sum_names)])

  # One chunk at a time: bounding memory is what chunks are for.
  _, arrays, totals = tf.while_loop(lambda c, *_: c < chunks, step,
                                    (0, arrays, totals),
                                    parallel_iterations=1)
  return ({n: a.concat()[:batch_size] for n, a in zip(names, arrays)},
          dict(zip(sum_names, totals)))


# pfor logs its conversion errors (with stack traces) and fallbacks; the
# warning says what matters once. Records from the pfor module are dropped
# while a thread is in `_quiet_pfor`.
_QUIET_THREADS: set[int] = set()
_QUIET_LOCK = threading.Lock()


class _PforLogFilter(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    return not (record.thread in _QUIET_THREADS and
                'parallel_for' in record.pathname)


_FILTER = _PforLogFilter()


@contextlib.contextmanager
def _quiet_pfor() -> Iterator[None]:
  thread = threading.get_ident()
  with _QUIET_LOCK:
    logger = tf.get_logger()
    if _FILTER not in logger.filters:
      logger.addFilter(_FILTER)
    nested = thread in _QUIET_THREADS
    _QUIET_THREADS.add(thread)
  try:
    yield
  finally:
    if not nested:
      with _QUIET_LOCK:
        _QUIET_THREADS.discard(thread)
