"""Execution regimes and assertion helpers shared by the tests."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Callable, Sequence

import numpy as np
import pytest
import tensorflow as tf

# Regimes that run in the test process; 'graph_mode' (eager execution disabled
# process-wide) runs in a subprocess through `run_without_eager`.
IN_PROCESS_REGIMES = (
  'eager',
  'function',
  'jit',
  'tf1_session',
  'distribute',
  'distribute_eager',
)
NUM_REPLICAS = 2
# The regimes that compile (XLA) or replicate (MirroredStrategy) each test's
# function: they cost the most, so the quick loop (`-m "not slow"`) runs a
# test in the other regimes only, and the whole suite in all of them.
SLOW_REGIMES = frozenset({'jit', 'distribute', 'distribute_eager'})

Make = Callable[[], Callable[[], Any]]


def regime_params(regimes: Sequence[str]) -> list[Any]:
  """`regimes` as parameters, those in `SLOW_REGIMES` marked slow."""
  return [
    pytest.param(r, marks=pytest.mark.slow) if r in SLOW_REGIMES else r
    for r in regimes
  ]


def _fetchable(structure: Any) -> tuple[list[Any], list[int]]:
  flat = tf.nest.flatten(structure)
  return flat, [i for i, x in enumerate(flat) if x is not None]


def to_numpy(structure: Any) -> Any:
  """Eager Tensors in `structure` as NumPy values (`None` stays)."""
  return tf.nest.map_structure(
    lambda x: None if x is None else np.asarray(x), structure
  )


def _run_eager(make: Make) -> Any:
  return to_numpy(make()())


def _run_function(make: Make, jit_compile: bool = False) -> Any:
  body = make()
  return to_numpy(tf.function(body, jit_compile=jit_compile)())


def run_in_session(make: Make) -> Any:
  """Builds `make()()` in a TF1 graph and evaluates it in a Session."""
  graph = tf.compat.v1.Graph()
  with graph.as_default():
    outputs = make()()
    flat, fetch = _fetchable(outputs)
    init = tf.compat.v1.global_variables_initializer()
    with tf.compat.v1.Session(graph=graph) as session:
      session.run(init)
      values = session.run([flat[i] for i in fetch])
  for i, value in zip(fetch, values, strict=True):
    flat[i] = value
  return tf.nest.pack_sequence_as(outputs, flat)


@functools.cache
def _strategy() -> tf.distribute.MirroredStrategy:
  """One strategy for the whole run: strategies created one after another in
  a process can reuse collective instance keys, and eager replicas would then
  meet another test's collectives."""
  devices = [d.name for d in tf.config.list_logical_devices('CPU')]
  assert len(devices) >= NUM_REPLICAS, (
    f'tests need {NUM_REPLICAS} logical CPUs (conftest sets them), got '
    f'{devices}'
  )
  return tf.distribute.MirroredStrategy(devices[:NUM_REPLICAS])


def _run_distribute(make: Make, in_function: bool = True) -> Any:
  """Runs the body on every replica (inside a `tf.function`, or eagerly, a
  thread per replica); all replicas must agree."""
  strategy = _strategy()
  with strategy.scope():
    body = make()
  run_replicas = lambda: strategy.run(body)
  outputs = (tf.function(run_replicas) if in_function else run_replicas)()
  flat = tf.nest.flatten(outputs)
  local = [
    None if x is None else strategy.experimental_local_results(x) for x in flat
  ]
  replicas = [
    to_numpy(
      tf.nest.pack_sequence_as(
        outputs, [None if r is None else r[i] for r in local]
      )
    )
    for i in range(NUM_REPLICAS)
  ]
  for other in replicas[1:]:
    assert_all_close(other, replicas[0])
  return replicas[0]


def run(regime: str, make: Make) -> Any:
  """Runs `make()()` in `regime` and returns NumPy results.

  `make` is called where variables may be created (the graph of a TF1
  session, a strategy's scope); the body it returns computes the outputs.
  """
  if regime == 'eager':
    return _run_eager(make)
  if regime == 'function':
    return _run_function(make)
  if regime == 'jit':
    return _run_function(make, jit_compile=True)
  if regime == 'tf1_session':
    return run_in_session(make)
  if regime == 'distribute':
    return _run_distribute(make)
  if regime == 'distribute_eager':
    return _run_distribute(make, in_function=False)
  raise ValueError(f'unknown regime {regime!r}')


def assert_all_close(
  actual: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-6
) -> None:
  """Same nesting (lists and tuples alike) and close values; `None` equal.

  A list of numbers in `expected` may stand for an array in `actual`.
  """
  if expected is None or actual is None:
    assert actual is None and expected is None, (actual, expected)
  elif isinstance(expected, dict):
    assert isinstance(actual, dict) and set(actual) == set(expected), (
      actual,
      expected,
    )
    for key in expected:
      assert_all_close(actual[key], expected[key], rtol, atol)
  elif isinstance(expected, (list, tuple)) and not isinstance(
    actual, (np.ndarray, np.generic, float, int, tf.Tensor)
  ):
    assert isinstance(actual, (list, tuple)), (actual, expected)
    assert len(actual) == len(expected), (actual, expected)
    for a, e in zip(actual, expected, strict=True):
      assert_all_close(a, e, rtol, atol)
  else:
    np.testing.assert_allclose(
      np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol
    )


def run_without_eager(code: str, timeout: float = 300) -> Any:
  """Runs `code` in a fresh process with eager execution disabled.

  As `run_in_fresh_process`, after `tf.compat.v1.disable_eager_execution()`.
  """
  return run_in_fresh_process(
    'tf.compat.v1.disable_eager_execution()\n'
    'assert not tf.executing_eagerly()\n' + textwrap.dedent(code),
    timeout,
  )


def run_in_fresh_process(code: str, timeout: float = 300) -> Any:
  """Runs `code` in a fresh Python process and returns its `result`.

  The code sees `tf`, `np`, `tfm`, `tfe` and the tests' `helpers`, and sets
  `result` to a structure of NumPy-convertible values (or `None`s), which is
  returned through JSON (tuples become lists).
  """
  script = textwrap.dedent('''
      import json, sys
      import numpy as np
      import tensorflow as tf
      sys.path.insert(0, {tests!r})
      import helpers
      import tfgradtools.eager as tfe
      import tfgradtools.math as tfm
  ''').format(tests=os.path.dirname(__file__))
  script += textwrap.dedent(code) + textwrap.dedent('''
      result = tf.nest.map_structure(
          lambda x: None if x is None else np.asarray(x).tolist(), result)
      print('RESULT=' + json.dumps(result))
  ''')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  completed = subprocess.run(
    [sys.executable, '-c', script],
    capture_output=True,
    text=True,
    timeout=timeout,
    env=env,
    check=False,
  )
  assert completed.returncode == 0, completed.stderr[-4000:]
  line = [
    out for out in completed.stdout.splitlines() if out.startswith('RESULT=')
  ][-1]
  return json.loads(line[len('RESULT=') :])


def per_example_sized_tensors(fn: Any, batch: int, size: int) -> list[Any]:
  """The Tensors of the graph of `fn` (a `tf.function` of no arguments)
  holding at least `size` values per example of a batch of `batch`: where
  a per-example gradient of a `size`-value parameter would be formed."""
  graph = fn.get_concrete_function().graph
  return [
    t
    for op in graph.get_operations()
    for t in op.outputs
    if t.shape.is_fully_defined()
    and t.shape.rank
    and t.shape.num_elements() >= batch * size
  ]
