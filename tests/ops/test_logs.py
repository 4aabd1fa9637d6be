"""Structured log lines carry the job context and never a secret."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logs import install, job_context


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_key_value_lines_carry_job_context(restore_root) -> None:
    out = io.StringIO()
    install(fmt="text", stream=out)
    with job_context(job=42, guild=7, user=9):
        logging.getLogger("wanbot.test").info("submitted to %s", "gpu1")
    logging.getLogger("wanbot.test").info("outside")
    first, second = out.getvalue().splitlines()
    assert "job=42 guild=7 user=9" in first and 'msg="submitted to gpu1"' in first
    assert "job=" not in second


def test_json_lines_parse(restore_root) -> None:
    out = io.StringIO()
    install(fmt="json", stream=out)
    with job_context(job="j1"):
        logging.getLogger("x").warning("hello")
    record = json.loads(out.getvalue())
    assert record["job"] == "j1" and record["msg"] == "hello" and record["level"] == "warning"


def test_secrets_never_reach_a_line(restore_root) -> None:
    out = io.StringIO()
    redactor = install(fmt="text", stream=out, secrets=["discord-token-123", "comfy-token-456"])
    redactor.add("interaction-token-789")
    log = logging.getLogger("x")
    log.info("url http://h/ws?token=%s", "comfy-token-456")
    log.info("Authorization: Bot discord-token-123")
    try:
        raise RuntimeError("webhook /webhooks/1/interaction-token-789 failed")
    except RuntimeError:
        log.exception("boom")
    text = out.getvalue()
    for secret in ("discord-token-123", "comfy-token-456", "interaction-token-789"):
        assert secret not in text
    assert text.count("***") >= 3
