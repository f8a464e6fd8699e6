"""The release: the sdist and the wheel build, and the wheel installs and runs.

The wheel is built as a user would build it (`python -m build`: the sdist,
then the wheel from the sdist, each in an isolated environment), checked
(`py.typed`, the library alone, metadata that renders), installed without
its dependencies into a fresh virtualenv that borrows them from this
environment (so TensorFlow is not downloaded again), and the tour runs from
it — from the wheel's copy of the package, not this checkout.
"""

from __future__ import annotations

import email.parser
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

import tfgradtools

# Builds the sdist and the wheel, and a virtualenv.
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).parent.parent
# What a checkout holds that is not the project's source.
_NOT_SOURCE = shutil.ignore_patterns(
  '.git',
  '.venv',
  '.stacks',
  'build',
  'dist',
  'site',
  '*.egg-info',
  '__pycache__',
  '.ipynb_checkpoints',
  '.cache',
)


def _run(*command, **kwargs) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  completed = subprocess.run(
    command, capture_output=True, text=True, env=env, check=False, **kwargs
  )
  assert completed.returncode == 0, (
    f'{command} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}'
  )
  return completed


@pytest.fixture(scope='module')
def dist(tmp_path_factory) -> pathlib.Path:
  """The sdist and the wheel, built from a copy of the checkout."""
  tmp = tmp_path_factory.mktemp('release')
  source = tmp / 'source'
  shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
  _run(
    sys.executable,
    '-m',
    'build',
    '--outdir',
    str(tmp / 'dist'),
    str(source),
    timeout=600,
  )
  return tmp / 'dist'


def _wheel(dist: pathlib.Path) -> pathlib.Path:
  (wheel,) = dist.glob('*.whl')
  return wheel


def test_builds_an_sdist_and_a_wheel_of_this_version(dist):
  version = tfgradtools.__version__
  assert sorted(p.name for p in dist.iterdir()) == [
    f'tfgradtools-{version}-py3-none-any.whl',
    f'tfgradtools-{version}.tar.gz',
  ]


def test_the_wheel_holds_the_library_alone(dist):
  names = zipfile.ZipFile(_wheel(dist)).namelist()
  assert 'tfgradtools/py.typed' in names
  assert {
    'tfgradtools/__init__.py',
    'tfgradtools/math.py',
    'tfgradtools/eager.py',
    'tfgradtools/migrate/__main__.py',
  } <= set(names)
  assert all(n.startswith(('tfgradtools/', 'tfgradtools-')) for n in names), [
    n for n in names if not n.startswith('tfgradtools')
  ]
  assert not [
    n
    for n in names
    if n.endswith(('.ipynb', '.md'))
    or pathlib.PurePath(n).name.startswith(('test_', 'conftest'))
  ]


def test_the_metadata_renders(dist):
  _run(
    sys.executable,
    '-m',
    'twine',
    'check',
    '--strict',
    *map(str, dist.iterdir()),
    timeout=300,
  )
  with zipfile.ZipFile(_wheel(dist)) as wheel:
    (path,) = [n for n in wheel.namelist() if n.endswith('/METADATA')]
    metadata = email.parser.Parser().parsestr(wheel.read(path).decode())
  assert metadata['License'] == 'Apache-2.0'
  assert metadata['License-File'] == 'LICENSE'
  assert metadata['Requires-Python'] == '>=3.10'
  assert metadata['Description-Content-Type'] == 'text/markdown'
  assert '## 30 seconds' in metadata.get_payload()
  pythons = {
    c.rsplit(' :: ', 1)[1]
    for c in metadata.get_all('Classifier')
    if c.startswith('Programming Language :: Python :: 3.')
  }
  assert pythons == {'3.10', '3.11', '3.12', '3.13'}  # TensorFlow 2.21's.
  assert f'{sys.version_info.major}.{sys.version_info.minor}' in pythons


def test_the_wheel_installs_and_runs_the_tour(dist, tmp_path):
  venv = tmp_path / 'venv'
  _run(sys.executable, '-m', 'venv', '--without-pip', str(venv), timeout=120)
  python = str(venv / 'bin' / 'python')
  site_packages = pathlib.Path(
    _run(
      python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'
    ).stdout.strip()
  )
  # The dependencies (TensorFlow...) come from this environment: its
  # site-packages directories go on the new one's path, after its own. A
  # plain directory in a .pth file runs none of the .pth files inside it,
  # so an editable install of this checkout there stays out of sight.
  borrowed = dict.fromkeys(
    sysconfig.get_path(kind) for kind in ('purelib', 'platlib')
  )
  (site_packages / '_borrowed_dependencies.pth').write_text(
    '\n'.join(borrowed) + '\n'
  )
  _run(
    python,
    '-m',
    'pip',
    'install',
    '--no-deps',
    '--no-index',
    '--quiet',
    str(_wheel(dist)),
    timeout=300,
  )

  # Run away from the checkout, which would otherwise be on sys.path.
  where = _run(
    python,
    '-c',
    'import tfgradtools; print(tfgradtools.__file__)',
    cwd=tmp_path,
    timeout=120,
  ).stdout.strip()
  assert pathlib.Path(where).is_relative_to(site_packages), where
  tour = _run(python, '-m', 'tfgradtools', cwd=tmp_path, timeout=600)
  assert f'tfgradtools {tfgradtools.__version__} on TensorFlow' in tour.stdout
  assert 'Every function agrees with the closed form in every regime.' in (
    tour.stdout
  )
  migrate = _run(
    python, '-m', 'tfgradtools.migrate', '--help', cwd=tmp_path, timeout=120
  )
  assert 'usage' in migrate.stdout
