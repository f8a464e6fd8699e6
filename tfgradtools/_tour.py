"""`python -m tfgradtools`: every public function on one example, in
every execution regime, next to the closed form."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any, Callable

import numpy as np

DESCRIPTION = """\
A short tour of tfgradtools. It differentiates the reference pages' example
f(x, y) = x^3 y - x y^2 at x = 2, y = 3 with every public function, in every
execution regime, and checks each result against the closed form:
  f = 6,  df/dx = 3x^2 y - y^2 = 27,  df/dy = x^3 - 2xy = -4,
  d2f/dx2 = 6xy = 36,  d2f/dxdy = 3x^2 - 2y = 6.
It also names the engine each regime uses: a tf.GradientTape when executing
eagerly, tf.gradients when building a graph."""

REGIMES = {
  'eager': 'eager',
  'function': 'tf.function',
  'jit': 'jit_compile',
  'session': 'TF1 Session',
  'no_eager': 'eager disabled',
  'mirrored': 'Mirrored x2',
}
_NO_EAGER_FLAG = '--no-eager-worker'


def f(x: Any, y: Any) -> Any:
  return x * x * x * y - x * y * y


def _cases(
  tf: Any, tfm: Any, tfe: Any
) -> list[tuple[str, Callable[[], Any], list[float]]]:
  """(label, make, closed form): `make()` creates variables and returns a
  body computing the result, flattened to numbers by the runner."""

  def variables() -> Any:
    module = tf.Module()
    module.x, module.y = tf.Variable(2.0), tf.Variable(3.0)
    return module

  def batched(v: Any) -> Any:
    return f(v[:, :1], v[:, 1:])

  def implicit(fn: Callable[..., Any]) -> Callable[[], Any]:
    def make() -> Callable[[], Any]:
      m = variables()
      return lambda: fn(lambda: f(m.x, m.y))()

    return make

  def grad_fn() -> Any:
    return tfe.gradients_function(f)

  return [
    (
      'math.value_and_gradient(f, [2., 3.])',
      lambda: lambda: tfm.value_and_gradient(f, [2.0, 3.0]),
      [6, 27, -4],
    ),
    (
      'math.value_and_gradient(f, xs=[2., 3.])',
      lambda: lambda: tfm.value_and_gradient(f, xs=[2.0, 3.0]),
      [6, 27, -4],
    ),
    (
      'math.value_and_gradient_with_auto_expansion',
      lambda: (
        lambda m: (
          lambda: tfm.value_and_gradient_with_auto_expansion(
            lambda m: f(m.x, m.y), m
          )
        )
      )(variables()),
      [6, 27, -4],
    ),
    (
      'math.value_and_batch_jacobian',
      lambda: (
        lambda: tfm.value_and_batch_jacobian(batched, tf.constant([[2.0, 3.0]]))
      ),
      [6, 27, -4],
    ),
    (
      'math.batch_jacobian',
      lambda: lambda: tfm.batch_jacobian(batched, tf.constant([[2.0, 3.0]])),
      [27, -4],
    ),
    (
      'eager.gradients_function(f)',
      lambda: lambda: grad_fn()(2.0, 3.0),
      [27, -4],
    ),
    (
      'eager.value_and_gradients_function(f)',
      lambda: lambda: tfe.value_and_gradients_function(f)(2.0, 3.0),
      [6, 27, -4],
    ),
    (
      '  second order: grad of grad_fn(x, y)[0]',
      lambda: (
        lambda: tfe.gradients_function(lambda x, y: grad_fn()(x, y)[0])(
          2.0, 3.0
        )
      ),
      [36, 6],
    ),
    (
      'eager.make_vjp(f) with dy = 2',
      lambda: lambda: (lambda r: (r[0], r[1](2.0)))(tfe.make_vjp(f)(2.0, 3.0)),
      [6, 54, -8],
    ),
    (
      'eager.implicit_gradients',
      implicit(
        lambda fn: lambda *a: [g for g, _ in tfe.implicit_gradients(fn)(*a)]
      ),
      [27, -4],
    ),
    (
      'eager.implicit_value_and_gradients',
      implicit(
        lambda fn: (
          lambda *a: (lambda r: (r[0], [g for g, _ in r[1]]))(
            tfe.implicit_value_and_gradients(fn)(*a)
          )
        )
      ),
      [6, 27, -4],
    ),
  ]


def _engine_probe(tf: Any) -> Callable[[], Any]:
  from tfgradtools import _engines  # pylint: disable=g-import-not-at-top

  return lambda: (
    lambda: tf.constant(
      1.0 if _engines.uses_tape(use_gradient_tape=False) else 0.0
    )
  )


def _flat_numbers(tf: Any, structure: Any) -> list[float]:
  return [
    float(v)
    for x in tf.nest.flatten(structure)
    for v in np.ravel(np.asarray(x))
  ]


def _run_regime(
  regime: str, tf: Any, makes: list[Callable[[], Any]]
) -> list[Any]:
  """Each make's body's results, flattened to numbers (or an error text)."""
  results: list[Any] = []
  for make in makes:
    try:
      results.append(_run_one(regime, tf, make))
    except Exception as error:  # pylint: disable=broad-except
      results.append(f'{type(error).__name__}: {error}'.splitlines()[0])
  return results


def _run_one(regime: str, tf: Any, make: Callable[[], Any]) -> list[float]:
  if regime == 'eager':
    return _flat_numbers(tf, make()())
  if regime in ('function', 'jit'):
    body = make()
    return _flat_numbers(tf, tf.function(body, jit_compile=regime == 'jit')())
  if regime in ('session', 'no_eager'):
    graph = tf.compat.v1.Graph()
    with graph.as_default():
      outputs = make()()
      init = tf.compat.v1.global_variables_initializer()
      with tf.compat.v1.Session(graph=graph) as session:
        session.run(init)
        return _flat_numbers(tf, session.run(outputs))
  strategy = tf.distribute.MirroredStrategy(
    [d.name for d in tf.config.list_logical_devices('CPU')][:2]
  )
  with strategy.scope():
    body = make()
  outputs = tf.function(lambda: strategy.run(body))()
  per_replica = [
    _flat_numbers(
      tf,
      tf.nest.map_structure(
        lambda x, i=i: strategy.experimental_local_results(x)[i], outputs
      ),
    )
    for i in range(2)
  ]
  if not np.allclose(per_replica[0], per_replica[1]):
    raise ValueError(f'replicas disagree: {per_replica}')
  return per_replica[0]


def _import_tensorflow(split_cpu: bool) -> Any:
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  tf.get_logger().setLevel('ERROR')
  if split_cpu:
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
  return tf


def _no_eager_worker() -> None:
  tf = _import_tensorflow(split_cpu=False)
  tf.compat.v1.disable_eager_execution()
  import tfgradtools  # pylint: disable=g-import-not-at-top

  makes = [_engine_probe(tf)] + [
    make for _, make, _ in _cases(tf, tfgradtools.math, tfgradtools.eager)
  ]
  print(json.dumps(_run_regime('no_eager', tf, makes)))


def _run_no_eager_in_subprocess(count: int) -> list[Any]:
  completed = subprocess.run(
    [sys.executable, '-m', 'tfgradtools', _NO_EAGER_FLAG],
    capture_output=True,
    text=True,
    check=False,
    timeout=300,
  )
  if completed.returncode != 0:
    return [completed.stderr.strip().splitlines()[-1]] * count
  results: list[Any] = json.loads(completed.stdout.strip().splitlines()[-1])
  return results


def _cell(result: Any, expected: list[float]) -> str:
  if isinstance(result, str):
    return 'ERROR'
  ok = len(result) == len(expected) and np.allclose(result, expected)
  return 'ok' if ok else 'WRONG'


def _format(values: list[float]) -> str:
  return ', '.join(f'{v:g}' for v in values)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog='python -m tfgradtools',
    description=DESCRIPTION,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
    _NO_EAGER_FLAG, action='store_true', help=argparse.SUPPRESS
  )
  args = parser.parse_args(argv)
  if args.no_eager_worker:
    _no_eager_worker()
    return 0

  tf = _import_tensorflow(split_cpu=True)
  import tfgradtools  # pylint: disable=g-import-not-at-top

  cases = _cases(tf, tfgradtools.math, tfgradtools.eager)
  makes = [_engine_probe(tf)] + [make for _, make, _ in cases]
  results = {}
  for regime in REGIMES:
    if regime == 'no_eager':
      results[regime] = _run_no_eager_in_subprocess(len(makes))
    else:
      results[regime] = _run_regime(regime, tf, makes)

  print(
    f'tfgradtools {tfgradtools.__version__} on TensorFlow {tf.__version__}\n'
  )
  print(DESCRIPTION)
  print()
  label_width = max(len(label) for label, _, _ in cases) + 2
  header = (
    'function'.ljust(label_width)
    + 'closed form'.ljust(14)
    + ''.join(name.ljust(15) for name in REGIMES.values())
  )
  print(header)
  print('-' * len(header))
  engines = ''.join(
    (
      'ERROR'
      if isinstance(r[0], str)
      else 'tape'
      if r[0][0]
      else 'tf.gradients'
    ).ljust(15)
    for r in results.values()
  )
  print('engine'.ljust(label_width) + ''.ljust(14) + engines)
  failures = []
  for i, (label, _, expected) in enumerate(cases, start=1):
    cells = ''
    for regime, name in REGIMES.items():
      cell = _cell(results[regime][i], expected)
      cells += cell.ljust(15)
      if cell != 'ok':
        failures.append(f'{label} in {name}: got {results[regime][i]}')
    print(label.ljust(label_width) + _format(expected).ljust(14) + cells)
  print()
  if failures:
    print('Results that differ from the closed form:')
    print('\n'.join(f'  {line}' for line in failures))
    return 1
  print('Every function agrees with the closed form in every regime.')
  return 0
