"""MkDocs hooks: the repository's own files as pages, and the reference pages.

* `README.md` is the home page; `CHANGELOG.md`, `CONTRIBUTING.md`,
  `LICENSE` and the notebooks are pages where they live in the repository.
  Their links, and the links of the pages in `docs/` to them, are written
  relative to the repository (so that they work where the repository is
  browsed) and are rewritten here to where the targets are in the site.
* The reference follows each facade's `__all__`: the nav entry
  `tfgradtools.<module>: reference/<module>/index.md` becomes a section of
  the module's page and a page `reference/<module>/<name>.md` per public
  name, which is `::: tfgradtools.<module>.<name>` unless `docs/` has a file
  of that name. `__all__` is read from the module's source, so that building
  the site does not import TensorFlow.
"""

from __future__ import annotations

import ast
import pathlib
import posixpath
import re

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.structure.files import Files

# Files outside docs/ that are pages or downloads of the site, by their path
# in the repository (a glob), and their path in the site.
_OUTSIDE = {
  'README.md': 'index.md',
  'CHANGELOG.md': 'CHANGELOG.md',
  'CONTRIBUTING.md': 'CONTRIBUTING.md',
  'LICENSE': 'LICENSE',
}
_OUTSIDE_GLOBS = ('notebooks/*.ipynb',)
_REFERENCE = re.compile(r'reference/(\w+)/(\w+)\.md')
_FACADE_PAGE = re.compile(r'reference/(\w+)/index\.md')
# An inline link's target: `](target)` or `](target "title")`.
_LINK = re.compile(r'\]\((?P<target>[^)\s#]+)(?P<rest>[^)]*)\)')


def _repository(config) -> pathlib.Path:
  return pathlib.Path(config['config_file_path']).parent


def _outside_files(root: pathlib.Path) -> dict[str, str]:
  """Repository path -> site path of the files outside docs/ in the site."""
  paths = dict(_OUTSIDE)
  for pattern in _OUTSIDE_GLOBS:
    paths.update(
      {
        p.relative_to(root).as_posix(): p.relative_to(root).as_posix()
        for p in sorted(root.glob(pattern))
      }
    )
  return paths


def public_names(root: pathlib.Path, module: str) -> list[str]:
  """The `__all__` of `tfgradtools.<module>`, read from its source."""
  tree = ast.parse((root / 'tfgradtools' / f'{module}.py').read_text())
  for node in tree.body:
    if isinstance(node, ast.Assign) and [
      getattr(t, 'id', None) for t in node.targets
    ] == ['__all__']:
      return list(ast.literal_eval(node.value))
  raise ValueError(f'tfgradtools/{module}.py has no literal __all__')


def expand_reference(nav, root: pathlib.Path):
  """The nav with each facade's entry made the section of its names."""
  if isinstance(nav, list):
    return [expand_reference(item, root) for item in nav]
  if isinstance(nav, dict):
    expanded = {}
    for title, value in nav.items():
      match = isinstance(value, str) and _FACADE_PAGE.fullmatch(value)
      if match:
        module = match[1]
        expanded[title] = [{'The module': value}] + [
          {name: f'reference/{module}/{name}.md'}
          for name in public_names(root, module)
        ]
      else:
        expanded[title] = expand_reference(value, root)
    return expanded
  return nav


def on_config(config):
  config['nav'] = expand_reference(config['nav'], _repository(config))
  return config


def nav_paths(nav) -> list[str]:
  """Every page path in a nav configuration."""
  if isinstance(nav, str):
    return [nav]
  if isinstance(nav, dict):
    return [p for value in nav.values() for p in nav_paths(value)]
  if isinstance(nav, list):
    return [p for item in nav for p in nav_paths(item)]
  return []


@event_priority(100)  # Before mkdocs-jupyter turns notebooks into pages.
def on_files(files: Files, config) -> Files:
  root = _repository(config)
  for repository_path, site_path in _outside_files(root).items():
    if repository_path == site_path:
      # A real file, as mkdocs-jupyter needs for notebooks.
      files.append(
        File(
          site_path,
          src_dir=str(root),
          dest_dir=config['site_dir'],
          use_directory_urls=config['use_directory_urls'],
        )
      )
    else:
      files.append(
        File.generated(
          config, site_path, abs_src_path=str(root / repository_path)
        )
      )
  for path in nav_paths(config['nav']):
    match = _REFERENCE.fullmatch(path)
    if match and files.get_file_from_path(path) is None:
      module, name = match.groups()
      files.append(
        File.generated(
          config, path, content=f'::: tfgradtools.{module}.{name}\n'
        )
      )
  return files


def _site_path(repository_path: str, outside: dict[str, str]) -> str | None:
  """Where a file of the repository is in the site, if it is."""
  if repository_path.startswith('docs/'):
    return repository_path[len('docs/') :]
  return outside.get(repository_path)


def on_page_markdown(markdown: str, page, config, files) -> str:
  """Repository-relative links, rewritten to be relative in the site."""
  outside = _outside_files(_repository(config))
  source = page.file.abs_src_path
  if source is None:
    return markdown
  source = pathlib.Path(source).relative_to(_repository(config)).as_posix()
  site_dir = posixpath.dirname(page.file.src_uri)

  def rewrite(match: re.Match) -> str:
    target = match['target']
    if re.match(r'[a-z][a-z0-9+.-]*:', target):  # A URL.
      return match[0]
    repository_path = posixpath.normpath(
      posixpath.join(posixpath.dirname(source), target)
    )
    site_path = _site_path(repository_path, outside)
    if site_path is None:
      return match[0]
    relative = posixpath.relpath(site_path, site_dir or '.')
    return f']({relative}{match["rest"]})'

  return _LINK.sub(rewrite, markdown)
