"""Linear regression with a tfe.Network, in the style of the TF 1.x eager
examples: a tf.layers.Dense tracked by the network, a gradient-descent
optimizer counting a global step, and a tfe.Iterator over a tf.data pipeline.
"""
import numpy as np
import tensorflow as tf
import tensorflow.contrib.eager as tfe

tfe.enable_eager_execution()

TRUE_W = [[-2.0], [4.0], [1.0]]
TRUE_B = [0.5]


class LinearModel(tfe.Network):
  """y = x W + b, one dense layer."""

  def __init__(self):
    super(LinearModel, self).__init__()
    self._layer = self.track_layer(tf.layers.Dense(1))

  def call(self, xs):
    return self._layer(xs)


def synthetic_dataset(batch_size, num_batches):
  rng = np.random.RandomState(0)
  xs = rng.randn(batch_size * num_batches, 3).astype(np.float32)
  ys = xs.dot(np.array(TRUE_W, np.float32)) + np.array(TRUE_B, np.float32)
  return tf.data.Dataset.from_tensor_slices((xs, ys)).batch(batch_size)


model = LinearModel()
loss_and_grads = tfe.implicit_value_and_gradients(
    lambda xs, ys: tf.reduce_mean(tf.square(model(xs) - ys)))
optimizer = tf.train.GradientDescentOptimizer(0.1)
first_step = int(tf.train.get_or_create_global_step().numpy())

losses = []
for epoch in range(4):
  for xs, ys in tfe.Iterator(synthetic_dataset(32, 25)):
    loss, grads = loss_and_grads(xs, ys)
    optimizer.apply_gradients(grads, global_step=tf.train.get_global_step())
    losses.append(loss.numpy())

weights = model.variables[0].numpy()
bias = model.variables[1].numpy()
steps = int(tf.train.get_global_step().numpy()) - first_step
first_loss, last_loss = losses[0], losses[-1]
print('w', weights.ravel(), 'b', bias, 'steps', steps)
