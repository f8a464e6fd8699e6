"""Linear regression trained eagerly, in the style of the TF 1.x eager guide.

Uses tfe.implicit_value_and_gradients with a tf.train optimizer, so it needs
--tf-upgrade-v2 as well.
"""
import numpy as np
import tensorflow as tf
from tensorflow.contrib import eager as tfe

tf.enable_eager_execution()

# Noise-free data on the line y = 3x - 1.
inputs = np.linspace(-1., 1., 8).astype(np.float32)
targets = 3. * inputs - 1.
dataset = tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(4)

W = tfe.Variable(0.5, name='weight')
B = tfe.Variable(0., name='bias')


def prediction(x):
  return W * x + B


def loss(x, y):
  return tf.reduce_mean(tf.square(prediction(x) - y))

value_and_gradients_fn = tfe.implicit_value_and_gradients(loss)
optimizer = tf.train.GradientDescentOptimizer(learning_rate=0.1)
global_step = tf.train.get_or_create_global_step()

losses = []
for epoch in range(3):
  epoch_loss = tfe.metrics.Mean('loss')
  for x, y in tfe.Iterator(dataset):
    value, grads_and_vars = value_and_gradients_fn(x, y)
    optimizer.apply_gradients(grads_and_vars, global_step=global_step)
    epoch_loss(value)
  losses.append(float(epoch_loss.result()))

final_weight, final_bias = W.numpy(), B.numpy()
steps = int(global_step.numpy())
print('losses', losses, 'W', final_weight, 'B', final_bias)
