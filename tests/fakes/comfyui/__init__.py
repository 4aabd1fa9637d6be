"""A ComfyUI 0.8.0 emulator for the project's tests: real HTTP and a real websocket on
127.0.0.1, behaving like the genuine server captured in `captures/`.

Owns: the wire behaviour the bot's ComfyUI client depends on (routes, status codes, JSON
shapes, validation errors, the websocket event sequence and its ordering trap, history and
output file naming, GET /view serving a real playable MP4, picture uploads) and the knobs tests
use to make the server slow, broken, forgetful or strict. It does not run any model.

    async with FakeComfyUI(steps=4, step_seconds=0.01) as fake:
        fake.url                     # "http://127.0.0.1:<port>"  (fake.ws_url for /ws)

Standalone (crash tests run it in a subprocess):
    python -m tests.fakes.comfyui --port 0 [--root DIR] [--step-seconds S] [--steps N] ...
prints "listening on http://127.0.0.1:PORT" once ready (`--help` lists every flag). Pass a
pytest tmp_path as --root when the test kills it, so its output files go away with the test.

Constructor knobs (all are also plain attributes, read live on every prompt):
    object_info      node definitions (default: the captured object_info_subset.json plus
                     `supplement/object_info_i2v.json`, the image-to-video nodes the capture did
                     not record, each written from the source it names); drop a class to
                     emulate a missing node pack
    models           {"diffusion_models": [...], "text_encoders": [...], "vae": [...]}: the
                     installed files, hence which templates this server can run; /models/{folder},
                     the model combos of /object_info and validation all follow it (default: `default_models()`, i.e. the reference
                     names plus every model file the captured workflows and bot/workflows/
                     builtin/*.json reference). Assign `fake.models = {...}` to change it live.
    steps            sampler progress max (None: the graph's own `steps` input)
    step_seconds     time per sampler step; load_seconds: model loader time; node_seconds: any
                     other node
    keep_models      like ComfyUI's node cache: a model loader with the inputs of a loader of the
                     previous prompt is listed in execution_cached and not run (its model is still
                     loaded); `executor.loads` lists every model file loaded, in order
    load_costs       {model file: seconds} to load it (else load_seconds): what a switch of
                     templates costs a GPU, with keep_models
    model_step_seconds {diffusion model file: seconds per sampler step} (else step_seconds): a
                     14B model samples slower than a 1.3B one
    vram_gb          /system_stats shows one CUDA GPU with this much VRAM (default: the captured
                     CPU-only server)
    history_delay    gap between the terminal event and the history write (default 0.05 s; the
                     real gap is ms, widened so clients that read history on execution_success fail)
    view_delay       seconds before GET /view answers
    require_token    when set, every route and /ws want `Authorization: Bearer <t>` or `?token=<t>`
                     (else 401), like the auth proxy in front of hosted ComfyUI
    paused           the worker starts nothing new (also `pause()` / `resume()`)
    fail_execution   the next N prompts end in execution_error; failure_kind picks the payload:
                     "oom" (torch.OutOfMemoryError in the sampler, halfway), "model_load" (the
                     captured SafetensorError in the first loader), "t5_scaled"; `fail_next(n, kind)`
    preview_method   the server's --preview-method (default "none", as ComfyUI's): used when a
                     prompt's extra_data names none; "none" (either way) sends no previews
    preview_frames   "real" (as 0.8.0: a type 4 frame with JSON metadata to a client whose first
                     message announced supports_preview_metadata, type 1 to others), "none"
                     (a sampler that never previews), "type1" (a server from before preview
                     metadata: ignores feature flags), "type4" (metadata frames only) or
                     "garbage" (a malformed frame before each real one); see _previews.py
    preview_format   "JPEG" (what core samplers send) or "PNG"; preview_size: --preview-size
    ignore_prompt_id behave like ComfyUI before client-chosen prompt ids: the body's prompt_id
                     is not read (no uuid check, no 409) and the answer carries a uuid4 of the
                     server's own (CLI: --ignore-prompt-id)
    video_path / video_bytes   what /view serves for every output (default: a 64x64 17-frame
                     H.264 clip from tests.fakes.media)
    root             where output/, temp/ and input/ live (default: a temp dir removed by stop())

Methods: start(), stop(), restart(downtime=0.0), drop_websockets(graceful=False),
http_failures(n, status=500, path=None, after=False), fail_next(), pause(), resume(),
wait_idle(timeout=10.0), requests_to(route), output_path(filename, subfolder, type),
remove_input(name).

What tests look at: requests (every request: method, path, query, headers, body; `form()` for
an upload), accepted (every queued prompt), history, queue_pending (ids in run order), running
(id or None), events (every websocket message emitted, delivered or not), connected_clients,
input_files (what POST /upload/image put in input/), most_held and most_held_by_client (the
most prompts pending + running at once over the server's life, in total and per client id:
what a client's own bound on a server's queue promised).

Behaviour worth knowing (all from the captures or ComfyUI's source):
- job events go only to the socket whose clientId is the prompt's client_id; a message for a
  socket that is not connected is dropped, never replayed; `status` goes to every socket;
- a prompt ends: execution_success (or _error/_interrupted) -> history written -> status ->
  executing {node: null, prompt_id};
- a reconnecting client whose prompt is running gets `executing {node}` without a prompt_id;
- progress comes from the model loader (parameters), the sampler (steps) and VHS (frames);
- POST /upload/image stores the file under input/ as ComfyUI's image_upload does (subfolder,
  type, `overwrite`, " (1)" names on collisions, the same bytes not stored twice) and answers
  {name, subfolder, type}; LoadImage's value must name a file there, checked the way
  LoadImage.VALIDATE_INPUTS does (400 `custom_validation_failed`, "Invalid image file: ...");
  a prompt with a LoadImage saves a clip whose every frame is that picture;
- restart() forgets queue, history and the prompt counter (`number` starts at 0 again); the
  input and output folders stay.
"""

from tests.fakes.comfyui._catalog import (
    capture,
    captured_object_info,
    captures_dir,
    default_models,
    emulated_object_info,
)
from tests.fakes.comfyui._fake import FakeComfyUI
from tests.fakes.comfyui._hub import Emitted
from tests.fakes.comfyui._middleware import RecordedRequest
from tests.fakes.comfyui._previews import preview_colour
from tests.fakes.comfyui._queue import QueueItem

__all__ = [
    "Emitted",
    "FakeComfyUI",
    "QueueItem",
    "RecordedRequest",
    "capture",
    "captured_object_info",
    "captures_dir",
    "default_models",
    "emulated_object_info",
    "preview_colour",
]
