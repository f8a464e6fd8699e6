"""Keeps pytest out of the corpus: old programs, run only once migrated."""

collect_ignore_glob = ['*.py', '*.ipynb']
