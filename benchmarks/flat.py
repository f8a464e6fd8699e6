"""`flat_objective` against `value_and_gradient` on the same Keras model.

A 1.07M-parameter Keras MLP (784-1024-256-10, batch 256), eagerly and in
`tf.function`: what flattening, splitting and assigning cost.

    python benchmarks/flat.py [--quick]
"""

from __future__ import annotations

from typing import Any

import _timing
import tensorflow as tf

import tfgradtools.math as tfm


def flat_overhead_rows(rounds: int, seconds: float) -> list[list[Any]]:
  """Rows `(mode, flat s, structured s)`."""
  import keras  # pylint: disable=g-import-not-at-top

  keras.utils.set_random_seed(0)
  model = keras.Sequential(
    [
      keras.Input((784,)),
      keras.layers.Dense(1024, 'relu'),
      keras.layers.Dense(256, 'relu'),
      keras.layers.Dense(10),
    ]
  )
  x = tf.random.stateless_normal([256, 784], [0, 1])
  labels = tf.random.stateless_uniform([256], [2, 3], maxval=10, dtype=tf.int32)

  def loss():
    return tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(labels, model(x))
    )

  objective = tfm.flat_objective(loss, model)
  assert objective.size > 1_000_000, objective.size
  weights = model.trainable_variables
  impls = {
    'flat': objective.value_and_gradient,
    'structured': lambda _: tfm.value_and_gradient(lambda *_: loss(), weights),
  }
  rows = []
  for mode in ('eager', 'function'):
    timed = _timing.time_impls(
      impls
      if mode == 'eager'
      else {k: tf.function(v) for k, v in impls.items()},
      [objective.initial_position],
      rounds,
      seconds * 3,
    )
    rows.append([mode, timed['flat'], timed['structured']])
  return rows


def report(quick: bool) -> None:
  rounds, seconds = (3, 0.03) if quick else (9, 0.1)
  _timing.print_table(
    [
      'flat_objective, 1.07M-parameter Keras MLP',
      'flat ms',
      'value_and_gradient ms',
      'overhead',
    ],
    [
      [
        mode,
        f'{flat * 1e3:,.2f}',
        f'{structured * 1e3:,.2f}',
        f'{(flat / structured - 1) * 100:+.1f}%',
      ]
      for mode, flat, structured in flat_overhead_rows(rounds, seconds)
    ],
  )


if __name__ == '__main__':
  _timing.main(report, __doc__)
