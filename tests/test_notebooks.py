"""The notebooks run top to bottom in a fresh Jupyter kernel each."""

from __future__ import annotations

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted(
  (pathlib.Path(__file__).parent.parent / 'notebooks').glob('*.ipynb')
)


def test_there_are_notebooks():
  assert [p.name for p in NOTEBOOKS] == [
    '01_quickstart.ipynb',
    '02_migrating.ipynb',
    '03_graph_mode.ipynb',
    '04_pictures.ipynb',
    '05_second_order.ipynb',
    '06_optimizers.ipynb',
    '07_per_example.ipynb',
    '08_debugging_gradients.ipynb',
  ]


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_with_outputs(path):
  notebook = nbformat.read(path, as_version=4)
  code = [c for c in notebook.cells if c.cell_type == 'code']
  assert code and all(c.execution_count for c in code), (
    f'{path.name} was committed without running every cell'
  )
  assert sum(bool(c.outputs) for c in code) >= len(code) // 2


@pytest.mark.slow
@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_in_a_fresh_kernel(path):
  notebook = nbformat.read(path, as_version=4)
  NotebookClient(
    notebook,
    timeout=120,
    kernel_name='python3',
    resources={'metadata': {'path': str(path.parent)}},
  ).execute()  # Raises CellExecutionError on any error.
  outputs = [
    o for c in notebook.cells if c.cell_type == 'code' for o in c.outputs
  ]
  assert not [o for o in outputs if o.output_type == 'error']
  pictures = {
    '04_pictures': 2,
    '05_second_order': 1,
    '06_optimizers': 1,
    '07_per_example': 2,
  }.get(path.stem, 0)
  assert sum('image/png' in o.get('data', {}) for o in outputs) == pictures
