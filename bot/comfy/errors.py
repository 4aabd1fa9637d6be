"""One error hierarchy for the ComfyUI boundary.

Every error carries a plain-English `reason` meant for operators and logs (the CLI prints it,
the Discord layer maps the class to a translated message). Tokens never appear in a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ComfyError",
    "BackendDown",
    "BackendRefused",
    "TokenRefused",
    "NotComfyUI",
    "ValidationFailed",
    "NodeProblem",
    "ExecutionFailed",
    "Interrupted",
    "PromptLost",
    "Stalled",
    "OutputMissing",
    "DownloadTooLarge",
]


class ComfyError(Exception):
    """Base for every failure talking to or running on a ComfyUI backend."""

    def __init__(self, reason: str, *, backend: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.backend = backend

    # Whether the job may be tried again (on this or another backend) without user action.
    retryable: bool = False


class BackendDown(ComfyError):
    """The backend did not answer (connection refused, timeouts, repeated 5xx)."""

    retryable = True


class BackendRefused(BackendDown):
    """The server answers, but not as a ComfyUI we may use: only the operator can fix that.

    A kind of BackendDown so that the bot treats it the same way (no work there, checked again
    later); `label` is the one-word status `wanbot check` shows instead of UNREACHABLE.
    """

    label = "REFUSED"


class TokenRefused(BackendRefused):
    """401: the token (COMFYUI_TOKEN) is missing or wrong."""

    label = "TOKEN REFUSED"


class NotComfyUI(BackendRefused):
    """404 or a web page where ComfyUI answers JSON: the URL points at some other server."""

    label = "NOT COMFYUI"


@dataclass(frozen=True)
class NodeProblem:
    """One validation problem of one node input, in plain words."""

    node_id: str
    class_type: str
    input_name: str | None
    kind: str  # ComfyUI's error type, e.g. "value_not_in_list"
    text: str  # plain sentence


class ValidationFailed(ComfyError):
    """POST /prompt answered 400: the graph cannot run on this backend as it is."""

    def __init__(
        self,
        reason: str,
        *,
        backend: str | None = None,
        kind: str = "",
        problems: list[NodeProblem] | None = None,
        missing_packs: list[str] | None = None,
    ) -> None:
        super().__init__(reason, backend=backend)
        self.kind = kind
        self.problems = problems or []
        self.missing_packs = missing_packs or []


class ExecutionFailed(ComfyError):
    """The prompt ran and raised (`execution_error`), e.g. out of VRAM or a broken model file.

    `kind` says what the person who asked can do: "out_of_memory" (ask for less),
    "model_file" (nothing: the operator must replace `model_file`), "execution_error" (anything
    else). Build one with `bot.comfy.execution_error.execution_failure`.
    """

    def __init__(
        self,
        reason: str,
        *,
        backend: str | None = None,
        kind: str = "execution_error",
        model_file: str | None = None,
        node_id: str | None = None,
        node_type: str | None = None,
        exception_type: str | None = None,
    ) -> None:
        super().__init__(reason, backend=backend)
        self.kind = kind
        self.model_file = model_file
        self.node_id = node_id
        self.node_type = node_type
        self.exception_type = exception_type

    @property
    def out_of_memory(self) -> bool:
        return self.kind == "out_of_memory"


class Interrupted(ComfyError):
    """The prompt was interrupted (by our cancel, or by someone at the ComfyUI UI)."""


class PromptLost(ComfyError):
    """The backend knows nothing of the prompt: in neither /queue nor /history (it restarted)."""

    retryable = True


class Stalled(ComfyError):
    """No event and no queue movement for longer than the stall limit."""

    retryable = True


class OutputMissing(ComfyError):
    """The prompt finished but its outputs hold no video file."""


class DownloadTooLarge(ComfyError):
    """The output is larger than the configured download cap."""


