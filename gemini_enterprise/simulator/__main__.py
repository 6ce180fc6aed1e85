"""`python -m gemini_enterprise.simulator`."""
from __future__ import annotations

from gemini_enterprise.simulator.cli import main

raise SystemExit(main())
