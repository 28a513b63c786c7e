"""``--small``: every benchmark's run of seconds, which the test suite runs so that no benchmark rots.

A small run goes through the same code as a full one (same children, same table), only with
small sizes; its figures mean nothing, that it completes and prints its table is the point.
"""

from __future__ import annotations

import argparse
from typing import Any

SMALL_HELP = "a run of seconds with tiny sizes (what the test suite runs; its figures mean nothing)"


def parse_args(parser: argparse.ArgumentParser, small: dict[str, Any]) -> argparse.Namespace:
    """Parse the command line; with ``--small`` the ``small`` values replace the defaults of those options."""
    parser.add_argument("--small", action="store_true", help=SMALL_HELP)
    args = parser.parse_args()
    if args.small:
        parser.set_defaults(**small)
        args = parser.parse_args()  # values given on the command line still win
    return args
