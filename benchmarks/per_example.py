"""Per-example gradients: tfgradtools against hand-written code.

Everything is timed in one process, implementations interleaved round by
round (medians over rounds). For a small Keras MLP (2,410 parameters) and a
1.04M-parameter one (784-1000-256-10), at batch 32 and 256, eagerly and in
`tf.function`:

* one batch gradient — the gradient of the mean loss: the floor;
* `tfgradtools.math.per_example_gradients`, `per_example_gradient_norms`
  and `clipped_gradients` (clip, sum, Gaussian noise, mean; and without the
  noise, whose draws cost about a batch gradient of the 1M MLP alone);
* what users write by hand: a Python loop of tapes (one per example, the
  gradients stacked), `tape.jacobian` of the loss vector, and
  `tf.vectorized_map` of a tape;
* writing `batch × parameters` floats (`tf.fill`): the memory floor of
  any per-example gradients.

Then two small CNNs for 32×32×3 images, each with two `Conv2D` layers: one
of 545,098 parameters, 96 % of them in a dense layer after the
convolutions ('CNN'), and one of 452,618, 98 % of them in the convolution
kernels ('conv CNN'). At batch 128, in `tf.function`: the batch gradient,
the norms and the clipped aggregate (their kernels' norms without forming
per-example gradients where that is cheaper, see `ghost`), the same with
`materialize_gradients=True`, and the same computed from
`tf.vectorized_map` of a tape (the per-example gradients formed, then their
norms, or clipped and summed).

Each time is given per call and as a ratio to the batch gradient, and the
loop of tapes' time over ours. Then the peak resident memory of one call
in `tf.function`, each path in a fresh process: for the 1M MLP at batch 256
and for the CNNs at batch 128.

    python benchmarks/per_example.py           # several minutes
    python benchmarks/per_example.py --quick   # fewer rounds, no 1M-parameter
                                               # loops at batch 256, no memory
"""

from __future__ import annotations

import functools
import gc
from typing import Any, Callable

import _timing
import keras
import numpy as np
import tensorflow as tf

import tfgradtools.math as tfm

FLOOR = 'batch gradient (floor)'
LOOP = 'loop of tapes'
OURS = (
  'per_example_gradients',
  'per_example_gradient_norms',
  'clipped_gradients',
  'clipped_gradients without noise',
)
LOSS = keras.losses.SparseCategoricalCrossentropy(
  from_logits=True, reduction='none'
)
SIZES = {'small MLP': (20, 32, 32, 10), '1M MLP': (784, 1000, 256, 10)}
CNN_BATCH = 128
# The CNNs' own rows: ours against the same quantities from
# `tf.vectorized_map` of a tape.
MATERIALISED = (
  'per_example_gradient_norms, materialised',
  'clipped_gradients, materialised',
)
CNN_IMPLS = (
  FLOOR,
  'per_example_gradient_norms',
  'clipped_gradients',
  'clipped_gradients without noise',
  *MATERIALISED,
  'tf.vectorized_map of a tape',
  'norms by tf.vectorized_map of a tape',
  'clipped by tf.vectorized_map of a tape',
)


def mlp(sizes: tuple[int, ...]) -> keras.Model:
  keras.utils.set_random_seed(0)
  layers = [keras.layers.Dense(n, 'relu') for n in sizes[1:-1]]
  return keras.Sequential(
    [keras.Input(sizes[:1]), *layers, keras.layers.Dense(sizes[-1])]
  )


def cnn() -> keras.Model:
  """Two convolutions and two dense layers for 32×32×3 images: 545,098
  parameters, most of them in the first dense layer."""
  keras.utils.set_random_seed(0)
  return keras.Sequential(
    [
      keras.Input((32, 32, 3)),
      keras.layers.Conv2D(32, 3, padding='same', activation='relu'),
      keras.layers.MaxPooling2D(),
      keras.layers.Conv2D(64, 3, padding='same', activation='relu'),
      keras.layers.MaxPooling2D(),
      keras.layers.Flatten(),
      keras.layers.Dense(128, 'relu'),
      keras.layers.Dense(10),
    ]
  )


def conv_cnn() -> keras.Model:
  """Two strided convolutions and a dense layer for 32×32×3 images: 452,618
  parameters, most of them in the second convolution's kernel."""
  keras.utils.set_random_seed(0)
  return keras.Sequential(
    [
      keras.Input((32, 32, 3)),
      keras.layers.Conv2D(64, 3, strides=2, padding='same', activation='relu'),
      keras.layers.MaxPooling2D(),
      keras.layers.Conv2D(768, 3, strides=2, padding='same', activation='relu'),
      keras.layers.GlobalAveragePooling2D(),
      keras.layers.Dense(10),
    ]
  )


CNNS = {'CNN': cnn, 'conv CNN': conv_cnn}


def batch_of(model: keras.Model, batch: int) -> tuple[tf.Tensor, tf.Tensor]:
  """A random batch of inputs and integer labels for `model`."""
  rng = np.random.default_rng(0)
  classes = model.output_shape[-1]
  return (
    tf.constant(rng.normal(size=(batch, *model.input_shape[1:])), tf.float32),
    tf.constant(rng.integers(0, classes, size=batch), tf.int32),
  )


def losses(model, x, y):
  return LOSS(y, model(x))


def implementations(model: keras.Model) -> dict[str, Callable[..., Any]]:
  """Every way of computing per-example gradients (or the floor) of `model`.

  Hand-written code differentiates the `tf.Variable`s inside the Keras
  variables, which is what a tape watches.
  """
  variables = [v.value for v in model.trainable_variables]

  def batch_gradient(x, y):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(losses(model, x, y))
    return tape.gradient(loss, variables)

  def loop_of_tapes(x, y):
    grads = []
    for i in range(x.shape[0]):
      with tf.GradientTape() as tape:
        loss = losses(model, x[i : i + 1], y[i : i + 1])
      grads.append(tape.gradient(loss, variables))
    return [tf.stack(g) for g in zip(*grads, strict=True)]

  def jacobian(x, y):
    with tf.GradientTape() as tape:
      loss = losses(model, x, y)
    return tape.jacobian(loss, variables)

  def vectorized_map(x, y):
    def one(example):
      with tf.GradientTape() as tape:
        loss = losses(model, example[0][None], example[1][None])
      return tape.gradient(loss, variables)

    return tf.vectorized_map(one, (x, y))

  def norms_of(grads):
    return tf.sqrt(
      tf.add_n(
        [
          tf.reduce_sum(tf.reshape(g, [g.shape[0], -1]) ** 2, axis=1)
          for g in grads
        ]
      )
    )

  def vectorized_map_clipped(x, y):  # Clip bound 1, no noise.
    grads = vectorized_map(x, y)
    scale = tf.minimum(1.0, 1.0 / norms_of(grads)) / x.shape[0]
    return [tf.tensordot(scale, g, 1) for g in grads]

  def memory_floor(x, y):
    del y  # A value from the input: not folded into a constant.
    return [tf.fill([x.shape[0], *v.shape], x[0, 0]) for v in variables]

  return {
    FLOOR: batch_gradient,
    'per_example_gradients': lambda x, y: tfm.per_example_gradients(
      losses, model, x, y
    ),
    'per_example_gradient_norms': lambda x, y: tfm.per_example_gradient_norms(
      losses, model, x, y
    ),
    'clipped_gradients': lambda x, y: [
      g
      for g, _ in tfm.clipped_gradients(
        losses, model, x, y, l2_norm_clip=1.0, noise_multiplier=1.0
      )
    ],
    'clipped_gradients without noise': lambda x, y: [
      g for g, _ in tfm.clipped_gradients(losses, model, x, y, l2_norm_clip=1.0)
    ],
    'per_example_gradient_norms, materialised': lambda x, y: (
      tfm.per_example_gradient_norms(
        losses, model, x, y, materialize_gradients=True
      )
    ),
    'clipped_gradients, materialised': lambda x, y: [
      g
      for g, _ in tfm.clipped_gradients(
        losses,
        model,
        x,
        y,
        l2_norm_clip=1.0,
        noise_multiplier=1.0,
        materialize_gradients=True,
      )
    ],
    LOOP: loop_of_tapes,
    'tape.jacobian': jacobian,
    'tf.vectorized_map of a tape': vectorized_map,
    'norms by tf.vectorized_map of a tape': lambda x, y: norms_of(
      vectorized_map(x, y)
    ),
    'clipped by tf.vectorized_map of a tape': vectorized_map_clipped,
    'writing batch × parameters floats': memory_floor,
  }


def timing_rows(
  quick: bool,
) -> list[tuple[str, int, str, str, float, float, float | None]]:
  """Rows `(model, batch, mode, implementation, seconds, / batch gradient,
  loop of tapes / this or None)`."""
  cases = [
    (model_name, mlp(sizes), batch, mode)
    for model_name, sizes in SIZES.items()
    for batch in (32, 256)
    for mode in ('eager', 'tf.function')
  ]
  cases += [
    (model_name, build(), CNN_BATCH, 'tf.function')
    for model_name, build in CNNS.items()
  ]
  rows = []
  for model_name, model, batch, mode in cases:
    impls = implementations(model)
    if model_name in CNNS:
      impls = {name: impls[name] for name in CNN_IMPLS}
    else:
      for name in (
        'norms by tf.vectorized_map of a tape',
        'clipped by tf.vectorized_map of a tape',
        *MATERIALISED,
      ):
        del impls[name]
    if mode == 'tf.function':
      impls = {name: tf.function(impl) for name, impl in impls.items()}
    else:
      del impls['writing batch × parameters floats']  # A graph's floor.
    if quick and model_name == '1M MLP' and batch == 256:
      del impls[LOOP]  # Tens of seconds to trace, seconds per call.
      del impls['tape.jacobian']
    timed = _timing.time_impls(
      impls,
      list(batch_of(model, batch)),
      2 if quick else 5,
      0.05 if quick else 0.2,
    )
    for name, seconds in timed.items():
      ours = name in OURS
      speedup = timed[LOOP] / seconds if ours and LOOP in timed else None
      rows.append(
        (
          model_name,
          batch,
          mode,
          name,
          seconds,
          seconds / timed[FLOOR],
          speedup,
        )
      )
    gc.collect()
  return rows


def vectorisation_rows(quick: bool) -> list[list[str]]:
  """What the vectorised path (TensorFlow's pfor, behind a feature check)
  buys against the public `tf.while_loop` every call falls back to when
  the check fails (`experimental_use_pfor=False`): the 1M MLP at batch
  256 in `tf.function`, rows `(call, path, ms, / batch gradient)`."""
  model = mlp(SIZES['1M MLP'])
  calls: dict[str, Callable[..., Any]] = {
    'norms': tfm.per_example_gradient_norms,
    'clipped': functools.partial(tfm.clipped_gradients, l2_norm_clip=1.0),
    'per-example gradients': tfm.per_example_gradients,
  }
  impls: dict[str, Callable[..., Any]] = {FLOOR: implementations(model)[FLOOR]}
  for name, call in calls.items():
    for vectorised in (True, False):
      path = 'vectorised' if vectorised else 'while_loop fallback'
      impls[f'{name}|{path}'] = functools.partial(
        lambda x, y, call, vectorised: call(
          losses, model, x, y, experimental_use_pfor=vectorised
        ),
        call=call,
        vectorised=vectorised,
      )
  timed = _timing.time_impls(
    {name: tf.function(impl) for name, impl in impls.items()},
    list(batch_of(model, 256)),
    2 if quick else 5,
    0.05 if quick else 0.2,
  )
  return [
    [*name.split('|'), f'{seconds * 1e3:,.1f}', f'{seconds / timed[FLOOR]:.2f}']
    for name, seconds in timed.items()
    if name != FLOOR
  ]


_PEAK_MEMORY_SCRIPT = """
import tensorflow as tf
import _timing
import per_example as bench
model = {model}
x, y = bench.batch_of(model, {batch})
# Traced, not run: the first run's allocations are the call's own (a run
# before would leave its peak in the process's resident memory).
call = tf.function({call}).get_concrete_function(x, y)
print(_timing.peak_memory_mib(lambda: call(x, y)))
"""

MLP_MEMORY_CALLS = {
  FLOOR: 'lambda x, y: bench.implementations(model)[bench.FLOOR](x, y)',
  'per_example_gradients': (
    'lambda x, y: bench.tfm.per_example_gradients(bench.losses, model, x, y)'
  ),
  'per_example_gradient_norms, materialised': (
    'lambda x, y: bench.tfm.per_example_gradient_norms(bench.losses, '
    'model, x, y, materialize_gradients=True, chunk_size=256)'
  ),
  'per_example_gradient_norms': (
    'lambda x, y: bench.tfm.per_example_gradient_norms(bench.losses, '
    'model, x, y)'
  ),
  'clipped_gradients, materialised': (
    'lambda x, y: bench.tfm.clipped_gradients(bench.losses, model, x, y, '
    'l2_norm_clip=1., materialize_gradients=True, chunk_size=256)'
  ),
  'clipped_gradients, materialised in chunks (default)': (
    'lambda x, y: bench.tfm.clipped_gradients(bench.losses, model, x, y, '
    'l2_norm_clip=1., materialize_gradients=True)'
  ),
  'clipped_gradients': (
    'lambda x, y: bench.tfm.clipped_gradients(bench.losses, model, x, y, '
    'l2_norm_clip=1.)'
  ),
}


# The CNNs' calls are their timed implementations (clip bound 1, noise 1).
CNN_MEMORY_CALLS = {
  name: f'lambda x, y: bench.implementations(model)[{name!r}](x, y)'
  for name in CNN_IMPLS
  if name
  not in ('clipped_gradients without noise', 'tf.vectorized_map of a tape')
}


def report(quick: bool) -> None:
  """The timing table, then (unless `quick`) the peak-memory table."""
  rows = [
    [
      model_name,
      batch,
      mode,
      name,
      f'{seconds * 1e3:,.2f}',
      f'{ratio:,.2f}',
      '' if speedup is None else f'{speedup:,.1f}',
    ]
    for model_name, batch, mode, name, seconds, ratio, speedup in timing_rows(
      quick
    )
  ]
  _timing.print_table(
    [
      'model',
      'batch',
      'mode',
      'implementation',
      'ms per call',
      '/ batch gradient',
      'loop of tapes / this',
    ],
    rows,
    'lrllrrr',
  )
  _timing.print_table(
    [
      '1M MLP, batch 256, tf.function',
      'path',
      'ms per call',
      '/ batch gradient',
    ],
    vectorisation_rows(quick),
    'llrr',
  )
  if quick:
    return
  for title, model, batch, calls in (
    ('1M MLP', "bench.mlp(bench.SIZES['1M MLP'])", 256, MLP_MEMORY_CALLS),
    *(
      (name, f'bench.CNNS[{name!r}]()', CNN_BATCH, CNN_MEMORY_CALLS)
      for name in CNNS
    ),
  ):
    peaks = {
      name: float(
        _timing.last_line_of(
          _PEAK_MEMORY_SCRIPT.format(model=model, batch=batch, call=call)
        )
      )
      for name, call in calls.items()
    }
    _timing.print_table(
      [f'{title}, batch {batch}, tf.function', 'peak MiB', '/ batch gradient'],
      [
        [name, f'{mib:+,.0f}', f'{mib / peaks[FLOOR]:,.2f}']
        for name, mib in peaks.items()
      ],
    )


if __name__ == '__main__':
  _timing.main(report, __doc__)
