"""Calls sys.exit(3) at import: still a startup failure (exit 1), not a silent exit 3."""

import sys

sys.exit(3)
