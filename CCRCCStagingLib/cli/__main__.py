"""``python -m CCRCCStagingLib.cli``: what the Slicer module runs in a child process."""

import sys

from . import main

sys.exit(main())
