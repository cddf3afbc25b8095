"""``python -m reliability``: see ``reliability/run.py``."""

from __future__ import annotations

import sys

from reliability.run import main

sys.exit(main())
