"""Make `grafana_testlib` (this directory) and the shared `harness` (tests/) importable: pytest
may run in importlib mode, which does not put test directories on sys.path."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for directory in (HERE, HERE.parent):
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
