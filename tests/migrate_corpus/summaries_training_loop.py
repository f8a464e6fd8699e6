"""An implicit-gradients training loop that writes TensorBoard summaries and
counts a global step, as TF 1.x eager programs did (tf.contrib.summary)."""
import os
import tempfile

import numpy as np
import tensorflow as tf
tfe = tf.contrib.eager

tf.enable_eager_execution()

logdir = tempfile.mkdtemp()
writer = tf.contrib.summary.create_summary_file_writer(logdir)
global_step = tf.train.get_or_create_global_step()
first_step = int(global_step.numpy())

# Fit the quadratic a*x^2 + c to points of 1.5*x^2 - 2.
x_data = np.linspace(-2., 2., 41).astype(np.float32)
y_data = 1.5 * x_data ** 2 - 2.
a = tfe.Variable(0.)
c = tfe.Variable(0.)


def loss_fn(x, y):
  return tf.reduce_mean(tf.square(a * x * x + c - y))

grad_fn = tfe.implicit_gradients(loss_fn)
optimizer = tf.train.AdamOptimizer(learning_rate=0.1)

with writer.as_default(), tf.contrib.summary.always_record_summaries():
  for _ in range(300):
    grads_and_vars = grad_fn(x_data, y_data)
    optimizer.apply_gradients(grads_and_vars, global_step=global_step)
    tf.contrib.summary.scalar('loss', loss_fn(x_data, y_data))
    tf.contrib.summary.scalar('a', a, step=global_step)
tf.contrib.summary.flush(writer)

fitted = [a.numpy(), c.numpy()]
steps = int(global_step.numpy()) - first_step
event_files = len([f for f in os.listdir(logdir) if 'tfevents' in f])
