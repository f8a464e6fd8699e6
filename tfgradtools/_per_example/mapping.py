"""Running a per-example computation over a batch: vectorised, or in a loop.

A `Mapping` runs `body(i)` for every example `i` of a chunk and stacks the
results, by the first of its strategies that works: vectorised with
TensorFlow's `pfor` (what `tf.vectorized_map` uses); where `pfor` has no
vectorisation for an op, again with pfor's own while-loop fallback for that
op alone; and, should that fail too, as a `tf.while_loop` over the
examples — with one `VectorizationFallbackWarning` naming the op, and none
of pfor's log messages. It returns, with the results, the mapping for the
next chunk: the strategy that worked and those after it, so the choice is a
value and nothing is tried twice. `over_chunks` splits the batch into
chunks of bounded size, in a `tf.while_loop` where there are several. `run`
runs it all in the regime: building a graph, in it; eagerly, in a graph
function traced for the call, at every batch size.

Bodies return flat dicts of Tensors (name -> Tensor): the same names on
every trace.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from typing import Any, Callable

import tensorflow as tf

from tfgradtools import _quiet
from tfgradtools._per_example import converters

Outputs = dict[str, tf.Tensor]
Body = Callable[[tf.Tensor], Outputs]
# Maps a body over `size` example indices (`None`: `range(size)`).
Strategy = Callable[[Body, Any, Any], Outputs]


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


class _Unconvertible(Exception):
  """A strategy could not vectorise a body that traced without error."""

  def __init__(self, error: Exception):
    super().__init__(str(error))
    self.error = error


def _pfor(
  body: Body, indices: Any, size: Any, op_level_fallback: bool
) -> Outputs:
  """`body` vectorised by `pfor`; `_Unconvertible` where it cannot be.

  An error raised while `body` itself is traced is `f`'s, and propagates.
  """
  traced = []

  def loop_fn(i: tf.Tensor) -> Outputs:
    graph = tf.compat.v1.get_default_graph()
    start = len(graph.get_operations())
    outputs = body(i if indices is None else tf.gather(indices, i))
    converters.set_converters(graph.get_operations()[start:], i, size)
    traced.append(True)
    return outputs

  try:
    # pfor logs every op it cannot convert; the warning says it once.
    with _quiet.vectorisation_internals():
      outputs: Outputs = converters.control_flow_ops.pfor(
        loop_fn, size, fallback_to_while_loop=op_level_fallback
      )
      return outputs
  except _CONVERSION_ERRORS as error:
    if not traced:
      raise
    raise _Unconvertible(error) from error


def vectorised(body: Body, indices: Any, size: Any) -> Outputs:
  """Every op vectorised by `pfor`."""
  return _pfor(body, indices, size, op_level_fallback=False)


def vectorised_but_some_ops(body: Body, indices: Any, size: Any) -> Outputs:
  """`pfor`, with a `tf.while_loop` for each op it cannot vectorise."""
  return _pfor(body, indices, size, op_level_fallback=True)


def looped(body: Body, indices: Any, size: Any) -> Outputs:
  """`body` for each index in a `tf.while_loop`.

  The stacked outputs take the dtypes and shapes of `body` traced once in
  a graph that is never run, so an empty batch stacks no example: where
  the batch is known to be empty, with no loop at all (XLA compiles a
  loop's body even where it never runs, and reading an example of none
  fails to compile).
  """
  if indices is None:
    indices = tf.range(size)
  first = traced_outputs(lambda: body(tf.gather(indices, 0)))
  if (
    isinstance(size, int)
    and size == 0
    and all(t.shape.rank is not None for t in first.values())
  ):
    return {
      n: tf.zeros([0, *(d or 0 for d in t.shape)], t.dtype)
      for n, t in first.items()
    }
  names = sorted(first)
  arrays = [
    tf.TensorArray(first[n].dtype, size=size, element_shape=first[n].shape)
    for n in names
  ]

  def step(i: Any, arrays: list[Any]) -> tuple[Any, list[Any]]:
    outputs = body(indices[i])
    return i + 1, [
      a.write(i, outputs[n]) for a, n in zip(arrays, names, strict=True)
    ]

  _, arrays = tf.while_loop(
    lambda i, _: i < size, step, (0, arrays), maximum_iterations=size
  )  # For XLA.
  return {n: a.stack() for n, a in zip(names, arrays, strict=True)}


_WHAT_FALLS_BACK: dict[Strategy, str] = {
  vectorised_but_some_ops: 'that op runs in a tf.while_loop over the '
  'examples, the rest stays vectorised',
  looped: 'every example is computed in a tf.while_loop',
}


@dataclasses.dataclass(frozen=True)
class Mapping:
  """How one call maps bodies over examples: the strategies left to try.

  Attributes:
    strategies: tried in order; the first that vectorises the body is
      used.
    api: the public function's name, for the warning.
  """

  strategies: tuple[Strategy, ...]
  api: str

  def examples(
    self, body: Body, indices: Any, size: Any
  ) -> tuple[Outputs, Mapping]:
    """`body(index)` for each of the `size` `indices`, stacked.

    `indices=None` means `range(size)`: the whole batch. Returns the
    results, and the mapping for the call's next chunks, which starts at
    the strategy that worked.
    """
    if isinstance(size, int) and size == 0:
      # Nothing to vectorise, and pfor's own loops over the examples (a
      # convolution kernel's per-example gradient) cannot stack none.
      return looped(body, indices, size), self
    unconverted = None
    for k, strategy in enumerate(self.strategies):
      try:
        outputs = strategy(body, indices, size)
        break
      except _Unconvertible as failure:
        if k == len(self.strategies) - 1:
          raise failure.error from None
        unconverted = unconverted or _unconverted_op(failure.error)
    if unconverted is not None:
      warnings.warn(
        f'{self.api}: TensorFlow cannot vectorise {unconverted} over the '
        f'examples (pfor has no conversion for it), so '
        f'{_WHAT_FALLS_BACK[strategy]}: same results, more time. Pass '
        'experimental_use_pfor=False to loop without trying to '
        'vectorise.',
        VectorizationFallbackWarning,
        stacklevel=2,
      )
    return outputs, Mapping(self.strategies[k:], self.api)


def mapping_for(use_pfor: bool, api: str) -> Mapping:
  """A call's first mapping: vectorised where it can be, or a loop.

  Vectorising takes TensorFlow's private `pfor` (for the conversions of
  `converters`, without which a vectorised example would share its random
  draws with the others, for one); where this TensorFlow's is not as
  expected (`converters.private_pfor`), every call loops.
  """
  if use_pfor and converters.private_pfor():
    return Mapping((vectorised, vectorised_but_some_ops, looped), api)
  return Mapping((looped,), api)


class _GraphCall:
  """One eager call's computation, as the Python function of a graph.

  A new object per call: `tf.function` counts retraces per function code,
  and a call traced afresh by design is not a retrace to warn about.
  """

  def __init__(self, compute: Callable[[], Any]):
    self._compute = compute

  def __call__(self) -> Any:
    return self._compute()


def run(compute: Callable[[], Any]) -> Any:
  """`compute()` in the regime: building a graph, in it.

  Eagerly, in a graph function traced for this call, at every batch size
  and with every keyword, as `tf.vectorized_map` traces its `fn`: `f` is
  always traced, so whether a call works, and what it returns, never
  depends on how many examples there are or how they are mapped.
  """
  if tf.executing_eagerly():
    return tf.function(_GraphCall(compute), autograph=False)()
  return compute()


def traced_outputs(fn: Callable[[], Any]) -> Any:
  """`fn`'s outputs (their dtypes and shapes) traced in a graph never run."""
  return (
    tf.function(fn, autograph=False).get_concrete_function().structured_outputs
  )


def under_xla() -> bool:
  """Whether the current graph may be compiled with XLA (`jit_compile`).

  TensorFlow says so only privately; without it, the answer is yes: the
  paths taken under XLA give the same results everywhere.
  """
  if not converters.private_pfor():
    return True
  return bool(converters.control_flow_ops._is_under_xla_context())  # pylint: disable=protected-access


def _unconverted_op(error: Exception) -> str:
  """The op pfor could not convert, as named in its error."""
  found = re.search(r'No pfor vectorization defined for (\S+)', str(error))
  if found:
    return f'the op {found.group(1)}'
  return f'an op ({str(error).splitlines()[0][:200]})'


ChunkFn = Callable[[Any, Any, Any, Mapping], tuple[Outputs, Outputs, Mapping]]


def over_chunks(
  chunk_fn: ChunkFn, batch_size: Any, chunk: int | None, mapping: Mapping
) -> tuple[Outputs, Outputs]:
  """`chunk_fn` over the batch in chunks: stacked results and sums.

  `chunk_fn(indices, valid, size, mapping)` gets the `size` example indices
  of one chunk (`None`: the whole batch, in order), a boolean mask of the
  real ones (`None`: all are; the last of several chunks is filled up with
  earlier examples) and the mapping to use, and returns per-example results
  (concatenated here, and cut to the batch), sums over the chunk's valid
  examples (added up here) and the mapping for the next chunk. Several
  chunks are a `tf.while_loop`, whose accumulators take the dtypes and
  shapes of a chunk traced in a graph that is never run.

  Args:
    chunk_fn: computes one chunk.
    batch_size: the number of examples: a Python int, or a scalar Tensor
      where it is not known statically.
    chunk: examples per chunk, or `None` for one chunk of the whole batch.
    mapping: how the first chunk maps its examples.

  Returns:
    `(stacked, sums)`.
  """
  if chunk is None or (isinstance(batch_size, int) and batch_size <= chunk):
    stacked, sums, _ = chunk_fn(None, None, batch_size, mapping)
    return stacked, sums

  def chunk_at(c: Any, mapping: Mapping) -> tuple[Outputs, Outputs, Mapping]:
    positions = c * chunk + tf.range(chunk)
    return chunk_fn(
      positions % tf.maximum(batch_size, 1),
      positions < batch_size,
      chunk,
      mapping,
    )

  found = []

  def first_chunk() -> tuple[Outputs, Outputs]:
    stacked, sums, next_mapping = chunk_at(0, mapping)
    found.append(next_mapping)
    return stacked, sums

  stacked, sums = traced_outputs(first_chunk)
  names, sum_names = sorted(stacked), sorted(sums)
  chunks = (batch_size + chunk - 1) // chunk
  arrays = [
    tf.TensorArray(
      stacked[n].dtype, size=chunks, element_shape=stacked[n].shape
    )
    for n in names
  ]
  totals = [tf.zeros(sums[n].shape, sums[n].dtype) for n in sum_names]

  def step(
    c: Any, arrays: list[Any], totals: list[Any]
  ) -> tuple[Any, list[Any], list[Any]]:
    more, added, _ = chunk_at(c, found[0])
    return (
      c + 1,
      [a.write(c, more[n]) for a, n in zip(arrays, names, strict=True)],
      [t + added[n] for t, n in zip(totals, sum_names, strict=True)],
    )

  # One chunk at a time: bounding memory is what chunks are for.
  _, arrays, totals = tf.while_loop(
    lambda c, *_: c < chunks, step, (0, arrays, totals), parallel_iterations=1
  )
  return (
    {n: a.concat()[:batch_size] for n, a in zip(names, arrays, strict=True)},
    dict(zip(sum_names, totals, strict=True)),
  )
