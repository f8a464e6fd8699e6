"""value_and_gradients_function with tfe.Variable and tfe.defun (TF 1.x)."""
import tensorflow as tf

tf.enable_eager_execution()
tfe = tf.contrib.eager  # the usual alias in the eager guides


def f(x, y):
  return x * x * x * y - x * y * y

# Obtain a function that returns the function value and the 1st order
# gradients.
val_grads_fn = tfe.value_and_gradients_function(f)

x = 2.0
y = 3.0

# Invoke the value-and-gradients function.
f_val, (x_grad, y_grad) = val_grads_fn(x, y)
assert f_val.numpy() == (2 ** 3) * 3 - 2 * (3 ** 2)
assert x_grad.numpy() == 3 * (2 ** 2) * 3 - 3 ** 2
assert y_grad.numpy() == (2 ** 3) - 2 * 2 * 3

val_ygrad_fn = tfe.value_and_gradients_function(f, params=['y'])
f_val_y, (y_grad_by_name,) = val_ygrad_fn(x, y)

# A variable scales a compiled function; differentiate through both.
scale = tfe.Variable(0.5, name='scale')


@tfe.defun
def scaled_f(x, y):
  return scale * f(x, y)

scaled_val, (scaled_dx, scaled_dy) = tfe.value_and_gradients_function(
    scaled_f)(tf.constant(x), tf.constant(y))
