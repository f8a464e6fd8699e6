"""tfp.math gradient calls from TFP's reference pages, and the old xs= form."""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfm = tfp.math

# Case 1: argless `f`.
x = tf.constant(2.)
log_value, log_grad = tfm.value_and_gradient(lambda: tf.math.log(x), x)

# Case 2: packed arguments.
packed_value, packed_grads = tfm.value_and_gradient(
    lambda x, y: x * tf.math.log(y), [2., 3.])

# Case 3: default (one list argument, not unpacked).
logs, log_grads = tfm.value_and_gradient(tf.math.log, [1., 2., 3.],
                                         auto_unpack_single_arg=False)

# The signature of older TFP releases: xs= as a keyword.
legacy_value, legacy_grads = tfp.math.value_and_gradient(
    lambda a, b: a * a * b, xs=[tf.constant(3.), tf.constant(4.)])

# A batch Jacobian of an elementwise map: each example's 2x2 Jacobian.
batch = tf.constant(np.arange(6.).reshape(3, 2), tf.float32)
jac = tfp.math.batch_jacobian(lambda v: tf.sin(v) * v[:, ::-1], batch)
