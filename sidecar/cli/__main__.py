"""`python -m sidecar.cli`: the same as the `sidecar` command."""
import sys

from . import main

sys.exit(main())
