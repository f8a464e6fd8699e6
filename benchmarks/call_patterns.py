"""Eager call patterns, against the hand-written tape.

Users call a derivative in many ways: one function over and over, a new
function each time, inputs whose shape changes every call, a closure over
each step's number, an impure function. Each pattern is timed whole (its
first calls included) for `value_and_gradient`, a transformer
(`value_and_gradients_function`), `hessian` and `jacobian`, against the
hand-written code for the same calls (`tf.GradientTape`; for the Hessian a
tape over a gradient and `tape.jacobian`); and the user's own `tf.function`
around the same step, its trace included.

    python benchmarks/call_patterns.py [--quick]
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import _hand_written as hand
import _timing
import tensorflow as tf

import tfgradtools.eager as tfe
import tfgradtools.math as tfm

Calls = Callable[[], Iterator[tuple[Callable[..., Any], tf.Tensor]]]
LOG: list[Any] = []


def _vector(n: int) -> tf.Tensor:
  return tf.linspace(-1.0, 1.0, n)


def patterns(calls: int, lengths: int) -> dict[str, Calls]:
  """Each pattern: a fresh sequence of `(f, x)` calls on every run."""
  x = _vector(8)

  def same():
    for _ in range(calls):
      yield hand.chain, x

  def new_functions():
    for i in range(min(calls, 25)):
      # A new function with code of its own, as a notebook cell makes.
      yield eval(f'lambda x: chain(x) + {i}.', {'chain': hand.chain}), x  # pylint: disable=eval-used

  def new_lengths():
    for n in range(2, 2 + lengths):
      yield hand.chain, _vector(n)

  def new_closures():
    for i in range(calls):
      scale = float(i)
      yield (lambda x, scale=scale: hand.chain(x) * scale), x

  def impure(x_in):
    LOG.append(1)  # Appends to a global log at every call.
    return hand.chain(x_in)

  def impure_calls():
    for _ in range(calls):
      yield impure, x

  return {
    f'one function, same shape, {calls} calls': same,
    f'{min(calls, 25)} new functions, one call each': new_functions,
    f'one function, {lengths} input lengths once each': new_lengths,
    f'a closure over a new float, {calls} calls': new_closures,
    f'an impure function, {calls} calls': impure_calls,
  }


def _vector_valued(f: Callable[..., Any]) -> Callable[..., Any]:
  return lambda x: tf.sin(x) * f(x)


def _transformed(transform: Callable[..., Any]) -> Callable[..., Any]:
  """Calls `transform(f)(x)`, transforming each function once, as a user
  keeps `grad_fn = gradients_function(f)`."""
  made: dict[int, Any] = {}

  def call(f, x):
    if id(f) not in made:
      made[id(f)] = (f, transform(f))  # Keeps f alive: ids stay unique.
    return made[id(f)][1](x)

  return call


# Per API: ours, the hand-written code, and how many calls make a pattern.
APIS: dict[
  str,
  tuple[
    Callable[[], Callable[..., Any]], Callable[[], Callable[..., Any]], int
  ],
] = {
  'value_and_gradient': (
    lambda: tfm.value_and_gradient,
    lambda: lambda f, x: hand.tape(f, [x]),
    150,
  ),
  'value_and_gradients_function': (
    lambda: _transformed(tfe.value_and_gradients_function),
    lambda: lambda f, x: hand.tape(f, [x]),
    150,
  ),
  'hessian': (lambda: tfm.hessian, lambda: hand.double_tape, 20),
  'jacobian': (
    lambda: lambda f, x: tfm.jacobian(_vector_valued(f), x),
    lambda: lambda f, x: hand.tape_jacobian(_vector_valued(f), x),
    20,
  ),
}


def _sequence(
  make_call: Callable[[], Callable[..., Any]], pattern: Calls
) -> Callable[[], Any]:
  def run():
    call = make_call()
    result = None
    for f, x in pattern():
      result = call(f, x)
    return result

  return run


def _own_function(
  make_call: Callable[[], Callable[..., Any]], calls: int
) -> Callable[[], Any]:
  """The user's own `tf.function` around the step: made, traced, called."""

  def run():
    call = make_call()
    step = tf.function(lambda x: call(hand.chain, x))
    x = _vector(8)
    result = None
    for _ in range(calls):
      result = step(x)
    return result

  return run


def rows(rounds: int, scale: float) -> list[list[Any]]:
  """Rows `(api, pattern, ours ms, hand-written ms)` per whole pattern."""
  table = []
  for api, (ours, hand_written, calls) in APIS.items():
    calls = max(2, int(calls * scale))
    lengths = 40 if calls >= 100 else 10
    for name, pattern in patterns(calls, lengths).items():
      timed = _timing.time_sequences(
        {
          'ours': _sequence(ours, pattern),
          'hand': _sequence(hand_written, pattern),
        },
        rounds,
      )
      table.append([api, name, timed['ours'], timed['hand']])
      LOG.clear()
    timed = _timing.time_sequences(
      {
        'ours': _own_function(ours, calls),
        'hand': _sequence(
          hand_written,
          patterns(calls, 0)[f'one function, same shape, {calls} calls'],
        ),
      },
      rounds,
    )
    table.append(
      [
        api,
        f'your own tf.function around it, {calls} calls (its trace included)',
        timed['ours'],
        timed['hand'],
      ]
    )
  return table


def report(quick: bool) -> None:
  rounds, scale = (3, 0.4) if quick else (7, 1.0)
  _timing.print_table(
    [
      'eager, whole pattern',
      'pattern',
      'tfgradtools ms',
      'hand-written ms',
      '/ hand-written',
    ],
    [
      [
        api,
        name,
        f'{ours * 1e3:,.1f}',
        f'{hand_s * 1e3:,.1f}',
        f'{ours / hand_s:.2f}',
      ]
      for api, name, ours, hand_s in rows(rounds, scale)
    ],
    'llrrr',
  )


if __name__ == '__main__':
  _timing.main(report, __doc__)
