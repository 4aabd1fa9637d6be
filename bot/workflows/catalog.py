"""The templates an operator configured, loaded together.

`WANBOT_WORKFLOW` names one template or several, comma-separated (`Settings.workflows` splits
it); the first is the default. Every name is loaded and checked at once, so an operator learns
about each broken file and each clash of names in one go, not one per start.

`pick_template` decides which configured template runs a request: one that starts from a
picture when the request brings one (i2v), one that starts from text when it does not (t2v);
the member's own choice when it is of that kind, else the first configured one of that kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from bot.i18n import Message
from bot.workflows.params import IMAGE_PARAM
from bot.workflows.request import Problem, RequestInvalid
from bot.workflows.template import I2V, T2V, Template, TemplateError, load_template

__all__ = ["NEEDS_IMAGE", "NO_IMAGE_TO_VIDEO", "load_templates", "pick_template"]

NO_IMAGE_TO_VIDEO: Final = Message(
    en="This server offers no image-to-video (none of its workflows starts from a picture): "
    "send the request again without a picture.",
    zh="本服务器不提供图生视频（它的工作流都不能从图片开始）：请不带图片重新发送。",
)
NEEDS_IMAGE: Final = Message(
    en="This server only makes videos from a picture: send the request again with one.",
    zh="本服务器只能从图片生成视频：请附上一张图片重新发送。",
)


def pick_template(templates: Mapping[str, Template], wanted: str | None, *, image: bool) -> Template:
    """The template for a request with (`image`) or without a start picture; `wanted` is the
    member's choice (or None). Raises RequestInvalid, in both languages, when no configured
    template is of the kind needed."""
    kind = I2V if image else T2V
    chosen = templates.get(wanted or "")
    if chosen is not None and chosen.kind == kind:
        return chosen
    first = next((template for template in templates.values() if template.kind == kind), None)
    if first is None:
        raise RequestInvalid([Problem(IMAGE_PARAM, NO_IMAGE_TO_VIDEO if image else NEEDS_IMAGE)])
    return first


def load_templates(sources: Iterable[str]) -> dict[str, Template]:
    """Load each built-in name or template file in `sources`; by template name, in order.

    The same source given twice is loaded once. Raises TemplateError with every problem found:
    a template that cannot be loaded, two templates with one name, or no template at all.
    """
    templates: dict[str, Template] = {}
    errors: list[TemplateError] = []
    for source in dict.fromkeys(sources):
        try:
            template = load_template(source)
        except TemplateError as exc:
            errors.append(exc)
            continue
        twin = templates.get(template.name)
        if twin is not None:
            errors.append(TemplateError(source, [f"is named {template.name!r} like {twin.source!r}, "
                                                 "which is also configured; give each template its own name"]))
            continue
        templates[template.name] = template
    if errors:
        raise TemplateError.gathered(errors)
    if not templates:
        raise TemplateError("WANBOT_WORKFLOW", ["names no template; give a built-in name or a template file"])
    return templates
