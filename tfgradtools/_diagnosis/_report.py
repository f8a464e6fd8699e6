"""The report of `explain_gradients`, the error of `'raise'`, and their words.

Each cause has one sentence, with the op, the user's line and the fix;
`GradientReport.__str__` and `DisconnectedGradientError` both use them.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from tfgradtools._diagnosis import _graph

# What an op without a gradient is, in the words of the function the user
# called, and the fix.
_NO_GRADIENT = {
  'ArgMax': (
    '`tf.argmax`',
    'use a soft relaxation such as '
    '`tf.nn.softmax`, or differentiate the logits',
  ),
  'ArgMin': (
    '`tf.argmin`',
    'use a soft relaxation such as '
    '`tf.nn.softmax(-x)`, or differentiate the values',
  ),
  'Round': (
    '`tf.round`',
    'use a straight-through estimator, '
    '`x + tf.stop_gradient(tf.round(x) - x)`, or a smooth '
    'surrogate',
  ),
  'Floor': (
    '`tf.floor`',
    'use a straight-through estimator, `x + tf.stop_gradient(tf.floor(x) - x)`',
  ),
  'Ceil': (
    '`tf.math.ceil`',
    'use a straight-through estimator, '
    '`x + tf.stop_gradient(tf.math.ceil(x) - x)`',
  ),
  'Cast': (
    '`tf.cast` to an integer or bool type',
    'keep the value '
    'floating point (cast to `tf.float32`, or round with a '
    'straight-through estimator)',
  ),
  'Shape': (
    '`tf.shape`',
    'a shape does not depend on the values: '
    'compute the result from the values themselves',
  ),
  'Size': (
    '`tf.size`',
    'a size does not depend on the values: compute '
    'the result from the values themselves',
  ),
  'Multinomial': (
    'sampling (`tf.random.categorical`)',
    'a sample has no '
    'gradient: use a reparameterised sample (Gumbel-softmax '
    'for categories) or a score-function estimator',
  ),
}
for _op in (
  'Equal',
  'NotEqual',
  'Greater',
  'GreaterEqual',
  'Less',
  'LessEqual',
):
  _NO_GRADIENT[_op] = (
    f'a comparison (`{_op}`)',
    'a boolean has no '
    'gradient: use a smooth surrogate such as '
    '`tf.sigmoid((a - b) / temperature)`',
  )

# Where an op's derivative is infinite, and the fix.
_NONFINITE = {
  'Sqrt': 'the derivative of `tf.sqrt` (also inside `tf.norm`) is '
  'infinite at 0: add a small constant inside, e.g. '
  '`tf.sqrt(x + 1e-12)`, or keep 0 away from it with `tf.where` on '
  'its input',
  'Log': 'the derivative of `tf.math.log` is infinite at 0, and a '
  '`tf.where` that masks its value does not mask its gradient '
  '(0 × inf is NaN): mask its input too, e.g. '
  '`tf.math.log(tf.where(mask, x, 1.))`',
  'RealDiv': 'a division by zero has an infinite derivative: keep the '
  'divisor away from 0 (e.g. `tf.math.divide_no_nan`, or mask '
  'the divisor with `tf.where`)',
  'Reciprocal': 'the derivative of `1 / x` is infinite at 0: keep `x` away '
  'from 0',
  'Rsqrt': 'the derivative of `tf.math.rsqrt` is infinite at 0: add a '
  'small constant inside',
  'Pow': 'a power with an exponent below 1 has an infinite derivative at '
  '0: add a small constant to the base, or mask it with `tf.where`',
}
_NONFINITE_DEFAULT = (
  'guard its input away from where its derivative is '
  'infinite, masking the input (not only the output) '
  'with `tf.where`'
)


def _where(location: Any) -> str:
  if location is None:
    return 'line unknown'
  filename, lineno = location
  return f'{os.path.basename(filename)}:{lineno}'


def problem(path: str, cause: _graph.Cause, dtype: Any = None) -> str:
  """The sentence for a source's cause, with the fix."""
  where = _where(cause.location)
  if cause.reason == 'integer':
    name = getattr(dtype, 'name', dtype)
    return (
      f'`{path}` has dtype {name}, and gradients reach only '
      'floating-point and complex values; pass it as a float (`2.` '
      'rather than `2`, or `tf.cast(x, tf.float32)` before the call).'
    )
  if cause.reason == 'stop_gradient':
    return (
      f'`{path}` reaches the result only through `tf.stop_gradient` '
      f'({where}); remove it if `{path}` should get a gradient.'
    )
  if cause.reason == 'non_differentiable':
    if cause.op_type is None:
      return (
        f'`{path}` reaches the result, but its gradient stops on the '
        'way back at an op that could not be determined.'
      )
    what, fix = _NO_GRADIENT.get(
      cause.op_type,
      (
        f'an op of type `{cause.op_type}`',
        'replace it by a differentiable '
        'op, or give it a gradient with `tf.custom_gradient`',
      ),
    )
    return (
      f'`{path}` reaches the result only through {what} ({where}), '
      f'which has no gradient; {fix}.'
    )
  if cause.reason == 'left_tensorflow':
    return (
      f'`{path}`\'s value left TensorFlow ({where}; `.numpy()`, '
      '`np.asarray`, `float()`) and came back as a constant, which has '
      'no gradient; compute with TensorFlow ops on '
      f'`{path}` itself.'
    )
  if cause.reason == 'unused':
    return (
      f'`{path}` is not used to compute the result: no path leads '
      'from it to the value. Use it with TensorFlow ops, or do not ask '
      'for its gradient; if its value went through `.numpy()`, '
      '`np.asarray` or `float()` and came back as a constant, compute '
      f'with TensorFlow ops on `{path}` itself.'
    )
  if cause.reason == 'unknown':
    return f'`{path}` gets no gradient, for a reason not determined.'
  if cause.reason == 'nonfinite':
    if cause.op_type is None:
      return (
        f'`{path}`\'s gradient is not finite, but no op of the backward '
        'pass could be found to make the first NaN or Inf (are '
        '`output_gradients` finite?).'
      )
    fix = _NONFINITE.get(cause.op_type, _NONFINITE_DEFAULT)
    return (
      f'`{path}`\'s gradient is not finite: the first NaN or Inf of '
      f'the backward pass comes from the gradient of `{cause.op_type}` '
      f'({where}); {fix}.'
    )
  return (
    f'`{path}` reaches the result, but the derivative asked for does '
    'not depend on it (e.g. a second derivative of a function linear '
    'in it).'
  )


class SourceReport:
  """What `explain_gradients` found for one source; see `GradientReport`."""

  __slots__ = ('path', 'connected', 'reason', 'op_type', 'location', '_dtype')

  def __init__(
    self,
    path: str,
    connected: bool,
    reason: Any,
    op_type: Any,
    location: Any,
    dtype: Any,
  ):
    self.path = path
    self.connected = connected
    self.reason = reason
    self.op_type = op_type
    self.location = location
    self._dtype = dtype

  def is_known(self) -> bool:
    """Whether the reason is known now (not a Tensor of a graph to run)."""
    return isinstance(self.reason, str)

  def sentence(self) -> str | None:
    """The sentence for a problem; `None` if the gradient is fine."""
    if self.reason == 'connected':
      return None
    return problem(
      self.path,
      _graph.Cause(self.reason, self.op_type, self.location),
      self._dtype,
    )

  def __repr__(self) -> str:
    return (
      f'SourceReport(path={self.path!r}, connected={self.connected!r}, '
      f'reason={self.reason!r}, op_type={self.op_type!r}, '
      f'location={self.location!r})'
    )


class GradientReport:
  """Why each gradient of a call is what it is: `explain_gradients`' result.

  Attributes:
    value: `f`'s value, as `value_and_gradient` returns it.
    gradients: the gradients, as `value_and_gradient` returns them.
    sources: one entry per differentiated source, in the order of the
      flattened gradients, each with `path` (where `f` receives it: `x`,
      `args[1]`, `params['w']`; a variable's path or name; `source k`, by
      position, for a Tensor `f` does not receive), `connected`
      (whether a gradient reaches it), `reason` (one of `'connected'`,
      `'unused'`, `'non_differentiable'`, `'stop_gradient'`, `'integer'`,
      `'left_tensorflow'`, `'nonfinite'`), `op_type` (the op to blame, such
      as `'ArgMax'`, `'StopGradient'` or `'Sqrt'`; `None` where none is)
      and `location` (`(filename, lineno)` of the user's line that created
      that op; `None` where there is none). Inside a graph, whether a
      connected source's gradient is finite is known only when the graph
      runs: its `reason` and `op_type` are then string Tensors (`''` for no
      op) and its `location` a pair of Tensors (`('', 0)` for none).
    notes: sentences about the arguments themselves, such as a Keras layer
      with `trainable=False`, whose variables are not differentiated, or
      about causes that could not be determined.

  #### Examples

    >>> import tensorflow as tf
    >>> import tfgradtools
    >>> report = tfgradtools.explain_gradients(
    ...     lambda x, y: tf.reduce_sum(x * tf.stop_gradient(y)),
    ...     tf.ones([2]), tf.ones([2]))
    >>> [(s.path, s.reason, s.op_type) for s in report.sources]
    [('x', 'connected', None), ('y', 'stop_gradient', 'StopGradient')]
    >>> print(report)  # doctest: +ELLIPSIS
    explain_gradients:
    - `y` reaches the result only through `tf.stop_gradient` (...)...
  """

  def __init__(
    self,
    value: Any,
    gradients: Any,
    sources: Sequence[SourceReport],
    notes: Sequence[str] = (),
  ):
    self.value = value
    self.gradients = gradients
    self.sources = list(sources)
    self.notes = list(notes)

  def __str__(self) -> str:
    problems = [s.sentence() for s in self.sources if s.is_known()]
    lines = [p for p in problems if p is not None]
    pending = [s.path for s in self.sources if not s.is_known()]
    if pending:
      lines.append(
        'Connected, with gradients known to be finite or not only when the '
        f'graph runs (see each source\'s `reason`): '
        f'{", ".join(f"`{p}`" for p in pending)}.'
      )
    if not lines and not self.notes:
      return (
        f'All {len(self.sources)} sources are connected and their '
        'gradients are finite.'
      )
    return '\n'.join(
      ['explain_gradients:', *(f'- {line}' for line in lines + self.notes)]
    )

  def __repr__(self) -> str:
    return f'GradientReport(sources={self.sources!r})'


class DisconnectedGradientError(ValueError):
  """A gradient asked for with `unconnected_gradients='raise'` is `None`.

  Its message explains every source without a gradient at once, as
  `explain_gradients` does: the op and the user's line to blame, and the fix.

  #### Examples

  >>> import tensorflow as tf
  >>> import tfgradtools
  >>> try:
  ...   tfgradtools.math.value_and_gradient(
  ...       lambda x: tf.round(x), tf.constant(1.5),
  ...       unconnected_gradients='raise')
  ... except tfgradtools.DisconnectedGradientError as error:
  ...   print('`tf.round`' in str(error), isinstance(error, ValueError))
  True True
  """

  # AutoGraph re-raises an error of a type it does not know as a
  # `StagingError` unless told to let it pass as it is.
  ag_pass_through = True


def disconnected_error(
  api: str,
  names: Sequence[str],
  dtypes: Sequence[Any],
  found: dict[int, _graph.Cause],
  notes: Sequence[str],
) -> DisconnectedGradientError:
  """The error naming each source in `found` and its cause, then `notes`."""
  lines = [
    problem(names[k], cause, dtypes[k]) for k, cause in sorted(found.items())
  ] + list(notes)
  return DisconnectedGradientError(
    f"{api}: unconnected_gradients='raise', and no gradient reaches "
    f'{len(found)} of the {len(names)} sources:\n'
    + '\n'.join(f'- {line}' for line in lines)
  )
