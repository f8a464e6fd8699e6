"""A TF 1.x eager sequence regressor: an LSTM cell stepped by hand from its
zero state, tf.layers functions, Adam, and tfe.Saver checkpoints."""
import os
import tempfile

import numpy as np
import tensorflow as tf
import tensorflow.contrib.eager as tfe

tf.enable_eager_execution()
tf.set_random_seed(0)


class SumModel(tf.keras.Model):
  """Reads a sequence step by step and predicts the sum of its values."""

  def __init__(self, units=8):
    super(SumModel, self).__init__()
    self.cell = tf.nn.rnn_cell.BasicLSTMCell(units)
    self.out = tf.keras.layers.Dense(1)

  def states(self, x):
    state = self.cell.zero_state(tf.shape(x)[0], dtype=tf.float32)
    for step in tf.unstack(x, axis=1):
      output, state = self.cell(step, state)
    return output, state

  def predict(self, x, training=False):
    _, state = self.states(x)
    hidden = tf.layers.dropout(state.h, rate=0.1, training=training)
    pooled = tf.layers.max_pooling1d(hidden[:, :, None], 2, 2)
    return self.out(tf.layers.flatten(pooled))


rng = np.random.RandomState(0)
sequences = rng.uniform(0., 1., (64, 5, 1)).astype(np.float32)
targets = sequences.sum(axis=1)

model = SumModel()
optimizer = tf.train.AdamOptimizer(learning_rate=0.1)
losses = []
for epoch in range(20):
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.square(model.predict(sequences, True) - targets))
  grads = tape.gradient(loss, model.variables)
  optimizer.apply_gradients(zip(grads, model.variables))
  losses.append(float(loss))
first_loss, last_loss = losses[0], losses[-1]

# An LSTM's output is the h of its state; c is the cell's memory.
output, state = model.states(sequences[:4])
output_is_h = bool(np.allclose(output, state.h))
output_is_c = bool(np.allclose(output, state.c))

directory = tempfile.mkdtemp()
saver = tfe.Saver(model.variables)
saved = saver.save(os.path.join(directory, 'sum'), global_step=len(losses))
trained = [v.numpy() for v in model.variables]
for variable in model.variables:
  variable.assign(tf.zeros_like(variable))
tfe.Saver(model.variables).restore(tf.train.latest_checkpoint(directory))
restored = all(np.array_equal(v.numpy(), w)
               for v, w in zip(model.variables, trained))
checkpoint_name = os.path.basename(saved)
