"""WANBOT_SHARD_COUNT and WANBOT_SHARD_IDS: how the gateway's shards split between processes,
and the one line an operator reads for each way of getting them wrong."""

from __future__ import annotations

import pytest

from bot.settings import EXAMPLES, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("WANBOT_SHARD_COUNT", "WANBOT_SHARD_IDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def the_problem(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    (line,) = info.value.lines
    return line


def test_unset_means_one_process_with_every_shard_discord_recommends() -> None:
    settings = load_settings()
    assert settings.shard_count is None and settings.shard_ids is None


def test_a_count_alone_connects_every_shard_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANBOT_SHARD_COUNT", "4")
    settings = load_settings()
    assert settings.shard_count == 4 and settings.shard_ids is None


def test_ids_are_read_comma_separated_and_sorted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANBOT_SHARD_COUNT", "4")
    monkeypatch.setenv("WANBOT_SHARD_IDS", " 3, 1 ")
    assert load_settings().shard_ids == [1, 3]


def test_ids_given_by_the_caller() -> None:
    assert load_settings(shard_count=2, shard_ids=[1]).shard_ids == [1]


@pytest.mark.parametrize(("env", "words"), [
    ({"WANBOT_SHARD_IDS": "0"}, "WANBOT_SHARD_IDS: needs WANBOT_SHARD_COUNT"),
    ({"WANBOT_SHARD_COUNT": "2", "WANBOT_SHARD_IDS": "2"},
     "WANBOT_SHARD_IDS: shard 2 does not exist: WANBOT_SHARD_COUNT=2 makes shards 0 to 1"),
    ({"WANBOT_SHARD_COUNT": "1", "WANBOT_SHARD_IDS": "0,1"},
     "WANBOT_SHARD_IDS: shard 1 does not exist: WANBOT_SHARD_COUNT=1 makes shard 0 only"),
    ({"WANBOT_SHARD_COUNT": "2", "WANBOT_SHARD_IDS": "first"}, "WANBOT_SHARD_IDS: 'first' is not a shard number"),
    ({"WANBOT_SHARD_COUNT": "2", "WANBOT_SHARD_IDS": "-1"}, "WANBOT_SHARD_IDS: '-1' is not a shard number"),
    ({"WANBOT_SHARD_COUNT": "3", "WANBOT_SHARD_IDS": "1,1"}, "WANBOT_SHARD_IDS: names shard 1 twice"),
    # A Kubernetes pod index label missing on an old cluster arrives as an empty value: running
    # every shard in every pod would answer each interaction twice, so it is refused.
    ({"WANBOT_SHARD_COUNT": "2", "WANBOT_SHARD_IDS": ""}, "WANBOT_SHARD_IDS: is empty"),
    ({"WANBOT_SHARD_COUNT": "0"}, "WANBOT_SHARD_COUNT: Input should be greater than or equal to 1"),
    ({"WANBOT_SHARD_COUNT": "two"}, "WANBOT_SHARD_COUNT: "),
])
def test_each_mistake_is_one_line_naming_the_variable_with_an_example(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], words: str
) -> None:
    line = the_problem(monkeypatch, **env)
    assert line.startswith(words), line
    variable = line.split(":", 1)[0]
    assert f"(example: {EXAMPLES[variable]})" in line


def test_a_bad_count_is_the_one_problem_reported_not_the_ids_too(monkeypatch: pytest.MonkeyPatch) -> None:
    line = the_problem(monkeypatch, WANBOT_SHARD_COUNT="0", WANBOT_SHARD_IDS="0")
    assert line.startswith("WANBOT_SHARD_COUNT:")
