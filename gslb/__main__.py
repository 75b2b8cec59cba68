"""``python -m gslb`` runs the CLI."""

import sys

from gslb.cli import main

sys.exit(main())
