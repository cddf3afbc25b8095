"""An agent module whose own code fails on import (the tests name it as an agent's target)."""

from __future__ import annotations

raise NameError("name 'undefined_helper' is not defined")
