"""Live previews from ComfyUI: asking for them per prompt, and reading the binary frames.

A prompt asks for previews in its `extra_data` (`{"preview_method": "latent2rgb" | "taesd" |
"auto" | "none"}`); no server flag is needed, and "none" turns them off for that prompt even
on a server started with `--preview-method`.

While a sampler runs, ComfyUI (server.py `send_image`, `send_image_with_metadata`) sends each
preview as one binary websocket frame: a 4-byte big-endian event type, then

- 1, PREVIEW_IMAGE: a 4-byte image format (1 JPEG, 2 PNG) and the image;
- 4, PREVIEW_IMAGE_WITH_METADATA: a 4-byte length, that many bytes of JSON (`prompt_id`,
  `node_id`, `image_type`, ...) and the image. The server sends it instead of type 1 to a
  client whose first websocket message was `FEATURE_FLAGS`.

Other types (3 is a node's progress text) are not previews and are skipped. A frame that is
meant as a preview but cannot be one (cut short, an unknown format, bytes that are no image,
metadata that is not JSON) raises `CorruptFrame`. Only the image's signature is checked here:
the cog decodes it with Pillow, off the event loop. Type 1 carries no prompt_id: the event
stream attributes it to the prompt its socket last saw executing.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFAULT_PREVIEW_METHOD",
    "FEATURE_FLAGS",
    "PREVIEW_METHODS",
    "CorruptFrame",
    "Preview",
    "parse_frame",
    "preview_extra_data",
]

PREVIEW_METHODS: Final = ("latent2rgb", "taesd", "auto", "none")
# latent2rgb costs the GPU nearly nothing per step; taesd needs its decoder weights installed.
DEFAULT_PREVIEW_METHOD: Final = "latent2rgb"
FEATURE_FLAGS: Final = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}

_PREVIEW_IMAGE = 1
_PREVIEW_IMAGE_WITH_METADATA = 4
_FORMATS = {1: "image/jpeg", 2: "image/png"}
# A 512-pixel preview is tens of kilobytes and its metadata a hundred bytes; anything near these
# is not a preview (and its JSON is not parsed on the event loop).
_MAX_IMAGE_BYTES = 8 << 20
_MAX_METADATA_BYTES = 64 << 10
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
)


class CorruptFrame(ValueError):
    """A binary frame that claims to be a preview but cannot be read as one."""


@dataclass(frozen=True)
class Preview:
    """One preview image of a running prompt, as it arrived."""

    image: bytes
    mime: str  # from the image's own signature, not from what the frame claims
    prompt_id: str | None  # from type 4 metadata; None for type 1
    node_id: str | None
    received_at: float  # time.monotonic() when the frame arrived


def preview_extra_data(method: str) -> dict[str, Any]:
    """The `extra_data` that asks ComfyUI for this preview method for one prompt."""
    if method not in PREVIEW_METHODS:
        raise ValueError(f"unknown preview method {method!r}; known: {', '.join(PREVIEW_METHODS)}")
    return {"preview_method": method}


def parse_frame(data: bytes, received_at: float) -> Preview | None:
    """The preview in a binary frame; None for a frame that is no preview. Raises CorruptFrame."""
    if len(data) < 4:
        raise CorruptFrame(f"a binary frame of {len(data)} bytes has no event type")
    (event,) = struct.unpack_from(">I", data)
    if event == _PREVIEW_IMAGE:
        return _legacy(data, received_at)
    if event == _PREVIEW_IMAGE_WITH_METADATA:
        return _with_metadata(data, received_at)
    return None


def _legacy(data: bytes, received_at: float) -> Preview:
    if len(data) < 8:
        raise CorruptFrame("a preview frame cut short before its image format")
    (image_format,) = struct.unpack_from(">I", data, 4)
    if image_format not in _FORMATS:
        raise CorruptFrame(f"a preview in unknown image format {image_format}")
    image = data[8:]
    return Preview(image, _mime(image), None, None, received_at)


def _with_metadata(data: bytes, received_at: float) -> Preview:
    if len(data) < 8:
        raise CorruptFrame("a preview frame cut short before its metadata length")
    (length,) = struct.unpack_from(">I", data, 4)
    if length > _MAX_METADATA_BYTES:
        raise CorruptFrame(f"preview metadata of {length} bytes is too large to be one")
    if 8 + length > len(data):
        raise CorruptFrame(f"preview metadata of {length} bytes runs past the frame's {len(data)}")
    try:
        metadata = json.loads(data[8:8 + length])
    except (ValueError, UnicodeDecodeError):
        raise CorruptFrame("preview metadata is not JSON") from None
    if not isinstance(metadata, dict):
        raise CorruptFrame("preview metadata is not a JSON object")
    prompt_id, node_id = metadata.get("prompt_id"), metadata.get("node_id")
    image = data[8 + length:]
    return Preview(image, _mime(image), prompt_id if isinstance(prompt_id, str) else None,
                   str(node_id) if node_id is not None else None, received_at)


def _mime(image: bytes) -> str:
    if len(image) > _MAX_IMAGE_BYTES:
        raise CorruptFrame(f"a preview of {len(image)} bytes is too large to be one")
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "image/webp"
    for signature, mime in _SIGNATURES:
        if image.startswith(signature):
            return mime
    raise CorruptFrame("a preview frame holds no JPEG, PNG, WebP or GIF image")
