"""What users write by hand, and the functions the benchmarks differentiate."""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf


def seed_f(x, y):
  """The reference pages' example."""
  return x * x * x * y - x * y * y


def seed_f_floor(x, y):
  """The value and the closed-form derivatives, with no autodiff at all."""
  return seed_f(x, y), [3.0 * x * x * y - y * y, x * x * x - 2.0 * x * y]


def chain(x):
  """A scalar with a dense-banded, non-constant Hessian."""
  return tf.reduce_sum(tf.nn.softplus(x)) + tf.reduce_sum(
    tf.sin(x[:-1] * x[1:])
  )


def tape(f: Callable[..., Any], sources: Any) -> tuple[Any, Any]:
  """Eagerly (or with a tape in a graph): `tf.GradientTape`."""
  with tf.GradientTape() as recording:
    recording.watch(sources)
    y = f(*sources)
  return y, recording.gradient(y, sources)


def symbolic(f: Callable[..., Any], sources: Any) -> tuple[Any, Any]:
  """In a graph: `tf.gradients`."""
  y = f(*sources)
  return y, tf.nest.pack_sequence_as(
    sources, tf.gradients(y, tf.nest.flatten(sources))
  )


def double_tape(f: Callable[..., Any], x: Any, v: Any = None) -> Any:
  """Second order: `H @ v` (reverse-over-reverse), or the Hessian
  (`tape.jacobian` of the gradient) without `v`."""
  with tf.GradientTape() as outer:
    outer.watch(x)
    with tf.GradientTape() as inner:
      inner.watch(x)
      y = f(x)
    grad = inner.gradient(y, x)
  if v is None:
    return outer.jacobian(grad, x)
  return outer.gradient(grad, x, output_gradients=v)


def tape_jacobian(f: Callable[..., Any], x: Any, batch: bool = False) -> Any:
  with tf.GradientTape() as recording:
    recording.watch(x)
    y = f(x)
  return recording.batch_jacobian(y, x) if batch else recording.jacobian(y, x)
