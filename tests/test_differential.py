"""Every public API against the hand-written code it replaces.

A varied set of functions and inputs — scalars, empty and size-1
dimensions, float16, bfloat16, float64 and complex, NaN, inf and -0,
integer and string arguments, errors raised by `f`, structured values,
`has_aux`, `output_gradients`/`dy`, `unconnected_gradients='zero'`,
`tf.cond`, `tf.while_loop`, `tf.custom_gradient`, sparse gradients — goes
through every API in every regime and on every internal path, next to what
a user would write by hand in the same place with the same engine: a
`tf.GradientTape` eagerly (or with `use_gradient_tape=True`),
`tf.gradients` in a graph; `tape.jacobian` and `tape.batch_jacobian`; a
tape over a gradient for the Hessian; a second backward pass for the
Hessian-vector product; a `tf.autodiff.ForwardAccumulator` for the JVP.
Ours must give the same values (within float rounding), dtypes,
structures, `None`s and exceptions.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, Callable

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools.eager as tfe
import tfgradtools.math as tfm
from tfgradtools import _engines
from tfgradtools import _fast_tape

# Every API in every regime and engine path, against hand-written code.
pytestmark = pytest.mark.slow


# The functions.


def seed(x, y):
  return x * x * x * y - x * y * y


def chain(x):
  return tf.reduce_sum(tf.nn.softplus(x)) + tf.reduce_sum(
    tf.sin(x[:-1] * x[1:])
  )


def square_sum(x):
  return tf.reduce_sum(x * x)


def divide(x, c):
  return x / c


def vector(x):
  return tf.stack([x[0] * x[1], x[0] ** 2, tf.sin(x[1])])


def doubled(x):
  return 2.0 * x


def branch(x):
  return tf.cond(
    tf.reduce_sum(x) > 0.0,
    lambda: tf.reduce_sum(x**3),
    lambda: tf.reduce_sum(x),
  )


def cubed_in_a_loop(x):
  _, power = tf.while_loop(
    lambda i, a: i < 3,
    lambda i, a: (i + 1, a * x),
    (tf.constant(0), tf.ones_like(x)),
    maximum_iterations=3,
  )  # XLA needs a bound.
  return tf.reduce_sum(power)


@tf.custom_gradient
def _clipped_cube(x):
  def gradient(dy):
    return tf.clip_by_value(dy * 3.0 * x * x, -1.0, 1.0)

  return x**3, gradient


def clipped_cube(x):
  return tf.reduce_sum(_clipped_cube(x))


def gathered(x):
  return tf.reduce_sum(tf.gather(x, [0, 2]) ** 2)


def scaled_by(x, n):
  return x * tf.cast(n, x.dtype)


def labelled(x, label):
  del label
  return 2.0 * x


def pair(x, y):
  return [x * y, tf.reduce_sum(x)]


def named(x):
  return {'double': 2.0 * x, 'square': x * x}


def with_aux(x):
  return tf.reduce_sum(x**2), {'norm': tf.norm(x)}


def labelled_value(x):
  return tf.reduce_sum(x * x), tf.constant('label'), tf.constant(3)


def branch_of_two(x, y):
  return tf.cond(
    tf.reduce_sum(x) > 0.0,
    lambda: tf.reduce_sum(x**3),
    lambda: tf.reduce_sum(y * y),
  )


def first(x, y):
  del y
  return 2.0 * x


def modulus(z):
  return tf.math.real(z * tf.math.conj(z))


def refuses(x):
  raise ValueError(f'refuses x of shape {x.shape}')


def rows(x):
  return tf.sin(x) * tf.reduce_sum(x, axis=1, keepdims=True)


def const(value, dtype=tf.float32):
  return lambda: tf.constant(value, dtype)


GRADIENT, TRANSFORMER, JACOBIAN, BATCH_JACOBIAN, HESSIAN, JVP, HVP = (
  'gradient',
  'transformer',
  'jacobian',
  'batch_jacobian',
  'hessian',
  'jvp',
  'hvp',
)
APIS = (GRADIENT, TRANSFORMER, JACOBIAN, BATCH_JACOBIAN, HESSIAN, JVP, HVP)


@dataclasses.dataclass(frozen=True)
class Case:
  """`f` at `args` (builders, called where the Tensors are made)."""

  name: str
  f: Callable[..., Any]
  args: tuple[Callable[[], Any], ...]
  apis: tuple[str, ...]
  dy: Callable[[], Any] | None = None
  unconnected: str = 'none'
  has_aux: bool = False
  not_xla: tuple[str, ...] = ()  # APIs XLA cannot compile, by hand either.
  rtol: float = 1e-5


SCALARS = (const(2.0), const(3.0))
VECTOR = (const([0.5, -1.0, 2.0, 0.25, 1.5]),)
SECOND_ORDER = (GRADIENT, TRANSFORMER, JACOBIAN, HESSIAN, JVP, HVP)
FIRST_ORDER = (GRADIENT, TRANSFORMER, JACOBIAN, JVP)

CASES = [
  Case('seed', seed, SCALARS, SECOND_ORDER),
  Case(
    'seed_float64',
    seed,
    (const(2.0, tf.float64), const(3.0, tf.float64)),
    SECOND_ORDER,
  ),
  Case(
    'seed_float16',
    seed,
    (const(2.0, tf.float16), const(3.0, tf.float16)),
    (GRADIENT, TRANSFORMER, JACOBIAN, JVP),
    rtol=1e-2,
  ),
  Case(
    'seed_bfloat16',
    seed,
    (const(2.0, tf.bfloat16), const(3.0, tf.bfloat16)),
    (GRADIENT, TRANSFORMER),
    rtol=2e-2,
  ),
  Case('chain', chain, VECTOR, SECOND_ORDER),
  Case('chain_zero', chain, VECTOR, SECOND_ORDER, unconnected='zero'),
  Case('size_one', square_sum, (const([[1.5]]),), SECOND_ORDER),
  Case('empty', square_sum, (const(np.zeros([0], np.float32)),), SECOND_ORDER),
  Case(
    'empty_value',
    doubled,
    (const(np.zeros([0], np.float32)),),
    (GRADIENT, TRANSFORMER, JACOBIAN, JVP),
  ),
  Case('inf_nan', square_sum, (const([np.inf, np.nan, 1.0]),), SECOND_ORDER),
  Case('negative_zero', divide, (const(1.0), const(-0.0)), FIRST_ORDER),
  Case('positive_zero', divide, (const(1.0), const(0.0)), FIRST_ORDER),
  Case(
    'vector_value',
    vector,
    (const([2.0, 3.0]),),
    (GRADIENT, TRANSFORMER, JACOBIAN, JVP),
  ),
  Case(
    'vector_value_dy',
    vector,
    (const([2.0, 3.0]),),
    (GRADIENT, TRANSFORMER),
    dy=const([1.0, -2.0, 0.5]),
  ),
  Case('cond_cubic', branch, (const([1.0, 2.0]),), SECOND_ORDER),
  Case('cond_linear', branch, (const([-1.0, -2.0]),), SECOND_ORDER),
  Case(
    'cond_linear_zero',
    branch,
    (const([-1.0, -2.0]),),
    SECOND_ORDER,
    unconnected='zero',
  ),
  Case(
    'while_loop',
    cubed_in_a_loop,
    (const([1.0, 2.0]),),
    SECOND_ORDER,
    not_xla=(JACOBIAN, HESSIAN, JVP, HVP),
  ),
  Case('custom_gradient', clipped_cube, (const([0.1, 2.0]),), SECOND_ORDER),
  Case(
    'sparse_gradient', gathered, (const([1.0, 2.0, 3.0, 4.0]),), SECOND_ORDER
  ),
  Case(
    'int_argument',
    scaled_by,
    (const(2.0), const(3, tf.int32)),
    (GRADIENT, TRANSFORMER, JACOBIAN),
  ),
  Case(
    'int_argument_zero',
    scaled_by,
    (const(2.0), const(3, tf.int32)),
    (GRADIENT, TRANSFORMER, JACOBIAN),
    unconnected='zero',
  ),
  Case(
    'string_argument',
    labelled,
    (const(2.0), const('a', tf.string)),
    (GRADIENT, TRANSFORMER),
    not_xla=(GRADIENT, TRANSFORMER),
  ),
  Case(
    'list_value',
    pair,
    (const([1.0, 2.0]), const([3.0, 4.0])),
    (GRADIENT, TRANSFORMER, JVP),
    dy=lambda: [tf.constant([1.0, -1.0]), tf.constant(2.0)],
  ),
  Case(
    'dict_value',
    named,
    (const([1.0, 2.0]),),
    (GRADIENT, TRANSFORMER, JVP),
    dy=lambda: {
      'double': tf.constant([1.0, 0.0]),
      'square': tf.constant([0.5, 2.0]),
    },
  ),
  Case(
    'string_in_value',
    labelled_value,
    (const([1.0, 2.0]),),
    (GRADIENT, TRANSFORMER),
    not_xla=(GRADIENT, TRANSFORMER),
  ),
  Case(
    'cond_of_two',
    branch_of_two,
    (const([1.0, 2.0]), const([3.0, 4.0])),
    SECOND_ORDER,
  ),
  Case('has_aux', with_aux, (const([3.0, 4.0]),), (GRADIENT,), has_aux=True),
  Case('unconnected', first, SCALARS, SECOND_ORDER),
  Case('unconnected_zero', first, SCALARS, SECOND_ORDER, unconnected='zero'),
  Case(
    'complex',
    modulus,
    (const(1.0 + 2.0j, tf.complex64),),
    (GRADIENT, TRANSFORMER),
  ),
  Case('f_raises', refuses, (const([1.0, 2.0]),), APIS),
  Case(
    'batch',
    rows,
    (const([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]),),
    (BATCH_JACOBIAN,),
  ),
  Case(
    'batch_float64',
    rows,
    (const([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], tf.float64),),
    (BATCH_JACOBIAN,),
  ),
  Case('batch_size_one', rows, (const([[1.5]]),), (BATCH_JACOBIAN,)),
  Case(
    'batch_empty_rows',
    rows,
    (const(np.zeros([2, 0], np.float32)),),
    (BATCH_JACOBIAN,),
  ),
]


# Ours, and the hand-written reference, for each API. Each returns a
# structure of Tensors (and Nones) to compare.


def _tangents(args):
  return [
    tf.ones_like(a) * 0.5 + tf.cast(i, a.dtype) for i, a in enumerate(args)
  ]


def _split(case, out):
  return out if case.has_aux else (out, None)


def _as_list(derivative, args):
  return [derivative] if len(args) == 1 else list(derivative)


def ours(api: str, case: Case, args: list[Any], use_tape: bool) -> Any:
  u = case.unconnected
  if api == GRADIENT:
    dy = case.dy() if case.dy else None
    value, grads = tfm.value_and_gradient(
      case.f,
      *args,
      output_gradients=dy,
      has_aux=case.has_aux,
      use_gradient_tape=use_tape,
      unconnected_gradients=u,
    )
    return _split(case, value), _as_list(grads, args)
  if api == TRANSFORMER:
    dy = case.dy() if case.dy else None
    value, grads = tfe.value_and_gradients_function(
      case.f, use_gradient_tape=use_tape, unconnected_gradients=u
    )(*args, dy=dy)
    again, vjp = tfe.make_vjp(
      case.f, use_gradient_tape=use_tape, unconnected_gradients=u
    )(*args)
    return value, grads, again, vjp(dy)
  if api == JACOBIAN:
    value, jacobian = tfm.value_and_jacobian(
      case.f, *args, unconnected_gradients=u
    )
    return value, _as_list(jacobian, args)
  if api == BATCH_JACOBIAN:
    value, jacobian = tfm.value_and_batch_jacobian(
      case.f, *args, unconnected_gradients=u
    )
    return value, _as_list(jacobian, args)
  if api == HESSIAN:
    value, hessian = tfm.value_and_hessian(
      case.f, *args, use_gradient_tape=use_tape, unconnected_gradients=u
    )
    return value, [[hessian]] if len(args) == 1 else hessian
  if api == JVP:
    return tfm.value_and_jvp(
      case.f, args, _tangents(args), unconnected_gradients=u
    )
  if api == HVP:
    value, product = tfm.value_and_hvp(
      case.f,
      args,
      _tangents(args),
      use_gradient_tape=use_tape,
      unconnected_gradients=u,
    )
    return value, list(product)
  raise ValueError(api)


def _dense(x):
  if isinstance(x, tf.IndexedSlices):
    return tf.math.unsorted_segment_sum(x.values, x.indices, x.dense_shape[0])
  return x


def _backward(targets, sources, cotangents, u, use_tape, tape=None):
  """Hand-written: `tape.gradient`, or `tf.gradients` in a graph.

  A string or integer part of the value (a label) is left out, as a user
  does who differentiates the loss beside it: a tape skips it by itself,
  `tf.gradients` would fail on a string.
  """
  keep = [t.dtype.is_floating or t.dtype.is_complex for t in targets]
  targets = [t for t, k in zip(targets, keep, strict=True) if k]
  if cotangents is not None:
    cotangents = [c for c, k in zip(cotangents, keep, strict=True) if k]
  if use_tape:
    return tape.gradient(
      targets, sources, output_gradients=cotangents, unconnected_gradients=u
    )
  if cotangents is None and any(t.dtype.is_complex for t in targets):
    cotangents = [tf.ones_like(t) for t in targets]  # As a tape does.
  return tf.gradients(
    targets, sources, grad_ys=cotangents, unconnected_gradients=u
  )


def _recorded(case, args, use_tape):
  """`f`'s value, aux and flat targets, on a tape where one is used."""
  tape = tf.GradientTape(persistent=True) if use_tape else None
  if tape is not None:
    with tape:
      tape.watch(args)
      out = case.f(*args)
  else:
    out = case.f(*args)
  value, aux = _split(case, out)
  return value, aux, tf.nest.flatten(value), tape


def _jacobian(tape, target, source, u, batch=False):
  """`tape.jacobian`, with a while loop where pfor cannot vectorise (as
  tfp.math does, and as the library promises)."""
  method = tape.batch_jacobian if batch else tape.jacobian
  try:
    return method(target, source, unconnected_gradients=u)
  except ValueError:
    return method(
      target, source, unconnected_gradients=u, experimental_use_pfor=False
    )


def _unconnected_block(like, source, u):
  if u == 'zero':
    return tf.zeros(
      tf.concat([tf.shape(like), tf.shape(source)], 0), source.dtype
    )
  return None


def hand_written(api: str, case: Case, args: list[Any], use_tape: bool) -> Any:
  u = case.unconnected
  if api in (GRADIENT, TRANSFORMER):
    dy = case.dy() if case.dy else None
    cotangents = None if dy is None else tf.nest.flatten(dy)
    value, aux, targets, tape = _recorded(case, args, use_tape)
    grads = _backward(targets, args, cotangents, u, use_tape, tape)
    if api == GRADIENT:
      return (value, aux), grads
    return value, grads, value, grads
  if api in (JACOBIAN, BATCH_JACOBIAN):
    value, _, _, tape = _recorded(case, args, True)  # Jacobians: a tape.
    return value, [
      _jacobian(tape, value, x, u, batch=api == BATCH_JACOBIAN) for x in args
    ]
  if api in (HESSIAN, HVP):
    outer = tf.GradientTape(persistent=True)
    with outer:
      outer.watch(args)
      value, _, targets, tape = _recorded(case, args, use_tape)
      grads = [
        _dense(g) for g in _backward(targets, args, None, u, use_tape, tape)
      ]
    if api == HESSIAN:
      return value, [
        [
          _unconnected_block(tf.zeros_like(x_i), x_j, u)
          if g is None
          else _jacobian(outer, g, x_j, u)
          for x_j in args
        ]
        for g, x_i in zip(grads, args, strict=True)
      ]
    connected = [
      (g, t)
      for g, t in zip(grads, _tangents(args), strict=True)
      if g is not None
    ]
    if not connected:
      return value, [None if u == 'none' else tf.zeros_like(x) for x in args]
    products = (
      outer.gradient
      if use_tape
      else lambda ts, ss, output_gradients, unconnected_gradients: tf.gradients(
        ts,
        ss,
        grad_ys=output_gradients,
        unconnected_gradients=unconnected_gradients,
      )
    )(
      [g for g, _ in connected],
      args,
      output_gradients=[t for _, t in connected],
      unconnected_gradients=u,
    )
    return value, products
  if api == JVP:
    with tf.autodiff.ForwardAccumulator(args, _tangents(args)) as acc:
      value = case.f(*args)
    return value, tf.nest.map_structure(
      lambda y: acc.jvp(y, unconnected_gradients=u), value
    )
  raise ValueError(api)


# Comparing them.


def _kind(x: Any) -> Any:
  """What must be equal besides values: type, dtype, structure, None."""
  if x is None:
    return None
  return type(x).__name__.replace('Symbolic', '').replace('Eager', ''), (
    x.dtype.name if hasattr(x, 'dtype') else None
  )


def _capture(compute: Callable[[], Any]) -> tuple[Any, Any]:
  """`(kinds, dense outputs)`, or `(exception type and message, None)`."""
  try:
    out = compute()
  except Exception as error:  # pylint: disable=broad-except
    return (type(error), _message(error)), None
  return tf.nest.map_structure(_kind, out), tf.nest.map_structure(
    _comparable, out
  )


def _comparable(x: Any) -> Any:
  """A dense Tensor NumPy can hold (bfloat16 as float32: kinds say which)."""
  x = _dense(x)
  if x is not None and x.dtype == tf.string:
    return tf.strings.length(x)  # Kinds say it is a string.
  return (
    tf.cast(x, tf.float32) if x is not None and (x.dtype == tf.bfloat16) else x
  )


def _message(error: Exception) -> str:
  """An exception's message without the names of nodes and ops, and
  without the frames AutoGraph lists for an error in converted code."""
  text = str(error).strip()
  if text.startswith('in user code:'):
    text = text.splitlines()[-1].split(': ', 1)[-1]
  return re.sub(r'\{\{node [^}]*\}\}|name: \S*|\[Op:\w+\]', '', text).strip()


REGIME_PATHS = [
  ('eager', 'default'),
  ('eager', 'public_tape'),  # Without the direct C++ calls.
  ('eager', 'looped_jacobians'),  # Jacobians and Hessians as loops...
  ('eager', 'vectorised_jacobians'),  # ... or vectorised, whatever size.
  ('function', 'default'),
  ('function', 'tape_engine'),  # use_gradient_tape=True in a graph.
  ('jit', 'default'),
  ('tf1_session', 'default'),
  ('tf1_session', 'tape_engine'),
  ('distribute', 'default'),
  ('distribute_eager', 'default'),
]


@pytest.fixture
def forced_path(request, monkeypatch):
  path = request.param
  if path == 'public_tape':
    monkeypatch.setattr(_fast_tape, '_TAPE_GRADIENT', None)
    monkeypatch.setattr(_fast_tape, '_TAPE_WATCH', None)
  elif path == 'looped_jacobians':
    for name in ('LOOPED_JACOBIAN_ROWS', 'LOOPED_HESSIAN_ROWS'):
      monkeypatch.setattr(_engines, name, 10**9)
  elif path == 'vectorised_jacobians':
    for name in ('LOOPED_JACOBIAN_ROWS', 'LOOPED_HESSIAN_ROWS'):
      monkeypatch.setattr(_engines, name, -1)
  return path


# Vectorised Jacobians cost a pfor trace per case: the regimes that build
# graphs as `tf.function` does get these representatives of the catalogue.
REPRESENTATIVE = frozenset(
  {
    'seed',
    'chain_zero',
    'empty',
    'inf_nan',
    'cond_linear',
    'while_loop',
    'custom_gradient',
    'sparse_gradient',
    'int_argument_zero',
    'f_raises',
    'unconnected',
    'batch',
    'batch_empty_rows',
    'string_in_value',
    'cond_of_two',
  }
)
COSTLY = (JACOBIAN, BATCH_JACOBIAN, HESSIAN)


def _cases(api: str, regime: str) -> list[Case]:
  return [
    c
    for c in CASES
    if api in c.apis
    and (regime != 'jit' or api not in c.not_xla)
    and (
      regime in ('eager', 'function')
      or api not in COSTLY
      or c.name in REPRESENTATIVE
    )
  ]


# Which APIs each forced path changes.
PATH_APIS = {
  'default': APIS,
  'public_tape': (GRADIENT, TRANSFORMER, HVP),
  'looped_jacobians': COSTLY,
  'vectorised_jacobians': COSTLY,
  'tape_engine': (GRADIENT, TRANSFORMER, HESSIAN, HVP),
}


COMBINATIONS = [
  (regime, path, api)
  for regime, path in REGIME_PATHS
  for api in PATH_APIS[path]
]


@pytest.mark.parametrize(
  'regime,forced_path,api',
  COMBINATIONS,
  indirect=['forced_path'],
  ids=['-'.join(c) for c in COMBINATIONS],
)
def test_same_as_hand_written(regime, forced_path, api):
  cases = _cases(api, regime)
  use_tape = forced_path == 'tape_engine'
  kinds: dict[str, tuple[Any, Any]] = {}

  def make():
    def body():
      outputs = []
      for case in cases:
        args = [build() for build in case.args]
        use_tape_here = use_tape or tf.executing_eagerly()
        mine, mine_out = _capture(
          functools.partial(ours, api, case, args, use_tape)
        )
        theirs, theirs_out = _capture(
          functools.partial(hand_written, api, case, args, use_tape_here)
        )
        kinds[case.name] = mine, theirs
        outputs.append((mine_out, theirs_out))
      return outputs

    return body

  results = helpers.run(regime, make)
  for case, (mine_out, theirs_out) in zip(cases, results, strict=True):
    mine, theirs = kinds[case.name]
    assert mine == theirs, (case.name, mine, theirs)
    helpers.assert_all_close(
      mine_out, theirs_out, rtol=case.rtol, atol=case.rtol
    )


def out_of_range(x):
  return tf.reduce_sum(x) + tf.cast(
    tf.reduce_sum(tf.gather([1, 2], [5])), x.dtype
  )


@pytest.mark.parametrize('api', [GRADIENT, TRANSFORMER, JACOBIAN, HESSIAN, HVP])
@pytest.mark.parametrize('regime', ['eager', 'function', 'tf1_session'])
def test_errors_at_run_time_are_the_same(api, regime):
  """An op that fails when it runs (an index out of range) fails alike."""
  case = Case('out_of_range', out_of_range, (const([1.0, 2.0]),), (api,))
  errors = []
  for compute in (ours, hand_written):

    def make(compute=compute):
      def body():
        args = [build() for build in case.args]
        return compute(api, case, args, tf.executing_eagerly())

      return body

    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
      helpers.run(regime, make)
    errors.append(
      re.findall(r'indices\[0\] = 5 is not in \[0, 2\)', str(raised.value))
    )
  assert errors[0] and errors[0][:1] == errors[1][:1], errors
