"""The documentation: its examples run, and the site builds without a warning.

Every fenced `python` block of the README and of `docs/` is executed (each
in a fresh namespace, as a reader would paste it), so the documentation
cannot drift from the code; blocks that are not meant to run are `text` or
`bash`. The site is built with `mkdocs build --strict`.
"""

from __future__ import annotations

import doctest
import importlib.util
import inspect
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest
import yaml

import test_signatures
import tfgradtools
import tfgradtools.eager
import tfgradtools.math

ROOT = pathlib.Path(__file__).parent.parent
PAGES = [
  ROOT / 'README.md',
  ROOT / 'CHANGELOG.md',
  ROOT / 'CONTRIBUTING.md',
  *sorted((ROOT / 'docs').rglob('*.md')),
]
# A fenced block: its indentation, its language and its body.
_FENCE = re.compile(
  r'^(?P<indent>[ \t]*)```(?P<lang>[^\n`]*)\n'
  r'(?P<body>.*?)^(?P=indent)```[ \t]*$',
  flags=re.MULTILINE | re.DOTALL,
)
_LANGUAGES = {'python', 'text', 'bash', 'pycon', 'yaml'}


def _site_hooks():
  """docs/hooks.py, which reads the nav as MkDocs does."""
  spec = importlib.util.spec_from_file_location('hooks', ROOT / 'docs/hooks.py')
  hooks = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(hooks)
  return hooks


def _blocks(path: pathlib.Path) -> list[tuple[str, str]]:
  """(language, dedented body) of each fenced block of a page.

  Each body starts with as many blank lines as the page has above it, so
  that a traceback names the page's own line numbers.
  """
  text = path.read_text()
  return [
    (
      m['lang'].strip(),
      '\n' * text.count('\n', 0, m.start('body')) + textwrap.dedent(m['body']),
    )
    for m in _FENCE.finditer(text)
  ]


def _python_blocks() -> list[tuple[pathlib.Path, int, str]]:
  return [
    (path, i, body)
    for path in PAGES
    for i, (lang, body) in enumerate(_blocks(path))
    if lang == 'python'
  ]


@pytest.mark.slow
@pytest.mark.parametrize(
  'facade', [tfgradtools.math, tfgradtools.eager], ids=lambda m: m.__name__
)
def test_docstring_examples(facade):
  """The examples of every module that defines a facade's public names."""
  modules = {
    inspect.getmodule(getattr(facade, name)) for name in facade.__all__
  }
  results = [
    doctest.testmod(
      module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    for module in modules
  ]
  assert sum(r.attempted for r in results) >= 5
  assert sum(r.failed for r in results) == 0


@pytest.mark.parametrize('name', tfgradtools.__all__)
def test_every_public_function_has_an_example(name):
  obj = getattr(tfgradtools, name)
  if callable(obj):
    # A function without a value shows its example in its value_and_ twin.
    documented = getattr(tfgradtools, f'value_and_{name}', obj)
    assert '>>> ' in obj.__doc__ + documented.__doc__, (
      f'{name} has no runnable example'
    )


@pytest.mark.parametrize('path', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_block_says_whether_it_runs(path):
  languages = {lang for lang, _ in _blocks(path)}
  assert languages <= _LANGUAGES, (
    f'{path.name}: fenced blocks must be ```python (run by the tests) or '
    f'one of {sorted(_LANGUAGES - {"python"})}, not {languages - _LANGUAGES}'
  )


def test_the_docs_have_examples():
  pages = {path.name for path, _, _ in _python_blocks()}
  assert {'README.md', 'getting-started.md', 'math.md', 'eager.md'} <= pages


@pytest.mark.slow
@pytest.mark.parametrize(
  'path, index, body',
  _python_blocks(),
  ids=[f'{p.relative_to(ROOT)}#{i}' for p, i, _ in _python_blocks()],
)
def test_python_block_runs(path, index, body):
  del index  # In the test's id.
  exec(compile(body, str(path), 'exec'), {'__name__': '__docs__'})  # pylint: disable=exec-used


def _mkdocs_config() -> dict:
  # mkdocs.yml uses no custom tags; the hooks are named, not loaded, here.
  return yaml.safe_load((ROOT / 'mkdocs.yml').read_text())


def _reference_pages() -> set[str]:
  """`<module>/<name>` of the reference page each public name needs."""
  return (
    {'math/index', 'eager/index'}
    | {f'math/{name}' for name in tfgradtools.math.__all__}
    | {f'eager/{name}' for name in tfgradtools.eager.__all__}
  )


def test_every_public_name_has_a_reference_page():
  # The package re-exports the facades' names: their pages are its pages.
  assert set(tfgradtools.__all__) <= {
    'math',
    'eager',
    *tfgradtools.math.__all__,
    *tfgradtools.eager.__all__,
  }
  hooks = _site_hooks()
  nav = hooks.nav_paths(hooks.expand_reference(_mkdocs_config()['nav'], ROOT))
  pages = {
    path[len('reference/') : -len('.md')]
    for path in nav
    if path.startswith('reference/') and path.count('/') == 2
  }
  missing = _reference_pages() - pages
  assert not missing, (
    f'the reference has no page for {sorted(missing)}: name them in the '
    f'__all__ of their module, read by docs/hooks.py'
  )
  assert not pages - _reference_pages(), 'the nav names pages nothing exports'


def _tolerated(warning: str) -> bool:
  """Whether a warning of the site's build is about an allow-listed docstring.

  tests/test_signatures.py lists the public functions whose docstrings are
  not yet standard; their reference pages are the only ones allowed to warn.
  """
  for name in test_signatures.UNDOCUMENTED_PARAMETERS:
    fn = inspect.unwrap(getattr(tfgradtools, name))
    lines, start = inspect.getsourcelines(fn)
    source = pathlib.Path(inspect.getsourcefile(fn)).relative_to(ROOT)
    if f'reference/math/{name}.md' in warning or any(
      f'{source}:{line}:' in warning
      for line in range(start, start + len(lines))
    ):
      return True
  return False


@pytest.mark.slow
def test_site_builds_strictly(tmp_path):
  # `mkdocs build --strict`, but for the allow-listed docstrings: the build
  # runs to its end and every warning is checked.
  script = textwrap.dedent(f'''
      import logging
      from mkdocs.commands.build import build
      from mkdocs.config import load_config
      logging.basicConfig(format='%(levelname)s %(name)s %(message)s',
                          level=logging.WARNING)
      config = load_config({str(ROOT / 'mkdocs.yml')!r}, strict=False,
                           site_dir={str(tmp_path)!r})
      config.plugins.on_startup(command='build', dirty=False)
      build(config)
  ''')
  env = dict(os.environ, NO_MKDOCS_2_WARNING='1')
  completed = subprocess.run(
    [sys.executable, '-c', script],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
    check=False,
  )
  assert completed.returncode == 0, completed.stderr[-5000:]
  # What `--strict` counts: the warnings of MkDocs and its plugins.
  warnings = [
    line
    for line in completed.stderr.splitlines()
    if line.startswith(('WARNING mkdocs', 'ERROR')) and not _tolerated(line)
  ]
  assert not warnings, '\n'.join(warnings)
  home = (tmp_path / 'index.html').read_text()
  assert 'tfgradtools' in home and 'href="guides/math/"' in home, (
    'the README is the home page, its links into docs/ rewritten'
  )
  for name in _reference_pages():
    page = tmp_path / 'reference' / name.removesuffix('/index') / 'index.html'
    qualified = 'tfgradtools.' + name.removesuffix('/index').replace('/', '.')
    assert qualified in page.read_text(), f'{name}: no rendered docstring'
  for notebook in (ROOT / 'notebooks').glob('*.ipynb'):
    assert (tmp_path / 'notebooks' / notebook.stem / 'index.html').exists()
