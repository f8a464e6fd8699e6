"""Runs the migration command: `python -m tfgradtools.migrate PATH...`."""

import sys

from tfgradtools.migrate import main

if __name__ == '__main__':
  sys.exit(main())
