"""The dispatch core: the engine decision, engines, fast backward pass."""

from __future__ import annotations

import pytest
import tensorflow as tf

import helpers
import tfgradtools.math as tfm
from tfgradtools import _core
from tfgradtools import _engines
from tfgradtools import _fast_tape


def test_engine_decision():
  assert _engines.uses_tape(use_gradient_tape=False)  # Eager.
  assert _engines.uses_tape(use_gradient_tape=True)
  with tf.compat.v1.Graph().as_default():
    assert not _engines.uses_tape(use_gradient_tape=False)
    assert _engines.uses_tape(use_gradient_tape=True)

  @tf.function
  def in_function():
    return (
      tf.constant(_engines.uses_tape(use_gradient_tape=False)),
      tf.constant(_engines.uses_tape(use_gradient_tape=True)),
    )

  assert [bool(b) for b in in_function()] == [False, True]


@pytest.mark.parametrize(
  'use_gradient_tape, engine', [(False, 'symbolic'), (True, 'tape')]
)
def test_recorded_engine_in_graph(use_gradient_tape, engine):
  with tf.compat.v1.Graph().as_default():
    x = tf.constant(2.0)
    recorded = _core.record(
      tf.square,
      lambda: ([x], {}, [x]),
      api='test',
      name='test',
      use_gradient_tape=use_gradient_tape,
    )
    assert recorded.engine == engine


def test_discovering_variables_always_uses_a_tape():
  v = tf.Variable(3.0)
  with tf.compat.v1.Graph().as_default():
    w = tf.Variable(3.0)
    recorded = _core.record(
      lambda: w * w, lambda: ((), {}, None), api='test', name='test'
    )
    assert recorded.engine == 'tape' and recorded.sources == [w]
  del v


def _without_fast_tape(monkeypatch, fn):
  monkeypatch.setattr(_fast_tape, '_TAPE_GRADIENT', None)
  return fn()


CASES = [
  lambda: tfm.value_and_gradient(lambda x, y: x * y + tf.sin(x), 2.0, 3.0),
  lambda: tfm.value_and_gradient(
    lambda v, x: tf.reduce_sum(v * x),
    tf.Variable([1.0, 2.0]),
    3.0,
    unconnected_gradients='zero',
  ),
  lambda: tfm.value_and_gradient(
    lambda x, y: x * 2.0, 1.0, 2.0, unconnected_gradients='zero'
  ),
  lambda: tfm.value_and_gradient(
    lambda x: [x, x * x], 3.0, output_gradients=[2.0, 5.0]
  ),
  lambda: tfm.value_and_gradient(
    lambda p: tf.reduce_sum(tf.gather(p, [0, 0])), tf.Variable([1.0, 2.0])
  ),
]


@pytest.mark.parametrize('case', CASES)
def test_fast_backward_pass_equals_public_api(case, monkeypatch):
  fast = case()
  public = _without_fast_tape(monkeypatch, case)
  helpers.assert_all_close(
    helpers.to_numpy(tf.nest.map_structure(tf.convert_to_tensor, fast)),
    helpers.to_numpy(tf.nest.map_structure(tf.convert_to_tensor, public)),
  )


def test_fast_backward_pass_declines_what_it_does_not_know():
  x = tf.constant(1.0)
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = tf.RaggedTensor.from_row_lengths(tf.stack([x, x * 2.0]), [1, 1])
  assert (
    _fast_tape.gradient(tape, [y], [x], None, tf.UnconnectedGradients.NONE)
    is None
  )


def test_non_persistent_recording_differentiates_once():
  x = tf.constant(3.0)
  recorded = _core.record(
    tf.square, lambda: ([x], {}, [x]), api='test', name='test'
  )
  helpers.assert_all_close(recorded.vjp(), [6.0])
  with pytest.raises(RuntimeError, match='only one set of gradients'):
    recorded.vjp()


def test_fast_backward_pass_is_taken_for_tensors_and_variables(monkeypatch):
  calls = []
  original = _fast_tape._TAPE_GRADIENT

  def counting(*args):
    calls.append(len(args[2]))
    return original(*args)

  monkeypatch.setattr(_fast_tape, '_TAPE_GRADIENT', counting)
  tfm.value_and_gradient(lambda x, v: x * v, 2.0, tf.Variable(3.0))
  assert calls == [2]
