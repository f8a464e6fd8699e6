"""Every way TF 1.x code reached tf.contrib.eager, in one program."""
import numpy as np, tensorflow.contrib.eager as tfe_multi
import tensorflow
import tensorflow as tf
import tensorflow.contrib.eager
from tensorflow.contrib import eager
from tensorflow.contrib.eager import (implicit_gradients as implicit,
                                      Variable)

tensorflow.contrib.eager.enable_eager_execution()


def cube(x):
  return x * x * x

# A plain attribute chain from the top-level package ...
d_cube = tensorflow.contrib.eager.gradients_function(cube)(2.)[0]
# ... and from its usual alias.
cube_value, (d_cube_again,) = tf.contrib.eager.value_and_gradients_function(
    cube)(2.)
# The submodule imported by name.
d_square = eager.gradients_function(lambda x: x * x)(5.)[0]
# An alias in a multi-name import.
d_sin = tfe_multi.gradients_function(tf.sin)(np.float32(0.))[0]

# Names imported from the module.
w = Variable(4.)
(w_grad, w_var), = implicit(lambda: w * w)()
same_variable = w_var is w
