"""``python -m nurturelab.cli``."""

import sys

from nurturelab.cli import main

sys.exit(main())
