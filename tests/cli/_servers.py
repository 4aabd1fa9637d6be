"""Servers that are not a working ComfyUI: one that accepts and never answers, and real aiohttp
servers that answer every request the same way (401, 404, an HTML page)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

__all__ = ["silent_listener", "answering_server", "NGINX_404", "WELCOME_PAGE"]

NGINX_404 = "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1></center></body></html>"
WELCOME_PAGE = "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body><h1>Welcome</h1></body></html>"


@asynccontextmanager
async def silent_listener() -> AsyncIterator[str]:
    """A TCP server that accepts every connection, reads what it is sent and never answers."""
    release = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while not release.is_set() and await reader.read(1 << 16):
            pass
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        release.set()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def answering_server(status: int, body: str, content_type: str = "text/html") -> AsyncIterator[str]:
    """A real HTTP server that answers every path and method with `status` and `body`."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
