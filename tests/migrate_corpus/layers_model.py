"""A small classifier built from tf.layers, trained with
tfe.implicit_value_and_gradients and a momentum optimizer (TF 1.x style)."""
import numpy as np
import tensorflow as tf
import tensorflow.contrib.eager as tfe

tf.enable_eager_execution()
tf.set_random_seed(0)


class Classifier(object):
  """Two dense layers from tf.layers, kept as attributes."""

  def __init__(self):
    self.hidden = tf.layers.Dense(16, activation=tf.nn.relu)
    self.dropout = tf.layers.Dropout(0.0)
    self.logits = tf.layers.Dense(2)

  def __call__(self, inputs):
    return self.logits(self.dropout(self.hidden(inputs)))


# Two separable blobs.
rng = np.random.RandomState(1)
features = np.concatenate([rng.randn(100, 2) + 2., rng.randn(100, 2) - 2.])
features = features.astype(np.float32)
labels = np.array([0] * 100 + [1] * 100)

model = Classifier()


def loss(x, y):
  return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=y, logits=model(x)))

value_and_grads = tfe.implicit_value_and_gradients(loss)
optimizer = tf.train.MomentumOptimizer(learning_rate=0.1, momentum=0.9)
losses = []
for step in range(60):
  value, grads_and_vars = value_and_grads(features, labels)
  optimizer.apply_gradients(grads_and_vars)
  losses.append(value.numpy())

predictions = np.argmax(model(features).numpy(), axis=1)
accuracy = float(np.mean(predictions == labels))
first_loss, last_loss = losses[0], losses[-1]
