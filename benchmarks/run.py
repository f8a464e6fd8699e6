"""Every benchmark, in one process: the figures the documentation quotes.

    python benchmarks/run.py            # everything (about half an hour)
    python benchmarks/run.py --quick    # fewer rounds and sizes
    python benchmarks/run.py gradients call_patterns   # some of them

Each module also runs alone (`python benchmarks/gradients.py`).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _timing  # pylint: disable=g-import-not-at-top
import call_patterns  # pylint: disable=g-import-not-at-top
import explain  # pylint: disable=g-import-not-at-top
import flat  # pylint: disable=g-import-not-at-top
import gradients  # pylint: disable=g-import-not-at-top
import implicit  # pylint: disable=g-import-not-at-top
import per_example  # pylint: disable=g-import-not-at-top
import second_order  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

BENCHMARKS = {
  'gradients': gradients,
  'call_patterns': call_patterns,
  'second_order': second_order,
  'implicit': implicit,
  'flat': flat,
  'per_example': per_example,
  'explain': explain,
}


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument(
    'names',
    nargs='*',
    choices=[[], *BENCHMARKS],
    help='the benchmarks to run (default: all)',
  )
  parser.add_argument(
    '--quick',
    action='store_true',
    help='fewer rounds and sizes, for development',
  )
  args = parser.parse_args(argv)
  tf.get_logger().setLevel('ERROR')
  print(f'tfgradtools benchmarks — {_timing.environment()}\n')
  for name in args.names or BENCHMARKS:
    module = BENCHMARKS[name]
    print(f'## {name}: {module.__doc__.splitlines()[0]}\n')
    module.report(args.quick)


if __name__ == '__main__':
  main()
