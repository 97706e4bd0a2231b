"""Fixtures for the deploy tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.pki import PKI


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    return PKI(tmp_path / "pki")
