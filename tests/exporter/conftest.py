"""Fixtures shared by the tests that talk to the fake API over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.deploy.pki import PKI
from tests.exporter.ecx_fakeapi import load_recorded_pages


@pytest.fixture
def recorded() -> dict[str, list[dict[str, Any]]]:
    pages: dict[str, list[dict[str, Any]]] = load_recorded_pages()["accounts"]["prod"]
    return pages


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    """Certificates made in the test (the web config and TLS tests)."""
    return PKI(tmp_path / "pki")
