"""`python3 -m assay_plugin build ...` (see `build.py`)."""

import sys

from .build import main

if len(sys.argv) < 2 or sys.argv[1] != "build":
    print("usage: python3 -m assay_plugin build [PROJECT] [--module M] [--wit DIR] [-o OUT]", file=sys.stderr)
    sys.exit(2)
sys.exit(main(sys.argv[2:]))
