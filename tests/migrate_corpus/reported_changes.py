"""An MNIST-style TF 1.x eager script: what the migration reports rather than
guesses (a removed dataset module, an RNN function Keras 3 refuses, a cell
that changed, a float64 input to a layer, TF 1 summaries without a step)."""
import numpy as np
import tensorflow as tf
import tensorflow.contrib.eager as tfe
from tensorflow.examples.tutorials.mnist import input_data

tf.enable_eager_execution()

mnist = input_data.read_data_sets('/tmp/mnist', one_hot=True)
images = tf.constant(mnist.train.images[:64], tf.float64)

cell = tf.nn.rnn_cell.BasicLSTMCell(32)
dense = tf.layers.Dense(10)
dense64 = tf.layers.Dense(10, dtype=tf.float64)


def loss_fn(x, y):
  rows = tf.reshape(tf.cast(x, tf.float32), [-1, 28, 28])
  outputs, _ = tf.nn.dynamic_rnn(cell, rows, dtype=tf.float32)
  logits = dense(outputs[:, -1]) + tf.cast(dense64(x), tf.float32)
  return tf.losses.softmax_cross_entropy(y, logits)

grad_fn = tfe.implicit_gradients(loss_fn)
loss = loss_fn(images, mnist.train.labels[:64])
tf.summary.scalar('loss', loss)
tf.summary.histogram('logits', dense.kernel)
