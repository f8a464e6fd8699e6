"""`implicit_value_and_gradients` next to large Python data, eagerly.

A Keras model in a trainer holding 60,000 batches, and losses reading a
300,000-item list, a 200,000-entry dict or appending to a growing log:
each call against a hand-written tape over the model's variables, and the
first call (which finds the user's Keras variables).

    python benchmarks/implicit.py [--quick]
"""

from __future__ import annotations

from typing import Any

import _timing
import numpy as np
import tensorflow as tf

import tfgradtools.eager as tfe

# Data next to a model, as training code has it (filled by `implicit_rows`).
BIG_LIST: list[Any] = []
VOCAB: dict[str, int] = {}
LOG: list[Any] = []


class Trainer:
  """A Keras model next to 60,000 batches."""

  def __init__(self, model):
    self.model = model
    self.batches = [(np.zeros(4, 'f4'), np.zeros(1, 'f4'))] * 60_000

  def loss(self, x):
    return tf.reduce_sum(self.model(x))


def implicit_rows(rounds: int, seconds: float) -> list[list[Any]]:
  """Rows `(case, ours s, hand-written s, our first call s)`."""
  import keras  # pylint: disable=g-import-not-at-top

  keras.utils.set_random_seed(0)
  model = keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)]
  )
  BIG_LIST[:] = [np.float32(i) for i in range(300_000)]
  VOCAB.clear()
  VOCAB.update((f'word{i}', i) for i in range(200_000))
  LOG.clear()
  x = tf.ones([2, 4])
  model(x)

  def reads_list(x):
    return tf.reduce_sum(model(x)) + 0.0 * len(BIG_LIST)

  def reads_dict(x):
    return tf.reduce_sum(model(x)) + 0.0 * VOCAB['word7']

  def logs(x):
    LOG.append(np.ones(4))  # Grows every step.
    return tf.reduce_sum(model(x))

  cases = {
    'Trainer: model next to 60,000 batches': Trainer(model).loss,
    'loss reading a 300,000-item global list': reads_list,
    'loss reading a 200,000-entry global dict': reads_dict,
    'loss appending to a global log list': logs,
  }
  rows = []
  for case, loss in cases.items():
    ours = tfe.implicit_value_and_gradients(loss)
    first = _timing.first_call_seconds(lambda ours=ours: ours(x)[0])

    def hand(x, loss=loss):
      with tf.GradientTape() as tape:
        value = loss(x)
      return value, tape.gradient(value, model.trainable_variables)

    timed = _timing.time_impls(
      {'ours': ours, 'hand': hand}, [x], rounds, seconds
    )
    rows.append([case, timed['ours'], timed['hand'], first])
  BIG_LIST.clear()
  VOCAB.clear()
  LOG.clear()
  return rows


def report(quick: bool) -> None:
  rounds, seconds = (3, 0.03) if quick else (9, 0.1)
  _timing.print_table(
    [
      'eager implicit_value_and_gradients',
      'µs per call',
      'hand-written µs',
      '/ hand-written',
      'first call ms',
    ],
    [
      [
        case,
        f'{ours * 1e6:,.1f}',
        f'{hand * 1e6:,.1f}',
        f'{ours / hand:.2f}',
        f'{first * 1e3:,.1f}',
      ]
      for case, ours, hand, first in implicit_rows(rounds, seconds)
    ],
  )


if __name__ == '__main__':
  _timing.main(report, __doc__)
