"""Letters tests run with default settings (London time, shipped rules and letter facts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from intake.settings import Settings


@pytest.fixture(autouse=True)
def _default_settings(settings: Settings) -> Iterator[Settings]:
    yield settings
