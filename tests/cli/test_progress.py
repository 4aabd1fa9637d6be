"""The progress line of `wanbot generate`: stage, overall percentage, elapsed time and ETA."""

from __future__ import annotations

import io

from bot.cli.progress import ProgressLine
from bot.comfy.watch import Progress
from bot.workflows import load_template


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _line(graph_name: str = "wan-wrapper", stream: io.StringIO | None = None) -> tuple[ProgressLine, _Clock]:
    clock = _Clock()
    return ProgressLine(load_template(graph_name).workflow, stream or io.StringIO(), clock=clock), clock


def _running(node: str, node_class: str, value: int = 0, maximum: int = 0) -> Progress:
    return Progress("p", state="running", node=node, node_class=node_class, value=value, max=maximum)


def test_queued_shows_place_and_elapsed() -> None:
    line, clock = _line()
    clock.now += 3
    assert line.describe(Progress("p", state="queued", position=2)) == "queued (2 ahead) · 0:03 elapsed"
    assert line.describe(Progress("p", state="queued", position=0)) == "queued (next) · 0:03 elapsed"


def test_sampling_shows_steps_percentage_elapsed_and_eta() -> None:
    line, clock = _line()
    line(_running("3", "WanVideoModelLoader"))
    clock.now += 10
    text = line.describe(_running("6", "WanVideoSampler", 7, 15))
    assert text.startswith(" 4") or text.startswith(" 5")  # 40-something percent
    assert "sampling 7/15 · 0:10 elapsed · ETA 0:" in text
    assert "WanVideo" not in text


def test_eta_extrapolates_from_the_share_done() -> None:
    line, clock = _line()
    line(_running("3", "WanVideoModelLoader"))  # running since now
    clock.now += 60
    text = line.describe(_running("6", "WanVideoSampler", 15, 15))
    percent = int(text.split("%")[0])
    eta_s = 60 * (100 - percent) / percent
    minutes, seconds = divmod(round(eta_s), 60)
    assert f"ETA {minutes}:{seconds:02d}" in text or f"ETA {minutes}:{seconds - 1:02d}" in text


def test_a_long_render_shows_hours() -> None:
    line, clock = _line()
    line(_running("3", "WanVideoModelLoader"))
    clock.now += 3725
    assert "1:02:05 elapsed" in line.describe(_running("7", "WanVideoDecode"))


def test_no_node_class_ever_reaches_the_screen() -> None:
    template = load_template("wan-native")
    stream = io.StringIO()
    line = ProgressLine(template.workflow, stream, clock=_Clock())
    for node_id, node in template.workflow.items():
        line(_running(node_id, node["class_type"], 1, 2))
    line.finish()
    shown = stream.getvalue()
    for class_type in template.node_classes():
        assert class_type not in shown
    assert shown.splitlines()[-1].startswith("100% ") and "done" in shown.splitlines()[-1]


def test_a_log_gets_new_lines_only_on_a_new_stage_or_tenth() -> None:
    stream = io.StringIO()
    line = ProgressLine(load_template("wan-wrapper").workflow, stream, clock=_Clock())
    line(_running("3", "WanVideoModelLoader"))
    for step in range(1, 101):
        line(_running("6", "WanVideoSampler", step, 100))
    lines = stream.getvalue().splitlines()
    assert len(lines) < 15
    assert lines[-1].split("·")[0].endswith("sampling 100/100 ")
    assert "\r" not in stream.getvalue()


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    stream = _Terminal()
    line = ProgressLine(load_template("wan-wrapper").workflow, stream, clock=_Clock())
    for step in range(1, 4):
        line(_running("6", "WanVideoSampler", step, 3))
    line.close()
    out = stream.getvalue()
    assert out.count("\r\x1b[K") == 3 and out.endswith("\n") and out.count("\n") == 1


def test_a_tick_moves_the_elapsed_time_on_a_terminal_only() -> None:
    terminal, log = _Terminal(), io.StringIO()
    clock = _Clock()
    lines = [ProgressLine(load_template("wan-wrapper").workflow, stream, clock=clock) for stream in (terminal, log)]
    for line in lines:
        line.tick()  # nothing shown yet: nothing to redraw
        line(Progress("p", state="queued", position=3))
    clock.now += 65
    for line in lines:
        line.tick()
    assert terminal.getvalue().endswith("\r\x1b[Kqueued (3 ahead) · 1:05 elapsed")
    assert log.getvalue() == "queued (3 ahead) · 0:00 elapsed\n"
