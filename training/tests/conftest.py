from __future__ import annotations

from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "aihub"


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    return FIXTURE
