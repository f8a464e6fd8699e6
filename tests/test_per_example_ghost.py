"""Per-example norms of convolution kernels, normalization scales and offsets
and biases without forming the per-example gradients, against a loop of
hand-written tapes and the materialised norms, in every regime."""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfgradtools.math as tfm
from tfgradtools._per_example import ghost

RNG = np.random.default_rng(25)
BATCH = 6
CLIP = 0.5
REGIMES = ('eager', 'function', 'jit', 'tf1_session')
DTYPES = (np.float32, np.float64)
L = keras.layers


def conv2d(strides=1, padding='SAME', dilations=1, bias='add'):
  """A 2-D convolution, its bias (`tf.nn.bias_add` or a broadcast add) and
  a nonlinear loss per example. Dilated, by `tf.nn.convolution`, which
  computes it on a rearranged input (as Keras): TensorFlow's CPU kernels
  have no gradient of a dilated `Conv2D` op."""

  def loss(p, x):
    if dilations == 1:
      y = tf.nn.conv2d(x, p['kernel'], strides, padding)
    else:
      y = tf.nn.convolution(
        x, p['kernel'], strides, padding, dilations=dilations
      )
    y = tf.nn.bias_add(y, p['bias']) if bias == 'bias_add' else y + p['bias']
    return tf.reduce_sum(tf.sin(y), [1, 2, 3])

  return loss


def conv1d(stride=1, padding='SAME', dilations=1):
  """A 1-D convolution (`tf.nn.convolution`, which computes a dilated one
  on a rearranged input) with its bias."""

  def loss(p, x):
    y = tf.nn.convolution(x, p['kernel'], stride, padding, dilations=dilations)
    return tf.reduce_sum(tf.sin(tf.nn.bias_add(y, p['bias'])), [1, 2])

  return loss


def layer_norm(p, x):
  """`LayerNormalization` over the last axis, written out."""
  mean, variance = tf.nn.moments(x, [-1], keepdims=True)
  y = (x - mean) * tf.math.rsqrt(variance + 1e-3) * p['scale'] + p['offset']
  return tf.reduce_sum(tf.sin(3.0 * y), [1, 2])


def group_norm(p, x):
  """`GroupNormalization` of 6 channels in 2 groups, written out."""
  groups = tf.reshape(x, [-1, x.shape[1], 2, 3])
  mean, variance = tf.nn.moments(groups, [1, 3], keepdims=True)
  normalized = tf.reshape(
    (groups - mean) * tf.math.rsqrt(variance + 1e-3), [-1, x.shape[1], 6]
  )
  y = normalized * p['scale'] + p['offset']
  return tf.reduce_sum(tf.sin(3.0 * y), [1, 2])


# name: (loss, parameter shapes, one example's input shape). Each kernel
# takes the Gram matrices (`N (N + P) ≤ P Q` for `N` output positions), but
# the one in `MATERIALISED`.
CASES: dict[
  str, tuple[Callable[..., Any], dict[str, tuple[int, ...]], tuple[int, ...]]
] = {
  'conv2d SAME, stride 2, added bias': (
    conv2d(strides=2),
    {'kernel': (3, 3, 3, 32), 'bias': (32,)},
    (7, 7, 3),
  ),
  'conv2d VALID, dilation 2, bias_add': (
    conv2d(padding='VALID', dilations=2, bias='bias_add'),
    {'kernel': (3, 3, 2, 64), 'bias': (64,)},
    (9, 8, 2),
  ),
  'conv2d explicit padding, strides (2, 1)': (
    conv2d(strides=(2, 1), padding=[[0, 0], [1, 0], [2, 1], [0, 0]]),
    {'kernel': (2, 3, 4, 16), 'bias': (16,)},
    (4, 3, 4),
  ),
  'conv2d many positions, small kernel': (
    conv2d(),
    {'kernel': (3, 3, 2, 3), 'bias': (3,)},
    (8, 8, 2),
  ),
  'conv1d SAME': (conv1d(), {'kernel': (3, 3, 20), 'bias': (20,)}, (9, 3)),
  'conv1d VALID, stride 2': (
    conv1d(stride=2, padding='VALID'),
    {'kernel': (4, 2, 8), 'bias': (8,)},
    (11, 2),
  ),
  'conv1d VALID, dilation 2': (
    conv1d(padding='VALID', dilations=2),
    {'kernel': (3, 2, 12), 'bias': (12,)},
    (10, 2),
  ),
  'layer normalization': (layer_norm, {'scale': (6,), 'offset': (6,)}, (5, 6)),
  'group normalization': (group_norm, {'scale': (6,), 'offset': (6,)}, (5, 6)),
}
MATERIALISED = {'conv2d many positions, small kernel': {'kernel'}}


def covered(name: str) -> set[str]:
  """The parameters of case `name` whose norms the Gram matrices or an
  elementwise sum give, read from the graph of one example's loss."""
  loss, shapes, example = CASES[name]
  found = set()

  def trace(p, x):
    value = loss(p, x)
    needed = ghost.ancestors(value)
    found.update(
      k
      for k, t in p.items()
      if ghost.plan(t, tf.TensorShape(shapes[k]), needed) is not None
    )
    return value

  tf.function(trace, autograph=False).get_concrete_function(
    {k: tf.TensorSpec(s) for k, s in shapes.items()},
    tf.TensorSpec((1, *example)),
  )
  return found


@pytest.mark.parametrize('name', list(CASES))
def test_which_parameters_the_rules_cover(name):
  assert covered(name) == set(CASES[name][1]) - MATERIALISED.get(name, set())


def values(name: str, dtype: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
  """Parameters and a batch of inputs for case `name`."""
  _, shapes, example = CASES[name]
  params = {k: RNG.normal(size=s).astype(dtype) for k, s in shapes.items()}
  return params, RNG.normal(size=(BATCH, *example)).astype(dtype)


def loop_of_tapes(
  loss: Callable[..., Any], params: dict[str, np.ndarray], x: np.ndarray
) -> dict[str, np.ndarray]:
  """Each example's gradient, one tape per example, eagerly."""
  sources = {k: tf.constant(v) for k, v in params.items()}
  grads = []
  for i in range(len(x)):
    with tf.GradientTape() as tape:
      tape.watch(sources)
      value = loss(sources, x[i : i + 1])
    grads.append(tape.gradient(value, sources))
  return {k: np.stack([g[k] for g in grads]) for k in params}


def norms_of(grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Each example's norm of each gradient, in float64."""
  return {
    k: np.sqrt((g.astype(np.float64).reshape(len(g), -1) ** 2).sum(1))
    for k, g in grads.items()
  }


def clipped_mean(grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """DP-SGD's clipped mean (no noise) of per-example gradients."""
  total = np.sqrt(sum(n**2 for n in norms_of(grads).values()))
  scale = np.minimum(1.0, CLIP / total)
  return {k: np.tensordot(scale, g, 1) / len(scale) for k, g in grads.items()}


def tolerance(dtype: Any) -> dict[str, float]:
  return (
    {'rtol': 2e-5, 'atol': 1e-6}
    if dtype == np.float32
    else {'rtol': 1e-11, 'atol': 1e-13}
  )


# Materialised per-example gradients of an explicitly padded convolution
# fail: `pfor` loops over the examples' `Conv2DBackpropFilter` without the
# op's `explicit_paddings` (see the strict xfail below).
UNMATERIALISABLE = frozenset({'conv2d explicit padding, strides (2, 1)'})


def check_case(regime: str, name: str, dtype: Any, batch: int = BATCH) -> None:
  """Ghost norms of case `name` equal the materialised ones and those of a
  loop of tapes; the clipped mean, that of the loop's gradients."""
  loss = CASES[name][0]
  params, x = values(name, dtype)
  x = x[:batch]

  def make():
    p = {k: tf.constant(v) for k, v in params.items()}

    def body():
      clipped = tfm.clipped_gradients(loss, p, x, l2_norm_clip=CLIP)
      return (
        tfm.per_example_gradient_norms(loss, p, x, per_parameter=True),
        {k: g for k, (g, _) in zip(sorted(p), clipped, strict=True)},
      )

    return body

  ghost, clipped = helpers.run(regime, make)
  expected = loop_of_tapes(loss, params, x)
  helpers.assert_all_close(ghost, norms_of(expected), **tolerance(dtype))
  helpers.assert_all_close(clipped, clipped_mean(expected), **tolerance(dtype))
  if name not in UNMATERIALISABLE:
    materialised = helpers.run(
      regime, lambda: lambda: materialised_norms(loss, params, x)
    )
    helpers.assert_all_close(ghost, materialised, **tolerance(dtype))


def materialised_norms(loss: Callable[..., Any], params: Any, x: Any) -> Any:
  p = {k: tf.constant(v) for k, v in params.items()}
  return tfm.per_example_gradient_norms(
    loss, p, x, per_parameter=True, materialize_gradients=True
  )


@pytest.mark.slow
@pytest.mark.xfail(raises=tf.errors.InvalidArgumentError, strict=True)
def test_materialised_explicit_padding_fails():
  name = 'conv2d explicit padding, strides (2, 1)'
  params, x = values(name, np.float32)
  tf.function(lambda: materialised_norms(CASES[name][0], params, x))()


@pytest.mark.slow
def test_ghost_norms_in_a_function():
  check_case('function', 'conv2d SAME, stride 2, added bias', np.float32)


@pytest.mark.slow
@pytest.mark.parametrize('regime', helpers.regime_params(REGIMES))
@pytest.mark.parametrize('dtype', DTYPES, ids=['float32', 'float64'])
@pytest.mark.parametrize('name', list(CASES))
def test_ghost_norms_in_every_regime(regime, dtype, name):
  check_case(regime, name, dtype)


@pytest.mark.slow
@pytest.mark.parametrize('regime', helpers.regime_params(REGIMES))
@pytest.mark.parametrize(
  'name',
  ['conv2d SAME, stride 2, added bias', 'conv1d SAME', 'group normalization'],
)
def test_ghost_norms_of_one_example(regime, name):
  check_case(regime, name, np.float32, batch=1)


def checkerboard(shape: tuple[int, ...]) -> np.ndarray:
  """A batch of images of ±1000 in a checkerboard, plus multiples of 1/64:
  every patch is large, and the patches of one image sum to nearly zero.
  Their sums are exact in float32."""
  signs = (-1.0) ** np.add.outer(np.arange(shape[1]), np.arange(shape[2]))
  noise = RNG.integers(-8, 9, size=shape) / 64.0
  return (1000.0 * signs[None, :, :, None] + noise).astype(np.float32)


@pytest.mark.parametrize(
  'regime',
  [
    r if r == 'function' else pytest.param(r, marks=pytest.mark.slow)
    for r in REGIMES
  ],
)
@pytest.mark.parametrize(
  'kernel,image,padding',
  [
    ((3, 3, 4, 8), (4, 6, 6, 4), 'VALID'),  # N = 16: the Gram matrices.
    ((3, 3, 1, 2), (4, 10, 10, 1), 'VALID'),  # N = 64: materialised.
  ],
  ids=['gram', 'materialised'],
)
def test_cancelling_positions_keep_the_norm_exact(
  regime, kernel, image, padding
):
  # Each example's kernel gradient is the sum of its patches (the loss is
  # the sum of the outputs): nearly zero, from terms of 1000. In float32,
  # the Gram matrices' sum would lose every digit of it.
  x = checkerboard(image)
  w = RNG.normal(size=kernel).astype(np.float32)

  def loss(w, x):
    return tf.reduce_sum(tf.nn.conv2d(x, w, 1, padding), [1, 2, 3])

  def make():
    return lambda: tfm.per_example_gradient_norms(loss, tf.constant(w), x)

  def exact_norms(x):
    return norms_of(
      loop_of_tapes(
        lambda p, x: loss(p['w'], x),
        {'w': w.astype(np.float64)},
        x.astype(np.float64),
      )
    )['w']

  norms = helpers.run(regime, make)
  expected = exact_norms(x)
  assert np.all(expected < 1e-3 * exact_norms(np.abs(x)))  # They cancel.
  np.testing.assert_allclose(norms, expected, rtol=1e-6)


@pytest.mark.slow
def test_a_wide_kernel_forms_no_per_example_gradient():
  # 16 output positions, a 3×3×3×32 kernel: the Gram matrices (16²) and
  # the patches (16 × 27) are smaller than the kernel's gradient (864), and
  # neither the norms nor the clipped mean form one per example.
  loss, shapes, _ = CASES['conv2d SAME, stride 2, added bias']
  params, x = values('conv2d SAME, stride 2, added bias', np.float32)

  def calls(materialize):
    p = {k: tf.constant(v) for k, v in params.items()}
    return tf.function(
      lambda: (
        tfm.per_example_gradient_norms(
          loss, p, x, materialize_gradients=materialize
        ),
        tfm.clipped_gradients(
          loss, p, x, l2_norm_clip=CLIP, materialize_gradients=materialize
        ),
      )
    )

  size = int(np.prod(shapes['kernel']))
  assert not helpers.per_example_sized_tensors(calls(False), BATCH, size)
  # The test can fail: materialised, they are there.
  assert helpers.per_example_sized_tensors(calls(True), BATCH, size)


@pytest.mark.slow
def test_a_kernel_with_another_use_falls_back():
  # A penalty on the kernel is a use the identity does not cover: the
  # kernel's gradient is formed (the norms stay exact), the bias's is not.
  params, x = values('conv2d SAME, stride 2, added bias', np.float32)
  conv = CASES['conv2d SAME, stride 2, added bias'][0]

  def loss(p, x):
    return conv(p, x) + tf.reduce_sum(tf.square(p['kernel']))

  p = {k: tf.constant(v) for k, v in params.items()}
  norms = tf.function(
    lambda: tfm.per_example_gradient_norms(loss, p, x, per_parameter=True)
  )
  helpers.assert_all_close(
    helpers.to_numpy(norms()),
    norms_of(loop_of_tapes(loss, params, x)),
    rtol=2e-5,
    atol=1e-6,
  )
  kernel = int(np.prod(params['kernel'].shape))
  assert helpers.per_example_sized_tensors(norms, BATCH, kernel)


def keras_models(dtype: str) -> dict[str, tuple[keras.Model, tuple[int, ...]]]:
  """Small Keras models of the layers the ghost norms cover, and one of a
  depthwise convolution, which they do not."""
  keras.utils.set_random_seed(0)
  return {
    name: (keras.Sequential([keras.Input(shape, dtype=dtype), *layers]), shape)
    for name, layers, shape in [
      (
        'Conv2D',
        [
          L.Conv2D(2, 1, dtype=dtype),  # Many positions: materialised.
          L.Conv2D(32, 3, strides=2, padding='same', dtype=dtype),
          L.Conv2D(16, 2, dilation_rate=2, dtype=dtype),
        ],
        (6, 6, 4),
      ),
      (
        'Conv1D',
        [
          L.Conv1D(16, 3, padding='causal', dilation_rate=2, dtype=dtype),
          L.Conv1D(8, 3, strides=2, dtype=dtype),
        ],
        (7, 4),
      ),
      (
        'LayerNormalization',
        [L.Dense(6, dtype=dtype), L.LayerNormalization(dtype=dtype)],
        (5, 4),
      ),
      (
        'GroupNormalization',
        [L.Dense(6, dtype=dtype), L.GroupNormalization(2, dtype=dtype)],
        (5, 4),
      ),
      ('DepthwiseConv2D', [L.DepthwiseConv2D(3, dtype=dtype)], (6, 6, 2)),
    ]
  }


KERAS_LAYERS = (
  'Conv2D',
  'Conv1D',
  'LayerNormalization',
  'GroupNormalization',
  'DepthwiseConv2D',
)


def summed(model, x):
  y = model(x)
  return tf.reduce_sum(tf.reshape(tf.sin(y), [tf.shape(y)[0], -1]), -1)


def check_keras(regime: str, name: str, dtype: str) -> None:
  model, shape = keras_models(dtype)[name]
  x = RNG.normal(size=(BATCH, *shape)).astype(dtype)
  variables = [v.value for v in model.trainable_variables]
  grads = []
  for i in range(BATCH):
    with tf.GradientTape() as tape:
      loss = summed(model, x[i : i + 1])
    grads.append(tape.gradient(loss, variables))
  expected = norms_of(
    {str(k): np.stack(g) for k, g in enumerate(zip(*grads, strict=True))}
  )

  def make():
    return lambda: (
      tfm.per_example_gradient_norms(summed, model, x, per_parameter=True),
      tfm.per_example_gradient_norms(
        summed, model, x, per_parameter=True, materialize_gradients=True
      ),
    )

  ghost, materialised = helpers.run(regime, make)
  tol = tolerance(np.dtype(dtype).type)
  helpers.assert_all_close(
    ghost, [expected[str(k)] for k in range(len(ghost))], **tol
  )
  helpers.assert_all_close(ghost, materialised, **tol)


@pytest.mark.slow
def test_keras_convolution_in_a_function():
  check_keras('function', 'Conv2D', 'float32')


@pytest.mark.slow
@pytest.mark.parametrize(
  'regime', helpers.regime_params(['eager', 'function', 'jit'])
)
@pytest.mark.parametrize('dtype', ['float32', 'float64'])
@pytest.mark.parametrize('name', KERAS_LAYERS)
def test_keras_layers(regime, dtype, name):
  check_keras(regime, name, dtype)
