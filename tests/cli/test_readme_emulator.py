"""The README's "Try it without a GPU" commands work as written, from the checkout's root."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from pathlib import Path

from tests.cli._wanbot import ROOT, wanbot

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[list[str]]:
    section = README.split("## Try it without a GPU", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block, "the section has a sh block"
    return [shlex.split(line.rstrip(" &")) for line in block.group(1).splitlines() if line.strip()]


async def test_the_emulator_runs_check_and_generate_as_the_readme_says(tmp_path: Path) -> None:
    emulator, check, generate = _commands()
    assert emulator[:3] == [".venv/bin/python", "-m", "tests.fakes.comfyui"]
    port = emulator.index("--port") + 1
    emulator[port] = "0"  # the documented 8188 may be taken on a test machine
    proc = await asyncio.create_subprocess_exec(sys.executable, *emulator[1:], cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        url = line.removeprefix("listening on ").strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        for command in (check, generate):
            assert command[0] == ".venv/bin/wanbot"
            args = [url if arg == "http://127.0.0.1:8188" else arg for arg in command[1:]]
            run = await wanbot(*args, cwd=tmp_path)
            assert run.code == 0, run.out + run.err
        assert (tmp_path / "cat.mp4").read_bytes()[4:8] == b"ftyp"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
