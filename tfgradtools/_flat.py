"""Structured parameters as one flat vector, for optimizers that want one.

`scipy.optimize.minimize` and `tfp.optimizer.lbfgs_minimize` work on a
single vector; models have lists and dicts of weight matrices, or a Keras
model's `trainable_variables`. `flat_objective` maps between the two and
differentiates `f` over the flat vector with `tfgradtools.math`.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np
import tensorflow as tf

from tfgradtools import _args
from tfgradtools import _autograph
from tfgradtools import _gradients
from tfgradtools import _nest
from tfgradtools import _second_order


def _widest_float(dtypes: list[tf.DType]) -> tf.DType:
  """The flat vector's dtype: float64 if any part is, else float32."""
  return tf.float64 if tf.float64 in dtypes else tf.float32


class FlatObjective:
  """`f` over its parameters flattened into one vector.

  Made by `tfgradtools.math.flat_objective`, which documents the calling
  convention. The flat vector has the widest float dtype of the parameters
  (`float64` if any part is `float64`, else `float32`); each part is cast
  back to its own dtype when unflattened, and gradients to the flat dtype.

  #### Examples

      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> params = {'w': tf.constant([[1., 2.]]), 'b': tf.constant(0.5)}
      >>> objective = tfm.flat_objective(
      ...     lambda p: tf.reduce_sum((p['w'] - 3.) ** 2) + p['b'] ** 2, params)
      >>> objective.initial_position.numpy().tolist()  # Sorted keys: b, w.
      [0.5, 1.0, 2.0]
      >>> value, gradient = objective.value_and_gradient(
      ...     objective.initial_position)
      >>> float(value), gradient.numpy().tolist()
      (5.25, [1.0, -4.0, -2.0])
  """

  def __init__(
    self,
    f: Callable[..., Any],
    params: Any,
    *,
    use_gradient_tape: bool = False,
    name: str | None = None,
  ):
    if not callable(f):
      raise TypeError(
        f'flat_objective: `f` must be a callable, got {type(f).__name__}.'
      )
    self._f = f
    self._passed = params
    self._use_gradient_tape = use_gradient_tape
    self._name = name or 'flat_objective'
    if _args.has_trainable_variables(params):
      params = list(params.trainable_variables)
    leaves = [
      _args.to_source(leaf, dtype_hint=tf.float32)
      for leaf in _nest.flatten(params)
    ]
    self._shapes = [tf.TensorShape(leaf.shape) for leaf in leaves]
    self._dtypes = [tf.as_dtype(leaf.dtype) for leaf in leaves]
    self._check(leaves, self._shapes, self._dtypes)
    self._variables = leaves if _args.is_variable(leaves[0]) else None
    self._takes_arguments = _args.takes_arguments(f)
    if self._variables is None and not self._takes_arguments:
      raise TypeError(
        'flat_objective: `params` are Tensors, so `f` must take them as '
        'its argument: f(params). (Variables are read by f instead.)'
      )
    self._structure = _nest.pack(params, leaves)
    self._sizes = [shape.num_elements() for shape in self._shapes]
    self.dtype = _widest_float(self._dtypes)
    self.size = sum(self._sizes)
    self._numpy_value_and_gradient: Callable[..., Any] | None = None
    self._numpy_hvp: Callable[..., Any] | None = None

  @staticmethod
  def _check(
    leaves: list[Any], shapes: list[tf.TensorShape], dtypes: list[tf.DType]
  ) -> None:
    if not leaves:
      raise ValueError(
        'flat_objective: `params` holds nothing to optimize. Pass Tensors '
        'or variables (a list, dict or nested structure of them), or a '
        'Keras model or tf.Module with trainable variables.'
      )
    kinds = {_args.is_variable(leaf) for leaf in leaves}
    if len(kinds) > 1:
      raise TypeError(
        'flat_objective: `params` mixes variables and Tensors. Pass only '
        'variables (f reads them; the flat vector is assigned to them) or '
        'only Tensors (f receives them as an argument).'
      )
    for i, (shape, dtype) in enumerate(zip(shapes, dtypes, strict=True)):
      if not dtype.is_floating:
        raise TypeError(
          f'flat_objective: part {i} of `params` has dtype {dtype.name}; '
          'only floating-point parameters can be optimized. Cast it (e.g. '
          '`tf.cast(x, tf.float32)`) or leave it out of `params`.'
        )
      if not shape.is_fully_defined():
        raise ValueError(
          f'flat_objective: part {i} of `params` has shape {shape}; '
          'flattening needs fully defined shapes.'
        )

  @property
  def initial_position(self) -> tf.Tensor:
    """The parameters' current values as one flat vector."""
    return self.flatten(self._structure)

  @property
  def numpy_initial_position(self) -> np.ndarray:
    """`initial_position` as a NumPy `float64` vector, for SciPy."""
    return np.asarray(self.initial_position, np.float64)

  @_autograph.library_function
  def flatten(self, structure: Any) -> tf.Tensor:
    """`structure` (shaped like the parameters) as one flat vector.

    Args:
      structure: a structure of Tensors shaped like the parameters (their
        gradients, say).

    Returns:
      One vector of `self.dtype`, the parts in the parameters' order.

    Raises:
      ValueError: `structure` has another number of parts.
    """
    parts = _nest.flatten(structure)
    if len(parts) != len(self._sizes):
      raise ValueError(
        f'flat_objective: expected {len(self._sizes)} parts, got {len(parts)}.'
      )
    return tf.concat(
      [
        tf.reshape(self._cast(tf.convert_to_tensor(part), self.dtype), [-1])
        for part in parts
      ],
      axis=0,
    )

  @_autograph.library_function
  def unflatten(self, x: Any) -> Any:
    """The flat vector `x` as the parameters' structure, shapes and dtypes.

    Args:
      x: a vector of `self.size` entries.

    Returns:
      `x` split into the parameters' structure, each part of its
      parameter's shape and dtype.

    Raises:
      ValueError: `x` is not a vector of `self.size` entries.
    """
    x = tf.convert_to_tensor(x, dtype_hint=self.dtype)
    if x.shape.rank != 1 or (
      x.shape[0] is not None and x.shape[0] != self.size
    ):
      raise ValueError(
        f'flat_objective: the flat vector must have shape ({self.size},), '
        f'one entry per parameter, but has shape {x.shape}.'
      )
    parts = tf.split(x, self._sizes) if len(self._sizes) > 1 else [x]
    leaves = [
      self._cast(tf.reshape(part, shape), dtype)
      for part, shape, dtype in zip(
        parts, self._shapes, self._dtypes, strict=True
      )
    ]
    return _nest.pack(self._structure, leaves)

  @staticmethod
  def _cast(x: Any, dtype: tf.DType) -> Any:
    return x if x.dtype == dtype else tf.cast(x, dtype)

  @_autograph.library_function
  def assign(self, x: Any) -> Any:
    """Writes the flat vector `x` into the variables (Keras ones too).

    Args:
      x: a vector of `self.size` entries.

    Returns:
      The grouped assignment op in a graph (run it, or depend on it),
      `None` eagerly.

    Raises:
      TypeError: the parameters are Tensors, which cannot be assigned.
    """
    if self._variables is None:
      raise TypeError(
        'flat_objective: `params` are Tensors, which cannot be assigned. '
        'Use `unflatten(x)` to get the solution as a structure.'
      )
    return tf.group(
      *[
        variable.assign(part)
        for variable, part in zip(
          self._variables, _nest.flatten(self.unflatten(x)), strict=True
        )
      ]
    )

  @_autograph.library_function
  def value_and_gradient(self, x: Any) -> tuple[tf.Tensor, tf.Tensor]:
    """`f` and its gradient at the flat vector `x`, both of `self.dtype`.

    Usable as `tfp.optimizer.lbfgs_minimize(objective.value_and_gradient,
    objective.initial_position)`, eagerly and inside `tf.function`. With
    variables, `x` is assigned to them first; in a TF1 graph, which orders
    only what depends on what, read them after the call under
    `tf.control_dependencies` on its results (a `tf.function` orders
    reads and writes by itself).

    Args:
      x: the flat vector, of `self.size` entries.

    Returns:
      `(value, gradient)`: `f`'s value and its flat gradient, both of
      `self.dtype`; a parameter `f` does not use has a zero gradient.
    """
    with self._at(x) as (f, params):
      value, gradient = _gradients.value_and_gradient(
        f,
        params,
        use_gradient_tape=self._use_gradient_tape,
        auto_unpack_single_arg=False,
        name=self._name,
        unconnected_gradients='zero',
      )
    return self._cast(value, self.dtype), self.flatten(gradient)

  @_autograph.library_function
  def hvp(self, x: Any, v: Any) -> tf.Tensor:
    """The Hessian of `f` at `x` times the flat vector `v`, flat.

    Computed by `tfgradtools.math.hvp`, never forming the Hessian.

    Args:
      x: the flat vector where the Hessian is taken.
      v: the flat vector it multiplies.

    Returns:
      The flat Hessian-vector product, of `self.dtype`.
    """
    tangents = self.unflatten(v)
    with self._at(x) as (f, params):
      product = _second_order.hvp(
        f,
        params,
        tangents,
        use_gradient_tape=self._use_gradient_tape,
        auto_unpack_single_arg=False,
        name=self._name,
        unconnected_gradients='zero',
      )
    return self.flatten(product)

  @contextlib.contextmanager
  def _at(self, x: Any) -> Iterator[tuple[Callable[..., Any], Any]]:
    """`f` and the parameters to differentiate at the flat vector `x`.

    Tensors: `f` and the unflattened structure. Variables: `x` assigned to
    them (before they are read, in a graph too), and `f` called as declared
    with them as the sources.
    """
    if self._variables is None:
      yield self._f, self.unflatten(x)
      return
    assigned = self.assign(x)
    with tf.control_dependencies([assigned] if assigned is not None else []):
      yield self._call_as_declared, self._structure

  @_autograph.as_written  # The library as written; `f` as called.
  def _call_as_declared(self, _: Any) -> Any:
    """`f()`, or `f(params)` with `params` as passed (a model, say)."""
    if self._takes_arguments:
      return _autograph.call(self._f, self._passed)
    return _autograph.call(self._f)

  def numpy_value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
    """`value_and_gradient` on NumPy `float64`, for SciPy's `jac=True`.

    Runs one traced function (traced once, on the first call).

    Args:
      x: the flat vector, a NumPy array of `self.size` entries.

    Returns:
      `(value, gradient)` as a Python float and a NumPy `float64` vector.
    """
    if self._numpy_value_and_gradient is None:
      self._numpy_value_and_gradient = tf.function(
        self.value_and_gradient, input_signature=[self._spec()]
      )
    value, gradient = self._numpy_value_and_gradient(self._tensor(x))
    return float(value), np.asarray(gradient, np.float64)

  def numpy_hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """`hvp` on NumPy `float64`, for SciPy's `hessp`.

    For Newton-CG, trust-krylov, trust-ncg and the like. Runs one traced
    function (traced once, on the first call).

    Args:
      x: the flat vector where the Hessian is taken, a NumPy array.
      v: the flat vector it multiplies, a NumPy array.

    Returns:
      The Hessian-vector product as a NumPy `float64` vector.
    """
    if self._numpy_hvp is None:
      self._numpy_hvp = tf.function(
        self.hvp, input_signature=[self._spec(), self._spec()]
      )
    return np.asarray(
      self._numpy_hvp(self._tensor(x), self._tensor(v)), np.float64
    )

  def _spec(self) -> tf.TensorSpec:
    return tf.TensorSpec([self.size], self.dtype)

  def _tensor(self, x: np.ndarray) -> tf.Tensor:
    return tf.constant(np.asarray(x), dtype=self.dtype)


@_autograph.library_function
def flat_objective(
  f: Callable[..., Any],
  params: Any,
  *,
  use_gradient_tape: bool = False,
  name: str | None = None,
) -> FlatObjective:
  """`f` over its parameters flattened into one vector, for optimizers.

  `scipy.optimize.minimize` and `tfp.optimizer.lbfgs_minimize` want one
  flat vector; `params` may be a list, tuple, dict or nested structure of
  Tensors or variables (Keras 3 variables too), or a Keras model or
  `tf.Module` (its `trainable_variables`). How `f` is called:

  * Tensors: `f(params)`, with the structure rebuilt from the flat vector.
  * Variables, a model or a module: the flat vector is assigned to the
    variables, then `f` is called as declared: `f()` if it takes no
    arguments, else `f(params)` with `params` as passed (the model, say).

  The flat vector has the widest float dtype among the parameters
  (`float64` if any part is, else `float32`); each part is cast back to its
  own dtype. A call costs `value_and_gradient` plus one split and one
  concat (and, for variables, the assignments).

  #### Examples

      >>> import numpy as np
      >>> import scipy.optimize
      >>> import tensorflow as tf
      >>> import tfgradtools.math as tfm
      >>> w = [tf.Variable([[1., 2.]]), tf.Variable([0.])]
      >>> objective = tfm.flat_objective(
      ...     lambda: tf.reduce_sum((w[0] - 3.) ** 2) + (w[1][0] + 1.) ** 2, w)
      >>> result = scipy.optimize.minimize(
      ...     objective.numpy_value_and_gradient,
      ...     objective.numpy_initial_position, jac=True, method='L-BFGS-B')
      >>> objective.assign(result.x)
      >>> np.round(w[0].numpy(), 3).tolist(), np.round(w[1].numpy(), 3).tolist()
      ([[3.0, 3.0]], [-1.0])

  Args:
    f: Python callable returning a scalar Tensor.
    params: what to optimize: a structure of Tensors or variables, or a
      Keras model or `tf.Module`.
    use_gradient_tape: as in `value_and_gradient`.
      Default value: `False`.
    name: name scope of the ops created.
      Default value: `None` (i.e. `'flat_objective'`).

  Returns:
    A `FlatObjective`: `initial_position`, `flatten`, `unflatten`,
    `value_and_gradient(x)` and `hvp(x, v)` over the flat vector (for
    `tfp.optimizer`, eagerly or in `tf.function`), their NumPy `float64`
    forms `numpy_value_and_gradient` and `numpy_hvp` (for
    `scipy.optimize.minimize(..., jac=True, hessp=...)`), and
    `assign(x)` to write a solution back into the variables. Gradients of
    parameters `f` does not use are zeros.

  Raises:
    TypeError: `f` is not callable, `params` mixes variables and Tensors,
      holds non-float parts, or holds Tensors and `f` takes no argument.
    ValueError: `params` is empty or has parts of unknown shape.
  """
  return FlatObjective(
    f, params, use_gradient_tape=use_gradient_tape, name=name
  )
