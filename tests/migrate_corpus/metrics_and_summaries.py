"""Softmax regression on three Gaussian blobs, written the TF 1.x eager way:
a device policy, a summary writer from tf.contrib.eager, tf.contrib.summary
imported by module, tfe.metrics reset every epoch, and the _v2 loss."""
import os
import tempfile

import numpy as np
import tensorflow as tf
import tensorflow.contrib.eager as tfe
from tensorflow.contrib.summary import summary

tfe.enable_eager_execution(device_policy=tfe.DEVICE_PLACEMENT_SILENT)

NUM_CLASSES = 3;  # one blob per class
CENTRES = np.array([[2., 0.], [-2., 2.], [-2., -2.]], np.float32)


def make_data(seed):
	"""Points around each centre, and their one-hot labels."""
	rng = np.random.RandomState(seed)
	points = np.concatenate([c + 0.3 * rng.randn(50, 2) for c in CENTRES])
	labels = np.repeat(np.eye(NUM_CLASSES, dtype=np.float32), 50, axis=0)
	return points.astype(np.float32), labels


features, one_hot = make_data(0)
weights = tfe.Variable(tf.zeros([2, NUM_CLASSES]))
bias = tfe.Variable(tf.zeros([NUM_CLASSES]))


def loss_fn(x, y):
  logits = tf.matmul(x, weights) + bias
  return tf.reduce_mean(
      tf.nn.softmax_cross_entropy_with_logits_v2(labels=y,
                                                 logits=logits))  # per batch

grad_fn = tfe.implicit_value_and_gradients(loss_fn)
optimizer = tf.train.GradientDescentOptimizer(0.5)
global_step = tf.train.get_or_create_global_step()
first_step = int(global_step.numpy())
mean_loss = tfe.metrics.Mean('mean_loss')
accuracy = tfe.metrics.Accuracy()

logdir = tempfile.mkdtemp()
writer = tfe.SummaryWriter(logdir)
epoch_losses, epoch_accuracies = [], []
with writer.as_default(), summary.always_record_summaries():
  for epoch in range(20):
    mean_loss.init_variables(); accuracy.init_variables()
    for start in range(0, 150, 30):
      x, y = features[start:start + 30], one_hot[start:start + 30]
      loss, grads = grad_fn(x, y)
      optimizer.apply_gradients(grads, global_step=global_step)
      mean_loss(loss)
      accuracy(tf.argmax(y, 1), tf.argmax(tf.matmul(x, weights) + bias, 1))
    summary.scalar('loss', mean_loss.result(), step=global_step)
    epoch_losses.append(mean_loss.result().numpy())
    epoch_accuracies.append(accuracy.result().numpy())

final_accuracy = epoch_accuracies[-1]
loss_dtype = str(mean_loss.result().dtype.name)
steps = int(global_step.numpy()) - first_step
event_files = len([f for f in os.listdir(logdir) if 'tfevents' in f])
