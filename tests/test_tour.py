"""`python -m tfgradtools`: the tour runs and every regime agrees."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_tour_reports_every_function_in_every_regime():
  completed = subprocess.run(
    [sys.executable, '-m', 'tfgradtools'],
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert completed.returncode == 0, completed.stdout + completed.stderr
  out = completed.stdout
  assert 'agrees with the closed form in every regime' in out
  engine_row = next(row for row in out.splitlines() if row.startswith('engine'))
  assert engine_row.split()[1:] == ['tape'] + ['tf.gradients'] * 5
  for name in (
    'value_and_gradient',
    'value_and_gradient_with_auto_expansion',
    'value_and_batch_jacobian',
    'batch_jacobian',
    'gradients_function',
    'value_and_gradients_function',
    'make_vjp',
    'implicit_gradients',
    'implicit_value_and_gradients',
  ):
    row = next(row for row in out.splitlines() if f'.{name}' in row)
    assert row.split()[-6:] == ['ok'] * 6, row


def test_tour_help():
  completed = subprocess.run(
    [sys.executable, '-m', 'tfgradtools', '--help'],
    capture_output=True,
    text=True,
    timeout=120,
    check=True,
  )
  assert 'closed form' in completed.stdout
