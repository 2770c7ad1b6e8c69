"""``python -m tensorserve`` runs the server (same as the ``tensorserve`` command)."""

import sys

from .cli import main

sys.exit(main())
