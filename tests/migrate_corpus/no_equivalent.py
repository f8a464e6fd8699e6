"""Names without a TF2 equivalent stay and are reported."""
import tensorflow as tf
import tensorflow.contrib.eager as tfe

tfe.enable_eager_execution()
tfe.seterr(inf_or_nan='raise')

w = tfe.Variable(1.0)
grad_fn = tfe.gradients_function(lambda x: w * x)
store = tfe.EagerVariableStore()
devices = tfe.list_devices()
