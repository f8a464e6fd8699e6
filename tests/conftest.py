"""Fixtures: the execution `regime` and `evaluate` in it."""

from __future__ import annotations

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import pytest  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

sys.path.insert(0, os.path.dirname(__file__))
import helpers  # pylint: disable=g-import-not-at-top,wrong-import-position


def _split_cpu_for_replicas() -> None:
  """Gives MirroredStrategy several logical CPUs (before TF initialises)."""
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * helpers.NUM_REPLICAS
  )


_split_cpu_for_replicas()


@pytest.fixture(params=helpers.regime_params(helpers.IN_PROCESS_REGIMES))
def regime(request) -> str:
  return request.param


@pytest.fixture
def evaluate(regime):
  """`evaluate(make)` runs `make()()` in the regime, returning NumPy values."""
  return lambda make: helpers.run(regime, make)


@pytest.fixture(
  params=helpers.regime_params(
    [r for r in helpers.IN_PROCESS_REGIMES if r != 'tf1_session']
  )
)
def keras_regime(request) -> str:
  """The regimes Keras 3 runs in (its objects are not built for TF1 graphs)."""
  return request.param
