"""A maximum-likelihood step with tfp.math and TFP distributions (TFP stays)."""
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

data = tf.constant([0.5, 1.5, 2.0, 4.0])
mu = tf.constant(1.0)


def negative_log_likelihood(mu):
  return -tf.reduce_sum(tfd.Normal(loc=mu, scale=2.).log_prob(data))

nll, dnll_dmu = tfp.math.value_and_gradient(negative_log_likelihood, mu)
step = mu - 0.5 * dnll_dmu
