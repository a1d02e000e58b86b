"""``python -m nurturelab``: the ``nurturelab`` command."""

import sys

from nurturelab.cli import main

sys.exit(main())
