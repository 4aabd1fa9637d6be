"""The templates an operator configured, loaded together.

`WANBOT_WORKFLOW` names one template or several, comma-separated (`Settings.workflows` splits
it); the first is the default. Every name is loaded and checked at once, so an operator learns
about each broken file and each clash of names in one go, not one per start.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.workflows.template import Template, TemplateError, load_template

__all__ = ["load_templates"]


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
