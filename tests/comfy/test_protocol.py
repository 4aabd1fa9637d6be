"""Parsing ComfyUI's captured /queue and /history bodies."""

from __future__ import annotations

from bot.comfy.protocol import HistoryEntry, QueueSnapshot
from tests.fakes.comfyui import capture


def _entry(job: str) -> HistoryEntry:
    (body,) = capture("history_sample.json")[job].values()
    return HistoryEntry.model_validate(body)


def test_vhs_video_found_under_gifs_without_fullpath() -> None:
    video = _entry("cold_vhs_h264").video()
    assert video is not None
    assert (video.filename, video.subfolder, video.type) == ("generated_video_00003.mp4", "", "output")
    assert "fullpath" not in video.model_dump()


def test_savevideo_found_under_images_with_subfolder() -> None:
    video = _entry("cold_core_savevideo").video()
    assert video is not None
    assert (video.filename, video.subfolder) == ("generated_video_00002_.mp4", "video")


def test_errored_history_is_not_success_and_carries_the_error() -> None:
    entry = _entry("seed_placeholder_models")
    assert not entry.succeeded
    error = entry.message("execution_error")
    assert error is not None and error["node_type"]


def test_pending_queue_sorted_by_number() -> None:
    body = capture("endpoint_samples.json")["GET /queue (1 running, 1 pending)"]["body"]
    running_id = body["queue_running"][0][1]
    pending_id = body["queue_pending"][0][1]
    snap = QueueSnapshot.from_wire({"queue_running": body["queue_running"],
                                    "queue_pending": [[30, "later", {}, {}, []], body["queue_pending"][0]]})
    assert snap.running == [running_id]
    assert snap.pending == [pending_id, "later"]
    assert snap.position(running_id) == 0 and snap.position("later") == 2 and snap.position("x") is None
