"""explain_gradients and unconnected_gradients='raise' on a 1.86M-parameter MLP.

Each call's time against one `value_and_gradient` call on the same loss,
eagerly and in a `tf.function`: `'raise'` on a connected loss (checked
where the graph is built, so about 1×), `explain_gradients` where every
gradient is fine (one call and a finiteness check per gradient), and where
one layer's gradient is `None` or NaN (the ops are read: eagerly, from a
graph traced once more for the explanation, on every call).

    python benchmarks/explain.py [--quick]
"""

from __future__ import annotations

from typing import Any

import _timing
import gradients
import tensorflow as tf

import tfgradtools
import tfgradtools.math as tfm


def cases() -> tuple[list[Any], dict[str, Any]]:
  """The MLP's weights, and the calls to time on them."""
  weights, _, loss = gradients.large_workload()

  def frozen_head(*ws):  # The last kernel reaches it via stop_gradient.
    return loss(*ws[:-2], tf.stop_gradient(ws[-2]), ws[-1])

  def nan_at_zero(*ws):  # A norm of a zero vector: a NaN gradient.
    return loss(*ws) + tf.norm(ws[-1])

  return weights, {
    'value_and_gradient': lambda *w: tfm.value_and_gradient(loss, *w),
    "value_and_gradient, 'raise'": lambda *w: tfm.value_and_gradient(
      loss, *w, unconnected_gradients='raise'
    ),
    'explain_gradients, all connected': (
      lambda *w: report_tensors(tfgradtools.explain_gradients(loss, *w))
    ),
    'explain_gradients, one None (stop_gradient)': (
      lambda *w: report_tensors(tfgradtools.explain_gradients(frozen_head, *w))
    ),
    'explain_gradients, one NaN (norm at 0)': (
      lambda *w: report_tensors(tfgradtools.explain_gradients(nan_at_zero, *w))
    ),
  }


def report_tensors(report: Any) -> list[Any]:
  """What to wait for: the value, the gradients and each source's fields
  that are Tensors (in a graph: whether its gradient is finite, and the op
  and line to blame)."""
  fields = tf.nest.flatten(
    [(s.reason, s.op_type, s.location) for s in report.sources]
  )
  return [
    report.value,
    *[g for g in tf.nest.flatten(report.gradients) if g is not None],
    *[f for f in fields if tf.is_tensor(f)],
  ]


def report(quick: bool) -> None:
  rounds, seconds = (3, 0.3) if quick else (7, 1.0)
  weights, impls = cases()
  eager = _timing.time_impls(impls, weights, rounds, seconds)
  graph = _timing.time_impls(
    {k: tf.function(v) for k, v in impls.items()}, weights, rounds, seconds
  )
  base_eager, base_graph = (
    eager['value_and_gradient'],
    graph['value_and_gradient'],
  )
  _timing.print_table(
    [
      'MLP 1.86M params, batch 256',
      'eager ms',
      '/ value_and_gradient',
      'tf.function ms',
      '/ value_and_gradient',
    ],
    [
      [
        name,
        f'{eager[name] * 1e3:.2f}',
        f'{eager[name] / base_eager:.2f}',
        f'{graph[name] * 1e3:.2f}',
        f'{graph[name] / base_graph:.2f}',
      ]
      for name in impls
    ],
  )


if __name__ == '__main__':
  _timing.main(report, __doc__)
