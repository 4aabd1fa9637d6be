"""The dispatcher: moves jobs from the durable queue onto ComfyUI backends and back out as posts.

It owns the only loop that claims jobs. Every step is persisted before the side effect that
depends on it: the prompt_id is stored (claim) before POST /prompt, the file is on disk before
`fetched`, and `delivered` is stored with the message id after the post. Each process holds the
jobs it claims under a lease it renews; after a crash, the jobs whose lease ran out are adopted
(by another process, or the next start) and re-attached by their prompt_id. Delivery is a
callback that must be idempotent per job (it may be called again for a job whose post went out
just before a crash); the Discord implementation looks for its own earlier post before posting.

Each backend holds at most its running job plus `prefetch` waiting in ComfyUI's own queue, over
every process on the queue, so the GPU never idles between jobs while fairness and cancellation
stay ours.

The parts, one thing each:
- `_dispatcher`: lifecycle, the claim loop, cancel, and the reads (`backend_views`, `progress_of`);
- `_attempt`: one claim of a job, the unit every piece of bookkeeping is keyed by;
- `_execution`: one attempt from render (`bot.comfy.render`) through fetched to the post;
- `_outcomes`: how an attempt ends (fail, requeue within the cap, what each ComfyUI error means);
- `_backends`: the backends' health, capability, the attempts each holds, prompts to take off,
  the sockets borrowed to hear the prompts another process queued;
- `_leases`: this process's hold on its jobs (the heartbeat, adoption, the check before a post);
- `_recovery`: the jobs a process that is gone left (adopted), and files left behind;
- `_config`, `_callbacks`: what the dispatcher is given (settings and identity; delivery, observer,
  graphs).
"""

from bot.jobs.dispatcher._backends import BackendView
from bot.jobs.dispatcher._callbacks import Deliver, DeliveryFailed, ExtraDataBuilder, GraphBuilder, JobObserver
from bot.jobs.dispatcher._config import DispatchConfig
from bot.jobs.dispatcher._dispatcher import Dispatcher

__all__ = [
    "BackendView",
    "Deliver",
    "DeliveryFailed",
    "DispatchConfig",
    "Dispatcher",
    "ExtraDataBuilder",
    "GraphBuilder",
    "JobObserver",
]
