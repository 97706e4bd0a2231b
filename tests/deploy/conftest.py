"""Fixtures for the deploy tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.harness` and `tests.deploy.pki` under bare `pytest` too
    sys.path.insert(0, str(ROOT))

from tests.deploy.pki import PKI  # noqa: E402


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    return PKI(tmp_path / "pki")
