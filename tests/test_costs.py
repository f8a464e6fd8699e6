"""Deterministic costs: traced graphs are the hand-written ones, op for op,
and a tf.function using the library traces once per input signature."""

from __future__ import annotations

import collections

import pytest
import tensorflow as tf

import tfgradtools.eager as tfe
import tfgradtools.math as tfm


def f(x, y):
  return x * x * x * y - x * y * y


def mlp(w1, b1, w2, b2, x):
  return tf.reduce_mean(tf.square(tf.nn.relu(x @ w1 + b1) @ w2 + b2))


def op_types(fn, *args):
  graph = tf.function(fn).get_concrete_function(*args).graph
  return collections.Counter(op.type for op in graph.get_operations())


def hand_symbolic(fn, *xs):
  y = fn(*xs)
  return y, tf.gradients(y, list(xs))


def hand_tape(fn, *xs):
  with tf.GradientTape() as tape:
    tape.watch(xs)
    y = fn(*xs)
  return y, tape.gradient(y, list(xs))


SPECS = {
  'seed': (f, [tf.TensorSpec([], tf.float32)] * 2),
  'mlp': (
    mlp,
    [
      tf.TensorSpec([4, 8]),
      tf.TensorSpec([8]),
      tf.TensorSpec([8, 1]),
      tf.TensorSpec([1]),
      tf.TensorSpec([16, 4]),
    ],
  ),
}


@pytest.mark.parametrize('case', sorted(SPECS))
def test_graph_ops_equal_hand_written_tf_gradients(case):
  fn, specs = SPECS[case]
  hand = op_types(lambda *a: hand_symbolic(fn, *a), *specs)
  assert op_types(lambda *a: tfm.value_and_gradient(fn, *a), *specs) == hand
  assert op_types(tfe.value_and_gradients_function(fn), *specs) == hand
  assert op_types(lambda *a: tfe.gradients_function(fn)(*a), *specs) == (
    op_types(lambda *a: hand_symbolic(fn, *a)[1], *specs)
  )


@pytest.mark.parametrize('case', sorted(SPECS))
def test_graph_ops_equal_hand_written_tape(case):
  fn, specs = SPECS[case]
  hand = op_types(lambda *a: hand_tape(fn, *a), *specs)
  assert (
    op_types(
      lambda *a: tfm.value_and_gradient(fn, *a, use_gradient_tape=True), *specs
    )
    == hand
  )
  assert (
    op_types(
      tfe.value_and_gradients_function(fn, use_gradient_tape=True), *specs
    )
    == hand
  )


@pytest.mark.parametrize('unconnected', ['none', 'raise'])
@pytest.mark.parametrize('case', sorted(SPECS))
def test_unconnected_gradients_adds_no_op(case, unconnected):
  """Neither 'none' nor 'raise' (on a connected function) costs an op: the
  check of 'raise' is of the traced structure, not of values."""
  fn, specs = SPECS[case]
  hand = op_types(lambda *a: hand_symbolic(fn, *a), *specs)
  assert (
    op_types(
      lambda *a: tfm.value_and_gradient(
        fn, *a, unconnected_gradients=unconnected
      ),
      *specs,
    )
    == hand
  )
  assert (
    op_types(
      tfe.value_and_gradients_function(fn, unconnected_gradients=unconnected),
      *specs,
    )
    == hand
  )


def test_one_trace_per_input_signature():
  math_step = tf.function(lambda x, y: tfm.value_and_gradient(f, x, y))
  eager_step = tf.function(tfe.value_and_gradients_function(f))
  for step in (math_step, eager_step):
    for i in range(5):
      step(tf.constant(float(i)), tf.constant(2.0))
    assert step.experimental_get_tracing_count() == 1
    step(tf.constant([1.0, 2.0]), tf.constant([3.0, 4.0]))  # A new signature.
    assert step.experimental_get_tracing_count() == 2
