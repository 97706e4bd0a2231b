"""Make the repository root importable (`alerts.generate`, `tests.harness`) under a bare `pytest`
too, which does not put the working directory on sys.path."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
