"""Property tests: random functions and argument structures against finite
differences and the anchors (tfp.math, TensorFlow's private backprop)."""

from __future__ import annotations

import collections

import hypothesis
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import strategies as st
from tensorflow.python.eager import backprop  # The anchor, in tests only.

import helpers
import tfgradtools.eager as tfe
import tfgradtools.math as tfm

tfp = pytest.importorskip('tensorflow_probability')

SETTINGS = hypothesis.settings(
  max_examples=50, deadline=None, derandomize=True, print_blob=True
)

UNARY = {
  'sin': tf.sin,
  'tanh': tf.tanh,
  'square': tf.square,
  'softplus': tf.nn.softplus,
  'exp_small': lambda x: tf.exp(0.3 * x),
  'scale': lambda x: 1.7 * x,
}
BINARY = {'add': tf.add, 'mul': tf.multiply, 'sub': tf.subtract}
REDUCE = {'sum': tf.reduce_sum, 'mean': tf.reduce_mean, 'none': None}
Pair = collections.namedtuple('Pair', 'first second')


@st.composite
def programs(draw):
  """A random composition of elementwise ops and an optional reduction."""
  num_args = draw(st.integers(1, 3))
  shape = draw(st.sampled_from([(), (3,), (2, 3)]))
  steps = draw(
    st.lists(
      st.tuples(
        st.sampled_from(sorted(UNARY)),
        st.sampled_from(sorted(BINARY)),
        st.integers(0, num_args - 1),
      ),
      min_size=1,
      max_size=4,
    )
  )
  reduce = draw(st.sampled_from(sorted(REDUCE)))
  seed = draw(st.integers(0, 2**16))
  return num_args, shape, steps, reduce, seed


def build(program):
  """The program as a function of its flat arguments, and those arguments."""
  num_args, shape, steps, reduce, seed = program
  rng = np.random.default_rng(seed)

  def f(*xs):
    h = xs[0]
    for unary, binary, operand in steps:
      h = BINARY[binary](UNARY[unary](h), xs[operand])
    return h if REDUCE[reduce] is None else REDUCE[reduce](h)

  args = [tf.constant(rng.uniform(-1.0, 1.0, shape)) for _ in range(num_args)]
  dy = tf.constant(rng.uniform(-1.0, 1.0, f(*args).shape))
  return f, args, dy


def nest_like(kind, leaves):
  """`leaves` wrapped in a structure of the given kind."""
  if kind == 'list':
    return list(leaves)
  if kind == 'dict':
    return {f'x{i}': leaf for i, leaf in enumerate(leaves)}
  return Pair(leaves[0], list(leaves[1:]))


def finite_difference_vjp(f, args, dy):
  _, numerical = tf.test.compute_gradient(
    lambda *xs: tf.reshape(f(*xs) * dy, [-1]), args
  )
  # compute_gradient differentiates each output element: sum the rows.
  return [
    np.asarray(j).sum(axis=0).reshape(a.shape)
    for j, a in zip(numerical, args, strict=True)
  ]


@pytest.mark.slow
@SETTINGS
@hypothesis.given(programs(), st.sampled_from(['list', 'dict', 'pair']))
def test_math_matches_finite_differences_and_tfp(program, kind):
  f, args, dy = build(program)
  structure = nest_like(kind, args)
  g = lambda s: f(*tf.nest.flatten(s))
  value, grads = tfm.value_and_gradient(
    g,
    structure,
    output_gradients=dy,
    auto_unpack_single_arg=False,
    unconnected_gradients='zero',
  )
  helpers.assert_all_close(
    tf.nest.flatten(grads),
    finite_difference_vjp(f, args, dy),
    rtol=1e-4,
    atol=1e-5,
  )
  theirs = tfp.math.value_and_gradient(
    g, structure, output_gradients=dy, auto_unpack_single_arg=False
  )
  helpers.assert_all_close(
    (value, tf.nest.flatten(grads)),
    (
      theirs[0],
      [
        tf.zeros_like(a) if t is None else t
        for a, t in zip(args, tf.nest.flatten(theirs[1]), strict=True)
      ],
    ),
  )
  tf.nest.assert_same_structure(grads, structure)


@pytest.mark.slow
@SETTINGS
@hypothesis.given(programs(), st.booleans())
def test_eager_matches_tensorflow_and_finite_differences(program, with_dy):
  f, args, dy = build(program)
  dy = dy if with_dy else None
  ours = tfe.value_and_gradients_function(f)(*args, dy=dy)
  theirs = backprop.val_and_grad_function(f)(*args, dy=dy)
  helpers.assert_all_close(ours, theirs)
  expected = finite_difference_vjp(
    f, args, tf.ones_like(f(*args)) if dy is None else dy
  )
  zeros = tfe.value_and_gradients_function(f, unconnected_gradients='zero')(
    *args, dy=dy
  )[1]
  helpers.assert_all_close(zeros, expected, rtol=1e-4, atol=1e-5)
  _, vjp = tfe.make_vjp(f)(*args)
  helpers.assert_all_close(vjp(dy), theirs[1])


@pytest.mark.slow
@SETTINGS
@hypothesis.given(programs())
def test_graph_engine_agrees_with_tape(program):
  f, args, dy = build(program)
  symbolic = tf.function(
    lambda *a: tfm.value_and_gradient(f, *a, output_gradients=dy)
  )(*args)
  taped = tf.function(
    lambda *a: tfm.value_and_gradient(
      f, *a, output_gradients=dy, use_gradient_tape=True
    )
  )(*args)
  helpers.assert_all_close(helpers.to_numpy(symbolic), helpers.to_numpy(taped))
