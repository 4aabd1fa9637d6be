"""Workflow templates and the video request they render.

- `template`: the template file format, `load_template`, `Template.render` and what a template
  needs from a server (node classes, model files).
- `request`: `VideoRequest.build`, which checks a member's options against a template and
  reports problems in English and Chinese.
- `catalog`: `load_templates`, the configured templates (WANBOT_WORKFLOW may name several),
  and `pick_template`, which of them runs a request with or without a start picture.
- `start_image`: a member's start picture for image-to-video, checked and fitted (Pillow).
- `params`, `seeds`, `graph`: the parameter table and limits, seed range, API-graph rules.
"""

from bot.workflows.catalog import load_templates, pick_template
from bot.workflows.graph import ModelRef
from bot.workflows.params import GLOBAL_DEFAULTS, GLOBAL_LIMITS, IMAGE_PARAM, PARAMS, Limit
from bot.workflows.request import WAN_NEGATIVE_PROMPT, Problem, RequestInvalid, VideoRequest
from bot.workflows.seeds import RANDOM_SEED_MAX, SEED_MAX, draw_seed
from bot.workflows.template import (
    BUILTIN_TEMPLATES,
    Target,
    Template,
    TemplateError,
    load_template,
    parse_template,
)

__all__ = [
    "BUILTIN_TEMPLATES",
    "GLOBAL_DEFAULTS",
    "GLOBAL_LIMITS",
    "IMAGE_PARAM",
    "PARAMS",
    "RANDOM_SEED_MAX",
    "SEED_MAX",
    "WAN_NEGATIVE_PROMPT",
    "Limit",
    "ModelRef",
    "Problem",
    "RequestInvalid",
    "Target",
    "Template",
    "TemplateError",
    "VideoRequest",
    "draw_seed",
    "load_template",
    "load_templates",
    "parse_template",
    "pick_template",
]
