"""Modals: the form a bot answers with (callback type 9), what the member sees in it, and the
MODAL_SUBMIT ``data`` their client sends back.

Owns Discord's rules for a modal, checked on the callback as the API checks them (a broken
form is 400/50035 naming the field, and the interaction stays unacknowledged): a title of
1–45 characters, a custom_id of 1–100, 1–5 top-level components; a Label (type 18) with text
of 1–45 and a description of at most 100 around one input; a legacy action row (type 1)
holding exactly one text input, which then needs its own label (≤ 45); a text input with a
custom_id of 1–100 (unique in the modal), style 1 (short) or 2 (paragraph), a placeholder of
at most 100, a pre-filled value of at most 4000, ``min_length`` 0–4000 and ``max_length``
1–4000. Discord numbers components the bot left without an ``id`` (sequentially, skipping
ids the bot set); the stored form and the submit carry those ids.

The member's client enforces an input's own rules before anything is sent (``required``,
``min_length``, ``max_length``), so the test driver refuses such a submit with ValueError
instead of sending it: a bot never sees one. Lengths are counted in code points.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .wire import DiscordApiError

__all__ = ["ModalInput", "ShownModal", "check_modal", "modal_submission"]

ACTION_ROW = 1
TEXT_INPUT = 4
TEXT_DISPLAY = 10
LABEL = 18
_TEXT_STYLES = (1, 2)  # short, paragraph
_TITLE_MAX = 45
_CUSTOM_ID_MAX = 100
_COMPONENTS_MAX = 5
_LABEL_MAX = 45
_DESCRIPTION_MAX = 100
_PLACEHOLDER_MAX = 100
_VALUE_MAX = 4000


@dataclass(frozen=True)
class ModalInput:
    """One text input as the member sees it: its label and what is already typed in it."""

    custom_id: str
    label: str
    description: str | None
    style: int
    value: str
    placeholder: str | None
    required: bool
    min_length: int
    max_length: int


@dataclass(frozen=True)
class ShownModal:
    """The form a bot opened, read the way a member reads it."""

    custom_id: str
    title: str
    inputs: dict[str, ModalInput]

    def values(self) -> dict[str, str]:
        """What each input holds before the member types anything."""
        return {custom_id: field.value for custom_id, field in self.inputs.items()}

    @classmethod
    def of(cls, modal: Mapping[str, Any]) -> ShownModal:
        inputs = {field.custom_id: field for field in _inputs(modal.get("components") or [])}
        return cls(str(modal["custom_id"]), str(modal["title"]), inputs)


def _inputs(components: list[dict[str, Any]]) -> Iterator[ModalInput]:
    for component in components:
        if component.get("type") == ACTION_ROW:
            for item in component.get("components") or []:
                if item.get("type") == TEXT_INPUT:
                    yield _input(item, item.get("label") or "", None)
        elif component.get("type") == LABEL and component["component"].get("type") == TEXT_INPUT:
            yield _input(component["component"], component.get("label") or "", component.get("description"))


def _input(item: dict[str, Any], label: str, description: str | None) -> ModalInput:
    return ModalInput(
        custom_id=item["custom_id"], label=label, description=description, style=int(item.get("style", 1)),
        value=item.get("value") or "", placeholder=item.get("placeholder"),
        required=bool(item.get("required", True)), min_length=int(item.get("min_length") or 0),
        max_length=int(item.get("max_length") or _VALUE_MAX),
    )


# -- the callback: Discord's checks ------------------------------------------------------------


def _refuse(path: str, code: str, message: str) -> DiscordApiError:
    return DiscordApiError.invalid_form(f"data.{path}", code, message)


def _check_length(path: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise _refuse(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def check_modal(data: Mapping[str, Any]) -> dict[str, Any]:
    """The modal as Discord stores it (ids numbered), or DiscordApiError for a broken form."""
    _check_length("title", data.get("title"), 1, _TITLE_MAX)
    _check_length("custom_id", data.get("custom_id"), 1, _CUSTOM_ID_MAX)
    components = data.get("components")
    if not isinstance(components, list) or not 1 <= len(components) <= _COMPONENTS_MAX:
        raise _refuse("components", "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {_COMPONENTS_MAX} in length.")
    seen: set[str] = set()
    for index, component in enumerate(components):
        _check_top_level(f"components.{index}", component, seen)
    modal = copy.deepcopy(dict(data))
    _number(modal["components"])
    return modal


def _check_top_level(path: str, component: dict[str, Any], seen: set[str]) -> None:
    kind = component.get("type")
    if kind == LABEL:
        _check_length(f"{path}.label", component.get("label"), 1, _LABEL_MAX)
        if len(component.get("description") or "") > _DESCRIPTION_MAX:
            message = f"Must be {_DESCRIPTION_MAX} or fewer in length."
            raise _refuse(f"{path}.description", "BASE_TYPE_MAX_LENGTH", message)
        inner = component.get("component") or {}
        if inner.get("type") == TEXT_INPUT:
            _check_text_input(f"{path}.component", inner, seen, in_label=True)
        else:
            _check_custom_id(f"{path}.component.custom_id", inner.get("custom_id"), seen)
    elif kind == ACTION_ROW:
        items = component.get("components") or []
        if len(items) != 1 or items[0].get("type") != TEXT_INPUT:
            raise _refuse(f"{path}.components", "BASE_TYPE_BAD_LENGTH", "Must hold exactly one text input.")
        _check_text_input(f"{path}.components.0", items[0], seen, in_label=False)
    elif kind != TEXT_DISPLAY:
        raise _refuse(f"{path}.type", "UI_COMPONENT_TYPE_INVALID", f"Component type {kind} is not allowed in a modal.")


def _check_text_input(path: str, item: dict[str, Any], seen: set[str], *, in_label: bool) -> None:
    _check_custom_id(f"{path}.custom_id", item.get("custom_id"), seen)
    if item.get("style") not in _TEXT_STYLES:
        raise _refuse(f"{path}.style", "BASE_TYPE_CHOICES", f"Value must be one of {_TEXT_STYLES}.")
    if not in_label:
        _check_length(f"{path}.label", item.get("label"), 1, _LABEL_MAX)
    for key, limit in (("placeholder", _PLACEHOLDER_MAX), ("value", _VALUE_MAX)):
        if len(item.get(key) or "") > limit:
            raise _refuse(f"{path}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    low, high = item.get("min_length"), item.get("max_length")
    if low is not None and not 0 <= int(low) <= _VALUE_MAX:
        raise _refuse(f"{path}.min_length", "NUMBER_TYPE_MAX", f"Must be between 0 and {_VALUE_MAX}.")
    if high is not None and not 1 <= int(high) <= _VALUE_MAX:
        raise _refuse(f"{path}.max_length", "NUMBER_TYPE_MAX", f"Must be between 1 and {_VALUE_MAX}.")
    if low is not None and high is not None and int(low) > int(high):
        raise _refuse(f"{path}.min_length", "NUMBER_TYPE_MAX", "Must not be above max_length.")
    if high is not None and len(item.get("value") or "") > int(high):
        raise _refuse(f"{path}.value", "BASE_TYPE_MAX_LENGTH", f"Must be {int(high)} or fewer in length.")


def _check_custom_id(path: str, custom_id: Any, seen: set[str]) -> None:
    _check_length(path, custom_id, 1, _CUSTOM_ID_MAX)
    if custom_id in seen:
        raise _refuse(path, "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated.")
    seen.add(custom_id)


def _walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        if component.get("type") == LABEL:
            yield from _walk([component["component"]])
        else:
            yield from _walk(component.get("components") or [])


def _number(components: list[dict[str, Any]]) -> None:
    """Give every component without an id the next free one, depth first, as Discord does."""
    taken = {c["id"] for c in _walk(components) if c.get("id") is not None}
    next_id = 1
    for component in _walk(components):
        if component.get("id") is not None:
            continue
        while next_id in taken:
            next_id += 1
        component["id"] = next_id
        taken.add(next_id)


# -- the submit: what the client sends ---------------------------------------------------------


def modal_submission(modal: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """MODAL_SUBMIT ``data``: the modal's layout with each input's value (``values`` where
    given, else what was pre-filled). LookupError for an input the modal does not have;
    ValueError for a value the member's client would not let them send."""
    shown = ShownModal.of(modal)
    named = {c.get("custom_id") for c in _walk(modal.get("components") or []) if c.get("custom_id")}
    unknown = set(values) - named
    if unknown:
        raise LookupError(f"the modal has no input(s) {sorted(unknown)}; it has {sorted(named)}")
    for field in shown.inputs.values():
        _check_entry(field, str(values.get(field.custom_id, field.value)))
    return {"custom_id": modal["custom_id"], "components": _submitted(modal.get("components") or [], values)}


def _check_entry(field: ModalInput, value: str) -> None:
    if not value:
        if field.required:
            raise ValueError(f"{field.label!r} is required: the client will not submit it empty")
        return
    if not field.min_length <= len(value) <= field.max_length:
        raise ValueError(f"{field.label!r} takes {field.min_length}-{field.max_length} characters, not {len(value)}: "
                         "the client will not submit it")


def _submitted(components: list[dict[str, Any]], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for component in components:
        kind, ident = component.get("type"), component.get("id")
        if kind == ACTION_ROW:
            out.append({"type": kind, "id": ident, "components": _submitted(component.get("components") or [], values)})
        elif kind == LABEL:
            out.append({"type": kind, "id": ident, "component": _submitted([component["component"]], values)[0]})
        elif kind == TEXT_INPUT:
            value = values.get(component["custom_id"], component.get("value") or "")
            out.append({"type": kind, "id": ident, "custom_id": component["custom_id"], "value": str(value)})
        elif "custom_id" in component:  # selects inside labels submit a list of values
            picked = values.get(component["custom_id"], [])
            out.append({"type": kind, "id": ident, "custom_id": component["custom_id"], "values": list(picked)})
        else:
            out.append({"type": kind, "id": ident})
    return out
