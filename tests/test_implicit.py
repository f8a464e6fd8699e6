"""implicit_gradients pairs gradients with the user's own variables, at a
cost that does not depend on the other data `f` can reach."""

from __future__ import annotations

import gc
import threading
import types
import warnings
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools.eager as tfe
from tfgradtools import _variable_owners

X = np.linspace(-1.0, 1.0, 8).reshape(2, 4).astype(np.float32)


def make_model(seed=0):
  keras.utils.set_random_seed(seed)
  return keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)]
  )


def assert_pairs_hold(pairs, variables):
  assert len(pairs) == len(variables)
  for (grad, variable), expected in zip(pairs, variables, strict=True):
    assert variable is expected
    assert grad is not None and grad.shape == expected.shape


class Trainer:
  """A loss next to a large dataset and a log, as training code has."""

  def __init__(self):
    self.model = make_model()
    self.batches = [(np.zeros(4, 'f4'), np.zeros(1, 'f4'))] * 60_000
    self.log = []

  def loss(self, x):
    self.log.append(len(self.log))
    return tf.reduce_sum(self.model(x) ** 2)


class Shared:
  model = None  # Set by the test: a model shared by every instance.

  def loss(self, x):
    return tf.reduce_sum(type(self).model(x) ** 2)


GLOBAL_MODEL = make_model()
DATA = list(range(300_000))


def global_loss(x):
  return tf.reduce_sum(GLOBAL_MODEL(x) ** 2) + 0.0 * len(DATA)


class Wrapper(tf.Module):
  def __init__(self, model):
    super().__init__()
    self.inner = model


class Outer(keras.Model):
  def __init__(self, inner):
    super().__init__()
    self.inner = inner
    self.head = keras.layers.Dense(1)

  def call(self, x):
    return self.head(self.inner(x))


def reaching_ways():
  """(name, make): `make()` returns `(loss, the variables in order)`."""

  def closure():
    model = make_model()
    return lambda x: tf.reduce_sum(model(x) ** 2), model.trainable_variables

  def attribute():
    trainer = Trainer()
    return trainer.loss, trainer.model.trainable_variables

  def class_attribute():
    Shared.model = make_model()
    return Shared().loss, Shared.model.trainable_variables

  def list_of_models():
    models = [make_model(1), make_model(2)]
    return (
      lambda x: tf.reduce_sum(models[0](x) * models[1](x)),
      models[0].trainable_variables + models[1].trainable_variables,
    )

  def dict_of_models():
    models = {'a': make_model(1), 'b': make_model(2)}
    return (
      lambda x: tf.reduce_sum(models['a'](x) - models['b'](x)),
      models['a'].trainable_variables + models['b'].trainable_variables,
    )

  def module_holding_model():
    wrapper = Wrapper(make_model())
    return (
      lambda x: tf.reduce_sum(wrapper.inner(x) ** 2),
      wrapper.inner.trainable_variables,
    )

  def model_holding_model():
    outer = Outer(make_model())
    outer(X)
    return lambda x: tf.reduce_sum(outer(x) ** 2), outer.trainable_variables

  def argument():
    model = make_model()
    return (
      lambda m, x: tf.reduce_sum(m(x) ** 2),
      model.trainable_variables,
      model,
    )

  return {
    'closure': closure,
    'global': lambda: (global_loss, GLOBAL_MODEL.trainable_variables),
    'attribute of self': attribute,
    'class attribute': class_attribute,
    'list of models': list_of_models,
    'dict of models': dict_of_models,
    'tf.Module holding a model': module_holding_model,
    'model holding a model': model_holding_model,
    'argument': argument,
  }


@pytest.mark.parametrize('way', sorted(reaching_ways()))
def test_pairs_hold_the_users_keras_variables(way):
  made = reaching_ways()[way]()
  loss, variables, args = made[0], made[1], made[2:]
  with warnings.catch_warnings():
    warnings.simplefilter('error')  # No variable goes unmatched.
    for _ in range(2):  # The search, then the remembered owners.
      assert_pairs_hold(tfe.implicit_gradients(loss)(*args, X), variables)
      value, pairs = tfe.implicit_value_and_gradients(loss)(*args, X)
      assert_pairs_hold(pairs, variables)
  assert all(isinstance(v, keras.Variable) for v in variables)


@pytest.mark.slow
def test_training_with_a_keras_optimizer(keras_regime):
  """The pairs go to `apply_gradients`; same weights as hand-written steps."""

  def train(use_tfgradtools):
    def make():
      trainer = Trainer()
      optimizer = keras.optimizers.SGD(0.1)
      optimizer.build(trainer.model.trainable_variables)
      x = tf.constant(X)

      def step():
        if use_tfgradtools:
          pairs = tfe.implicit_gradients(trainer.loss)(x)
        else:
          with tf.GradientTape() as tape:
            value = trainer.loss(x)
          variables = trainer.model.trainable_variables
          pairs = zip(tape.gradient(value, variables), variables, strict=True)
        optimizer.apply_gradients(pairs)
        return [tf.identity(v) for v in trainer.model.trainable_variables]

      def body():
        step()
        return step()

      return body

    return helpers.run(keras_regime, make)

  helpers.assert_all_close(train(True), train(False))


def test_plain_variables_are_their_own_pairs_without_warning():
  w, b = tf.Variable(2.0), tf.Variable(1.0)
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    pairs = tfe.implicit_gradients(lambda x: w * x + b)(3.0)
  assert [v for _, v in pairs] == [w, b] and pairs[0][1] is w
  assert [float(g) for g, _ in pairs] == [3.0, 1.0]


def test_a_variable_found_nowhere_warns_once_per_function():
  """A model read through a module attribute cannot be found (modules are
  not searched): the pair holds the tf.Variable, and a warning says so."""
  namespace = types.ModuleType('settings')
  namespace.model = make_model()

  def loss(x):
    return tf.reduce_sum(namespace.model(x) ** 2)

  with pytest.warns(
    tfe.VariableNotFoundWarning,
    match=r"implicit_gradients: loss read the variable\(s\) "
    r"'.*kernel.*'.*pass it as an argument",
  ) as record:
    pairs = tfe.implicit_gradients(loss)(X)
  assert len(record) == 1
  inner = [v.value for v in namespace.model.trainable_variables]
  assert [v for _, v in pairs] == inner
  with warnings.catch_warnings():
    warnings.simplefilter('error')  # Not again for the same function.
    tfe.implicit_gradients(loss)(X)
  # The fix the warning gives: pass the model.
  pairs = tfe.implicit_gradients(lambda m, x: tf.reduce_sum(m(x) ** 2))(
    namespace.model, X
  )
  assert_pairs_hold(pairs, namespace.model.trainable_variables)


def test_a_replaced_model_is_found_again():
  trainer = Trainer()
  grads = tfe.implicit_gradients(trainer.loss)
  assert_pairs_hold(grads(X), trainer.model.trainable_variables)
  trainer.model = make_model(seed=3)
  assert_pairs_hold(grads(X), trainer.model.trainable_variables)


@pytest.mark.slow
def test_the_library_keeps_no_model_alive():
  trainer = Trainer()
  grads = tfe.implicit_gradients(trainer.loss)
  grads(X)
  grads(X)
  model = weakref.ref(trainer.model)
  kernel = weakref.ref(trainer.model.trainable_variables[0].value)
  del trainer, grads
  gc.collect()
  assert model() is None and kernel() is None


def test_after_the_first_call_nothing_is_searched():
  """Deterministic cost: no object is looked at once the owners are known,
  however large the data next to the model."""
  trainer = Trainer()
  grads = tfe.implicit_value_and_gradients(trainer.loss)
  before = _variable_owners._objects_searched  # pylint: disable=protected-access
  grads(X)
  first = _variable_owners._objects_searched - before  # pylint: disable=protected-access
  assert first < 100, first  # The model is found before the 60,000 batches.
  for loss in (trainer.loss, global_loss):
    tfe.implicit_gradients(loss)(X)
    searched = _variable_owners._objects_searched  # pylint: disable=protected-access
    for _ in range(3):
      tfe.implicit_gradients(loss)(X)
    assert _variable_owners._objects_searched == searched  # pylint: disable=protected-access


def test_containers_are_looked_into_up_to_a_bound():
  """A first call does not walk a 300,000-item list item by item."""
  model = make_model()
  data = list(range(300_000))
  holder = {'data': data, 'other': [np.zeros(3)] * 300_000}
  w = tf.Variable(1.0)  # Unreachable from the loss below: searched for.
  lookup = types.ModuleType('lookup')
  lookup.w = w

  def loss(x):
    return tf.reduce_sum(model(x)) * lookup.w + 0.0 * len(holder['data'])

  before = _variable_owners._objects_searched  # pylint: disable=protected-access
  with pytest.warns(tfe.VariableNotFoundWarning):
    tfe.implicit_gradients(loss)(X)
  searched = _variable_owners._objects_searched - before  # pylint: disable=protected-access
  assert searched <= 3 * _variable_owners.MAX_ITEMS + 200, searched


@pytest.mark.slow
def test_threads():
  trainer = Trainer()
  grads = tfe.implicit_value_and_gradients(trainer.loss)
  errors = []

  def work():
    try:
      for _ in range(10):
        _, pairs = grads(X)
        assert_pairs_hold(pairs, trainer.model.trainable_variables)
    except Exception as error:  # pylint: disable=broad-except
      errors.append(error)

  threads = [threading.Thread(target=work) for _ in range(8)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert not errors
