"""`wanbot check` and `wanbot generate` at the edges an operator hits first: a server that never
answers, a URL that is not one, a token refused, a server that is not ComfyUI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cli._servers import NGINX_404, WELCOME_PAGE, answering_server, silent_listener
from tests.cli._wanbot import wanbot

# "Does not hang": well past the client's own budget, well short of the minutes it used to take.
NOT_HANGING = 20.0


def _problem_lines(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


async def test_a_server_that_never_answers_is_reported_within_seconds(tmp_path: Path) -> None:
    async with silent_listener() as url:
        check, generate = await asyncio.gather(
            wanbot("check", "--comfyui", url, cwd=tmp_path),
            wanbot("generate", "cat", "--comfyui", url, cwd=tmp_path))
    assert check.code == 1
    assert check.seconds < NOT_HANGING
    (line,) = _problem_lines(check.out, "not answering")
    assert line.count(url) == 1
    assert check.out.count("not answering") == 1
    assert generate.code == 1
    assert generate.seconds < NOT_HANGING
    assert generate.err.count("\n") == 1, generate.err  # one line
    assert "not answering" in generate.err and generate.err.count(url) == 1
    assert "Traceback" not in check.out + check.err + generate.err


@pytest.mark.parametrize(("command", "how", "named"), [
    ("check", {"flag": "http://"}, "--comfyui"),
    ("check", {"COMFYUI_URLS": "http://127.0.0.1:99999"}, "COMFYUI_URLS"),
    ("check", {"COMFYUI_URL": "http://:8188"}, "COMFYUI_URL:"),
    ("generate", {"flag": "http://127.0.0.1:70000"}, "--comfyui"),
    ("generate", {"COMFYUI_URL": "http://"}, "COMFYUI_URL:"),
])
async def test_an_invalid_url_is_a_configuration_error_naming_what_was_used(
        tmp_path: Path, command: str, how: dict[str, str], named: str) -> None:
    flag = how.pop("flag", None)
    args = [command] + (["cat"] if command == "generate" else []) + (["--comfyui", flag] if flag else [])
    run = await wanbot(*args, cwd=tmp_path, env=how)
    assert run.code == 2, run
    (line,) = run.err.splitlines()
    assert line.startswith(f"wanbot: {named}"), line
    assert "UNREACHABLE" not in run.out and "not answering" not in run.err + run.out
    assert "Traceback" not in run.err


async def test_a_refused_token_is_named_not_called_unreachable(tmp_path: Path) -> None:
    async with answering_server(401, "401 Unauthorized", "text/plain") as url:
        check = await wanbot("check", "--comfyui", url, cwd=tmp_path)
        generate = await wanbot("generate", "cat", "--comfyui", url, cwd=tmp_path,
                                env={"COMFYUI_TOKEN": "not-the-right-one"})
    assert check.code == 1
    assert "UNREACHABLE" not in check.out and "not answering" not in check.out
    (line,) = _problem_lines(check.out, "token is missing or wrong")
    assert "COMFYUI_TOKEN" in line and line.count(url) == 1
    assert generate.code == 1
    (line,) = generate.err.splitlines()
    assert "token is missing or wrong" in line and "COMFYUI_TOKEN" in line
    assert "not-the-right-one" not in generate.err


@pytest.mark.parametrize(("status", "page"), [(404, NGINX_404), (200, WELCOME_PAGE)])
async def test_a_web_server_that_is_not_comfyui_is_named_without_its_page(
        tmp_path: Path, status: int, page: str) -> None:
    async with answering_server(status, page) as url:
        check = await wanbot("check", "--comfyui", url, cwd=tmp_path)
        generate = await wanbot("generate", "cat", "--comfyui", url, cwd=tmp_path)
    assert check.code == 1
    assert "UNREACHABLE" not in check.out and "not answering" not in check.out
    (line,) = _problem_lines(check.out, "not a ComfyUI server")
    assert line.count(url) == 1
    assert generate.code == 1
    (line,) = generate.err.splitlines()
    assert "not a ComfyUI server" in line
    for text in (check.out, check.err, generate.err):
        assert "<html" not in text.lower() and "nginx" not in text.lower()
