"""Fixtures for the workflow-template tests: the ComfyUI captures kept with the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.comfyui import captured_object_info, captures_dir


@pytest.fixture(scope="session")
def object_info() -> dict[str, Any]:
    return captured_object_info()


@pytest.fixture(scope="session")
def comfyui_data() -> Path:
    return captures_dir()
