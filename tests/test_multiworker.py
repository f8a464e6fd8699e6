"""MultiWorkerMirroredStrategy: two worker processes on loopback train with
tfgradtools and end where one process training on all the data ends."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

# Two TensorFlow worker processes.
pytestmark = pytest.mark.slow

WORKERS = 2
STEPS = 3
DATA_X = np.arange(8, dtype=np.float32).reshape(4, 2) / 4.0
DATA_Y = np.array([1.0, -1.0, 2.0, 0.5], np.float32)
RATE = 0.05

WORKER = textwrap.dedent('''
    import json, os
    import numpy as np
    import tensorflow as tf
    import keras
    import tfgradtools.eager as tfe
    import tfgradtools.math as tfm

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task = json.loads(os.environ['TF_CONFIG'])['task']['index']
    x = tf.constant(np.array({x!r}, np.float32)[task::{workers}])
    y = tf.constant(np.array({y!r}, np.float32)[task::{workers}])
    with strategy.scope():
      layer = keras.layers.Dense(1, kernel_initializer='ones')
      layer.build((None, 2))
      optimizer = keras.optimizers.SGD(learning_rate={rate})
      optimizer.build(layer.trainable_variables)

    def loss():
      return tf.reduce_sum(tf.square(layer(x)[:, 0] - y))

    def implicit_step():
      optimizer.apply_gradients(tfe.implicit_gradients(loss)())

    def math_step():
      _, grads = tfm.value_and_gradient(lambda k, b: loss(), layer.kernel,
                                        layer.bias)
      optimizer.apply_gradients(zip(grads, layer.trainable_variables))

    steps = [tf.function(lambda: strategy.run(implicit_step)),
             tf.function(lambda: strategy.run(math_step))]
    for i in range({steps}):
      steps[i % 2]()
    print('RESULT=' + json.dumps([v.numpy().tolist()
                                  for v in layer.trainable_variables]))
''')


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def single_process_reference():
  """The same training on all the data in one process, by hand."""
  kernel = tf.Variable(tf.ones([2, 1]))
  bias = tf.Variable(tf.zeros([1]))
  for _ in range(STEPS):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square((DATA_X @ kernel + bias)[:, 0] - DATA_Y))
    for v, g in zip(
      (kernel, bias), tape.gradient(loss, (kernel, bias)), strict=True
    ):
      v.assign_sub(RATE * g)
  return [kernel.numpy(), bias.numpy()]


def test_two_workers_agree_with_one_process():
  cluster = {'worker': [f'127.0.0.1:{p}' for p in free_ports(WORKERS)]}
  script = WORKER.format(
    x=DATA_X.tolist(),
    y=DATA_Y.tolist(),
    workers=WORKERS,
    rate=RATE,
    steps=STEPS,
  )
  workers = []
  try:
    for index in range(WORKERS):
      env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL='3',
        TF_CONFIG=json.dumps(
          {'cluster': cluster, 'task': {'type': 'worker', 'index': index}}
        ),
      )
      workers.append(
        subprocess.Popen(
          [sys.executable, '-c', script],
          env=env,
          text=True,
          stdout=subprocess.PIPE,
          stderr=subprocess.PIPE,
        )
      )
    outputs = [w.communicate(timeout=240) for w in workers]
  finally:
    for w in workers:
      if w.poll() is None:
        w.kill()
        w.communicate()
  results = []
  for w, (out, err) in zip(workers, outputs, strict=True):
    assert w.returncode == 0, err[-3000:]
    line = [o for o in out.splitlines() if o.startswith('RESULT=')][-1]
    results.append([np.array(v) for v in json.loads(line[len('RESULT=') :])])
  expected = single_process_reference()
  for result in results:
    for got, want in zip(result, expected, strict=True):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
