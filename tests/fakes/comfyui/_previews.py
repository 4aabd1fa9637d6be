"""Live preview frames, as ComfyUI sends them on the websocket while a sampler runs.

Owns: which preview method a prompt runs with (`extra_data.preview_method`, else the server's
`--preview-method`, whose default is "none"), the preview images (made with Pillow at run time:
latent2rgb draws at the latent's size, 1/8 of the frame, taesd at the frame's; send_image then
fits either to `--preview-size`, 512 by default, enlarging a small one), and the two binary
frame layouts of ComfyUI's server.py:

- type 1, PREVIEW_IMAGE: `>I 1`, `>I format` (1 JPEG, 2 PNG), the image;
- type 4, PREVIEW_IMAGE_WITH_METADATA: `>I 4`, `>I length`, that many bytes of JSON
  (`node_id`, `prompt_id`, `display_node_id`, `parent_node_id`, `real_node_id`,
  `image_type`), the image. Sent instead of type 1 to a client that announced
  `supports_preview_metadata` in its first websocket message.

Each image is a flat colour picked from the prompt_id (`preview_colour`) with a light bar
that grows with the step, so a test can tell whose preview it holds and that it moved on.
The garbage frames are what a broken proxy or node pack could send: a truncated header, an
unknown image format, bytes that are no image, a metadata length past the end, metadata that
is not JSON, and a JPEG cut short.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from collections.abc import Mapping
from typing import Any

from PIL import Image, ImageDraw, ImageOps

__all__ = [
    "FRAME_MODES",
    "METHODS",
    "effective_method",
    "garbage_frame",
    "graph_size",
    "preview_colour",
    "preview_image",
    "type1_frame",
    "type4_frame",
]

# LatentPreviewMethod values a prompt may name; "default" (or anything else) means the server's own.
METHODS = ("none", "auto", "latent2rgb", "taesd")
# The emulator's knob: "real" behaves as ComfyUI 0.8.0; "none" never sends any (a sampler that
# does not preview); "type1" is a server from before preview metadata (it ignores the client's
# feature flags); "type4" sends only metadata frames (none to clients that did not ask);
# "garbage" sends a malformed frame before each real one.
FRAME_MODES = ("real", "none", "type1", "type4", "garbage")

_PREVIEW_IMAGE = 1
_PREVIEW_IMAGE_WITH_METADATA = 4
_FORMAT_NUMBER = {"JPEG": 1, "PNG": 2}
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png"}
_LATENT_SCALE = 8  # Wan's VAE: latent2rgb shows the latent at 1/8 of the frame size


def effective_method(extra_data: Mapping[str, Any], server_default: str) -> str:
    """latent_preview.set_preview_method: a known override wins, else the launch default."""
    override = extra_data.get("preview_method")
    if isinstance(override, str) and override in METHODS:
        return override
    return server_default


def graph_size(prompt: Mapping[str, Any]) -> tuple[int, int]:
    """The frame size the graph renders (the latent node's width and height)."""
    for node in prompt.values():
        inputs = node.get("inputs", {})
        width, height = inputs.get("width"), inputs.get("height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            return width, height
    return 832, 480


def preview_colour(prompt_id: str) -> tuple[int, int, int]:
    """The flat colour of every preview of `prompt_id` (mid-range, so lossy codecs keep it)."""
    digest = hashlib.sha256(prompt_id.encode()).digest()
    return 40 + digest[0] % 176, 40 + digest[1] % 176, 40 + digest[2] % 176


def preview_image(prompt_id: str, step: int, steps: int, size: tuple[int, int], method: str,
                  image_format: str, max_size: int) -> bytes:
    """One encoded preview (blocking: Pillow; run it in a thread)."""
    width, height = size
    if method in ("latent2rgb", "auto"):  # auto without TAESD weights installed is latent2rgb
        width, height = max(1, width // _LATENT_SCALE), max(1, height // _LATENT_SCALE)
    image = Image.new("RGB", (width, height), preview_colour(prompt_id))
    bar = round(width * step / max(steps, 1))
    ImageDraw.Draw(image).rectangle((0, height - max(1, height // 10), bar, height), fill=(235, 235, 235))
    image = ImageOps.contain(image, (max_size, max_size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format=image_format, quality=95, compress_level=1)
    return out.getvalue()


def type1_frame(image_format: str, image: bytes) -> bytes:
    return struct.pack(">II", _PREVIEW_IMAGE, _FORMAT_NUMBER[image_format]) + image


def type4_frame(image_format: str, image: bytes, prompt_id: str, node_id: str) -> bytes:
    # The same keys, order and separators as json.dumps in server.send_image_with_metadata.
    metadata = {"node_id": node_id, "prompt_id": prompt_id, "display_node_id": node_id,
                "parent_node_id": None, "real_node_id": node_id, "image_type": _MIME[image_format]}
    encoded = json.dumps(metadata).encode("utf-8")
    return struct.pack(">II", _PREVIEW_IMAGE_WITH_METADATA, len(encoded)) + encoded + image


def garbage_frame(index: int, prompt_id: str, node_id: str, image: bytes) -> bytes:
    """The `index`-th malformed frame (they cycle)."""
    metadata = json.dumps({"node_id": node_id, "prompt_id": prompt_id}).encode()
    frames = (
        b"\x00\x00",  # shorter than the event type
        struct.pack(">II", _PREVIEW_IMAGE, 7) + image,  # no such image format
        struct.pack(">II", _PREVIEW_IMAGE, 1) + b"this is not a JPEG",
        struct.pack(">II", _PREVIEW_IMAGE_WITH_METADATA, 1 << 20) + metadata,  # length past the end
        struct.pack(">II", _PREVIEW_IMAGE_WITH_METADATA, 9) + b"{not json" + image,
        type4_frame("JPEG", b"\xff\xd8\xff\xe0" + b"\x00" * 40, prompt_id, node_id),  # a JPEG cut short
    )
    return frames[index % len(frames)]
