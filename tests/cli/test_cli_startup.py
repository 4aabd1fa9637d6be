"""`wanbot` as an operator first meets it: readable refusals and exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _wanbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COMFYUI_", "WANBOT_"))}
    clean.update(env)
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "bot", *args], env=clean, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_run_without_token_says_how_to_get_one(tmp_path: Path) -> None:
    result = _wanbot("run", env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN is not set" in result.stderr
    assert "applications.commands" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_settings_exit_2_with_one_line_each(tmp_path: Path) -> None:
    result = _wanbot("run", env={"COMFYUI_URLS": "ftp://x", "WANBOT_LOG_LEVEL": "LOUD"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("wanbot: ")]
    assert len(lines) == 2
    assert any("COMFYUI_URLS" in line for line in lines) and any("WANBOT_LOG_LEVEL" in line for line in lines)
    assert "Traceback" not in result.stderr
