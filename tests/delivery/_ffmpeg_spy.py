"""A window on the ffmpeg processes the code under test starts.

`FfmpegSpy` writes a small stand-in executable and points imageio-ffmpeg at it through
IMAGEIO_FFMPEG_EXE (which `imageio_ffmpeg.get_ffmpeg_exe()` honours). The stand-in records
each encode (an ffmpeg run with `-pass`) and then *becomes* the real ffmpeg with `exec`, so
the pid the test sees is the ffmpeg process itself. For each encode it:
- announces its pid on a FIFO, read by the test through the event loop (`next_encode()`);
- takes an exclusive lock on a file and hands it to ffmpeg across the exec, so the lock is
  held exactly as long as that ffmpeg lives; an encode starting while another holds it
  writes `overlap <pid>` to a log (`overlaps`);
- with `slow=True`, adds `-re` (read the input at its native frame rate): a 1 s clip then
  takes a second per pass, as on a slow machine, so a test can act while ffmpeg runs.
Probes (no `-pass`) go straight to the real ffmpeg.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest

__all__ = ["FfmpegSpy", "alive"]

_STAND_IN = '''#!{python}
import fcntl, os, sys
args = sys.argv[1:]
if "-pass" in args:
    lock = os.open({lock!r}, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        with open({log!r}, "a") as log:
            log.write(f"overlap {{os.getpid()}}\\n")
    os.set_inheritable(lock, True)
    if {slow!r}:
        args[args.index("-i"):args.index("-i")] = ["-re"]
    announce = os.open({fifo!r}, os.O_WRONLY | os.O_NONBLOCK)
    os.write(announce, f"{{os.getpid()}}\\n".encode())
    os.close(announce)
os.execv({real!r}, [{real!r}, *args])
'''


def alive(pid: int) -> bool:
    """True while `pid` exists, a zombie (dead, not yet waited for) included."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class FfmpegSpy:
    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch, *, slow: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._log = folder / "overlaps.log"
        fifo = folder / "encodes.fifo"
        os.mkfifo(fifo)
        exe = folder / "ffmpeg"
        real = imageio_ffmpeg.get_ffmpeg_exe()
        exe.write_text(_STAND_IN.format(python=sys.executable, lock=str(folder / "encode.lock"), log=str(self._log),
                                        slow=slow, fifo=str(fifo), real=real))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
        # Our own writer keeps the FIFO open, so reads wait for data instead of seeing EOF.
        self._reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        self._buffer = b""
        self._pids: asyncio.Queue[int] = asyncio.Queue()
        self.started: list[int] = []
        asyncio.get_running_loop().add_reader(self._reader, self._on_readable)
        monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(exe))

    def _on_readable(self) -> None:
        self._buffer += os.read(self._reader, 4096)
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self.started.append(int(line))
            self._pids.put_nowait(int(line))

    async def next_encode(self, timeout: float = 30.0) -> int:
        """The pid of the next encode to start (or one that started since the last call)."""
        async with asyncio.timeout(timeout):
            return await self._pids.get()

    @property
    def overlaps(self) -> list[str]:
        return self._log.read_text().splitlines() if self._log.exists() else []

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self._reader)
        os.close(self._reader)
        os.close(self._writer)
