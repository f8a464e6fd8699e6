"""Runs the tour: `python -m tfgradtools` (see `--help`)."""

import sys

from tfgradtools import _tour

if __name__ == '__main__':
  sys.exit(_tour.main())
