"""The migration changes what it migrates and no other byte of the file."""

from __future__ import annotations

import pathlib
import tempfile

import hypothesis
import nbformat
import pytest
from hypothesis import strategies as st

from tfgradtools import migrate
from tfgradtools.migrate import _pipeline

SETTINGS = hypothesis.settings(
  max_examples=40, deadline=None, derandomize=True, print_blob=True
)

# Statements with nothing to migrate ({i}: a number that keeps them apart).
INERT = (
  'v{i} = tf.abs(tf.constant({i}.0))',
  'v{i} = np.float32({i})',
  'v{i} = tf.reduce_sum([\n{indent}    {i},  # inner\n{indent}    {i}])',
  'v{i} = {i} + \\\n{indent}    tf.constant(1.0)',
  'v{i} = tf.nn.relu(tf.constant([{i}.0]));v{i}b = {i}',
)
# Statements that change, and what they become.
MIGRATED = (
  ('w{i} = tfe.Variable({i}.0)', 'w{i} = tf.Variable({i}.0)'),
  (
    'g{i} = tfe.gradients_function(tf.square)',
    'g{i} = tfe.gradients_function(tf.square)',
  ),
  ('c{i} = tf.layers.Dense({i})', 'c{i} = tf.keras.layers.Dense({i})'),
)
HEADER = (
  'import numpy as np',
  'import tensorflow as tf',
  'import tensorflow.contrib.eager as tfe',
  'grad = tfe.gradients_function(tf.square)',
)
NEW_HEADER = (
  'import numpy as np',
  'import tensorflow as tf',
  'import tfgradtools.eager as tfe',
  'grad = tfe.gradients_function(tf.square)',
)


@st.composite
def programs(draw) -> tuple[str, str]:
  """An old program in random formatting, and the exact migration of it."""
  newline = draw(st.sampled_from(['\n', '\r\n']))
  indent = draw(st.sampled_from(['', '  ', '\t']))
  old, new = list(HEADER), list(NEW_HEADER)
  if indent:
    old += ['if True:', indent + 'pass']
    new += ['if True:', indent + 'pass']
  for i in range(draw(st.integers(1, 8))):
    kind = draw(st.sampled_from(['inert', 'migrated', 'blank', 'comment']))
    if kind == 'blank':
      line = draw(st.sampled_from(['', ' ', '\t']))
      old.append(line)
      new.append(line)
      continue
    if kind == 'comment':
      line = indent + draw(st.sampled_from(['# note', '#', '  # indented']))
      old.append(line)
      new.append(line)
      continue
    if kind == 'inert':
      before = after = draw(st.sampled_from(INERT))
    else:
      before, after = draw(st.sampled_from(MIGRATED))
    ending = draw(st.sampled_from(['', ';', ' ;', ';  ']))
    comment = draw(st.sampled_from(['', '  # c', ' # c', '\t# c', '    #c  ']))
    space = draw(st.sampled_from(['', ' ', '\t']))
    if ending.endswith(' ') and comment.startswith(' '):
      comment = comment.lstrip()
    for lines, code in ((old, before), (new, after)):
      lines.append(
        indent
        + code.format(i=i, indent=indent)
        + ending
        + space * (not comment) * bool(ending)
        + comment
      )
  final = draw(st.sampled_from([newline, '']))
  return (
    '\n'.join(old).replace('\n', newline) + final,
    '\n'.join(new).replace('\n', newline) + final,
  )


def _migrate(code: str, upgrade: bool) -> str:
  with tempfile.TemporaryDirectory() as directory:
    path = pathlib.Path(directory) / 'program.py'
    path.write_bytes(code.encode())
    outcome = _pipeline.migrate_file(
      path, _pipeline.Options(tf_upgrade_v2=upgrade)
    )
  assert not outcome.error
  return code if outcome.new is None else outcome.new.decode()


@pytest.mark.slow
@SETTINGS
@hypothesis.given(programs())
def test_only_migrated_statements_change(program):
  old, new = program
  assert _migrate(old, upgrade=False) == new


@hypothesis.settings(SETTINGS, max_examples=15)
@hypothesis.given(programs())
def test_only_migrated_statements_change_with_tf_upgrade_v2(program):
  old, new = program
  assert _migrate(old, upgrade=True) == new


def test_an_empty_cell_beside_migrated_ones_is_left_empty(tmp_path):
  """A notebook's empty code cell is a module with no statements."""
  notebook = nbformat.v4.new_notebook(
    cells=[
      nbformat.v4.new_code_cell('import tensorflow.contrib.eager as tfe'),
      nbformat.v4.new_code_cell(''),
      nbformat.v4.new_code_cell('g = tfe.gradients_function(f)'),
    ]
  )
  path = tmp_path / 'old.ipynb'
  nbformat.write(notebook, path)
  assert migrate.main(['--write', str(path)]) == 0
  cells = [cell.source for cell in nbformat.read(path, as_version=4).cells]
  assert cells == [
    'import tfgradtools.eager as tfe',
    '',
    'g = tfe.gradients_function(f)',
  ]
