"""Start-up configuration: one readable line per problem, never a traceback."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from bot import logs

from bot.runner import _secrets
from bot.settings import SettingsError, load_settings
from bot.store_target import Engine


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("DISCORD_TOKEN", "COMFYUI_URLS", "COMFYUI_URL", "COMFYUI_TOKEN", "WANBOT_WORKFLOW", "WANBOT_DB",
                 "WANBOT_DATA_DIR", "WANBOT_STALL_SECONDS", "WANBOT_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_follow_the_design() -> None:
    s = load_settings()
    assert s.comfyui_urls == ["http://127.0.0.1:8188"]
    assert s.workflow == "wan-wrapper"
    assert str(s.db_path) == "data/wanbot.db"
    assert s.database.engine is Engine.SQLITE and s.output_dir == Path("data/outputs")
    assert s.discord_token is None


def test_comma_separated_urls_and_single_url_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMFYUI_URLS", "http://a:8188/, https://b:443")
    assert load_settings().comfyui_urls == ["http://a:8188", "https://b:443"]
    monkeypatch.delenv("COMFYUI_URLS")
    monkeypatch.setenv("COMFYUI_URL", "http://only:8188")
    assert load_settings().comfyui_urls == ["http://only:8188"]


def test_dotenv_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text("WANBOT_WORKFLOW=wan-native\n")
    assert load_settings().workflow == "wan-native"


def test_every_problem_is_one_line_with_variable_and_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMFYUI_URLS", "gpu1:8188")
    monkeypatch.setenv("WANBOT_STALL_SECONDS", "-3")
    monkeypatch.setenv("WANBOT_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError) as info:
        load_settings()
    lines = info.value.lines
    assert len(lines) == 3
    assert any(line.startswith("COMFYUI_URLS: 'gpu1:8188' must start with http://") and "example:" in line
               for line in lines)
    assert any(line.startswith("WANBOT_STALL_SECONDS:") for line in lines)
    assert any(line.startswith("WANBOT_LOG_FORMAT:") for line in lines)


def test_tokens_are_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "very-secret-token")
    monkeypatch.setenv("COMFYUI_TOKEN", "comfy-secret")
    text = repr(load_settings())
    assert "very-secret-token" not in text and "comfy-secret" not in text


def test_a_bad_url_names_the_variable_that_was_set_and_hides_credentials(tmp_path) -> None:
    (tmp_path / ".env").write_text("COMFYUI_URL=http://user:hunter2@gpu:99999/?token=abc\n")
    with pytest.raises(SettingsError) as info:
        load_settings()
    (line,) = info.value.lines
    assert line.startswith("COMFYUI_URL: 'http://gpu:99999/' has a port that is not a number from 1 to 65535")
    assert "hunter2" not in line and "abc" not in line


@pytest.mark.parametrize("url", ["http://", "http://:8188", "https://gpu:0", "http://[::1"])
def test_a_url_given_by_the_caller_is_reported_as_such(url: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(comfyui_urls=[url])
    (problem,) = info.value.problems
    assert problem.field == "comfyui_urls" and problem.from_caller
    assert problem.line("--comfyui").startswith(f"--comfyui: {url!r} ")


@pytest.mark.parametrize(
    ("value", "engine", "shown"),
    [
        ("data/wanbot.db", Engine.SQLITE, "data/wanbot.db"),
        ("sqlite:///data/w.db", Engine.SQLITE, "data/w.db"),
        ("sqlite:////srv/w.db", Engine.SQLITE, "/srv/w.db"),
        ("postgresql://wanbot:hunter2pw@db:5432/wanbot", Engine.POSTGRES, "postgresql://db:5432/wanbot"),
        ("postgres://wanbot@db/wanbot?password=hunter2pw", Engine.POSTGRES, "postgres://db/wanbot"),
    ],
)
def test_wanbot_db_picks_the_engine_and_never_shows_a_password(
    monkeypatch: pytest.MonkeyPatch, value: str, engine: Engine, shown: str
) -> None:
    monkeypatch.setenv("WANBOT_DB", value)
    settings = load_settings()
    assert settings.database.engine is engine
    assert str(settings.database) == shown
    assert "hunter2pw" not in repr(settings) and "hunter2pw" not in str(settings.database)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("mysql://u:hunter2pw@db/wanbot", "is neither a file path nor a postgresql://"),
        ("postgresql://u:hunter2pw@db:99999/wanbot", "has a port that is not a number"),
        ("postgresql://u:hunter2pw@/wanbot", "has no host"),
        ("postgresql://u:hunter2pw@db/a/b", "has a path that is not a database name"),
        ("sqlite://", "names no file"),
        ("", "is empty"),
    ],
)
def test_a_bad_wanbot_db_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("WANBOT_DB", value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    (line,) = info.value.lines
    assert line.startswith("WANBOT_DB: ") and problem in line and "hunter2pw" not in line


def test_the_data_folder_is_beside_sqlite_and_data_for_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(db_path=Path("/srv/bot/w.db")).output_dir == Path("/srv/bot/outputs")
    monkeypatch.setenv("WANBOT_DB", "postgresql://wanbot@db/wanbot")
    assert load_settings().local_dir == Path("data")
    monkeypatch.setenv("WANBOT_DATA_DIR", "/var/lib/wanbot")
    assert load_settings().output_dir == Path("/var/lib/wanbot/outputs")


def test_the_database_password_is_redacted_from_every_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANBOT_DB", "postgresql://wanbot:hunter%2F2pw@db/wanbot")
    settings = load_settings()
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logs.install(secrets=_secrets(settings), stream=out)
    try:
        logging.getLogger("x").error("could not use %s (password %s)", settings.database.dsn, "hunter/2pw")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert "hunter" not in out.getvalue() and "***" in out.getvalue()
