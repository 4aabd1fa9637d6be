"""POST /prompt validation, ported from ComfyUI's execution.validate_prompt / validate_inputs.

Owns: the error objects a real server returns for a bad graph, byte for byte where the captures
show them (types, messages, details, extra_info, dependent_outputs, the joined details string of
prompt_outputs_failed_validation). Node classes come from object_info, not from Python classes:
RETURN_TYPES is `output`, OUTPUT_NODE is `output_node`.

Nodes with a VALIDATE_INPUTS classmethod are not in object_info; `custom` stands in for them
(`load_image_check` is LoadImage's): the inputs it names skip the min/max and combo checks,
and its answer becomes `custom_validation_failed` ("image - Invalid image file: x.png"), as
execution.validate_inputs does. That is why a picture uploaded into input/wanbot/, which
LoadImage's combo never lists, still validates.

Quirks kept on purpose because the real server has them:
- a link to a missing node raises KeyError inside the *linked* node's validation; the error is
  pinned on that linked node but names the *linking* node's input (see link_to_missing_node);
- literal values for link-typed inputs pass validation (they fail later, at run time);
- INT/FLOAT/STRING/BOOLEAN literals are converted in place, so the queued graph holds 16.0
  where the client sent 16 for a FLOAT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CustomCheck", "Validation", "is_output_node", "load_image_check", "validate_prompt"]

# ComfyUI stops echoing a combo's options past this many (model lists can be huge).
_MAX_LISTED_OPTIONS = 20

# What a real server puts in `traceback` for exceptions during validation (paths rewritten to
# /srv like the captures); clients must treat it as opaque text.
_TRACEBACK = [
    '  File "/srv/ComfyUI/execution.py", line 838, in validate_inputs\n'
    "    r = await validate_inputs(prompt_id, prompt, o_id, validated)\n"
    "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n",
    '  File "/srv/ComfyUI/execution.py", line 818, in validate_inputs\n'
    "    o_class_type = prompt[o_id]['class_type']\n"
    "                   ~~~~~~^^^^^^\n",
]


@dataclass
class Validation:
    """The result the route turns into a response: ok -> 200, else 400 {error, node_errors}."""

    ok: bool
    error: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomCheck:
    """A node's VALIDATE_INPUTS: the inputs it takes, and what it returns for their values
    (True, or the text of the problem)."""

    inputs: tuple[str, ...]
    check: Callable[..., bool | str]


def load_image_check(input_path: Callable[[str], Path | None]) -> dict[str, CustomCheck]:
    """LoadImage.VALIDATE_INPUTS: the file must exist (folder_paths.exists_annotated_filepath)."""
    def check(image: Any) -> bool | str:
        return True if isinstance(image, str) and input_path(image) is not None else f"Invalid image file: {image}"
    return {"LoadImage": CustomCheck(("image",), check)}


def _error(kind: str, message: str, details: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": dict(extra)}


def is_output_node(object_info: Mapping[str, Any], class_type: str) -> bool:
    return bool(object_info.get(class_type, {}).get("output_node"))


def _full_type_name(exc: BaseException) -> str:
    module = type(exc).__module__
    name = type(exc).__qualname__
    return name if module == "builtins" else f"{module}.{name}"


def _input_specs(node_info: Mapping[str, Any]) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(name, category, type, extra) for required then optional inputs (hidden ones are never
    validated). The real server iterates a set; a fixed order keeps tests deterministic."""
    specs = []
    for category in ("required", "optional"):
        for name, spec in (node_info.get("input", {}).get(category) or {}).items():
            extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            specs.append((name, category, spec[0], extra))
    return specs


def _types_compatible(received: Any, wanted: Any) -> bool:
    """ComfyUI's validate_node_input: equal, or comma-separated sets that intersect, or '*'."""
    if received == wanted:
        return True
    if not isinstance(received, str) or not isinstance(wanted, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in wanted.split(",")}
    return "*" in got or "*" in want or bool(got & want)


_CONVERTERS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


class _Validator:
    def __init__(self, prompt: dict[str, Any], object_info: Mapping[str, Any],
                 custom: Mapping[str, CustomCheck]) -> None:
        self.prompt = prompt
        self.object_info = object_info
        self.custom = custom
        # node id -> (valid, reasons); insertion order is completion order, like the real dict.
        self.validated: dict[str, tuple[bool, list[dict[str, Any]]]] = {}

    def node(self, unique_id: str) -> tuple[bool, list[dict[str, Any]]]:
        if unique_id in self.validated:
            return self.validated[unique_id]
        inputs = self.prompt[unique_id]["inputs"]
        class_type = self.prompt[unique_id]["class_type"]
        node_info = self.object_info[class_type]
        custom = self.custom.get(class_type)
        errors: list[dict[str, Any]] = []
        valid = True
        for name, category, input_type, extra in _input_specs(node_info):
            if name not in inputs:
                if category == "required":
                    errors.append(_error("required_input_missing", "Required input is missing", name,
                                         input_name=name))
                continue
            info = [input_type, extra]
            value = inputs[name]
            if isinstance(value, list):
                link_ok = self._link(name, value, input_type, info, errors)
                valid = valid and link_ok
                continue
            self._literal(inputs, name, value, input_type, extra, info, errors,
                          checked_elsewhere=custom is not None and name in custom.inputs)
        if custom is not None:
            errors += _custom_errors(custom, inputs)
        result = (not errors and valid, errors)
        self.validated[unique_id] = result
        return result

    def _link(self, name: str, link: list[Any], input_type: Any, info: list[Any],
              errors: list[dict[str, Any]]) -> bool:
        """False when the upstream node is invalid (its own errors are recorded on it)."""
        if len(link) != 2:
            errors.append(_error("bad_linked_input",
                                 "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                                 name, input_name=name, input_config=info, received_value=link))
            return True
        source_id = link[0]
        # KeyError/IndexError here propagate on purpose: the caller pins them like the server.
        source_class = self.prompt[source_id]["class_type"]
        received_type = self.object_info[source_class]["output"][link[1]]
        if not _types_compatible(received_type, input_type):
            errors.append(_error(
                "return_type_mismatch", "Return type mismatch between linked nodes",
                f"{name}, received_type({received_type}) mismatch input_type({input_type})",
                input_name=name, input_config=info, received_type=received_type, linked_node=link))
            return True
        try:
            return self.node(source_id)[0]
        except Exception as exc:  # the server's catch-all, pinned on the linked node
            reasons = [_error(
                "exception_during_inner_validation", "Exception when validating inner node", str(exc),
                input_name=name, input_config=info, exception_message=str(exc),
                exception_type=_full_type_name(exc), traceback=list(_TRACEBACK), linked_node=link)]
            self.validated[source_id] = (False, reasons)
            return False

    def _literal(self, inputs: dict[str, Any], name: str, value: Any, input_type: Any,
                 extra: dict[str, Any], info: list[Any], errors: list[dict[str, Any]], *,
                 checked_elsewhere: bool = False) -> None:
        if isinstance(value, dict) and "__value__" in value:
            value = inputs[name] = value["__value__"]
        convert = _CONVERTERS.get(input_type) if isinstance(input_type, str) else None
        if convert is not None:
            try:
                value = inputs[name] = convert(value)
            except Exception as exc:  # int('abc'), float(None), ...
                errors.append(_error(
                    "invalid_input_type", f"Failed to convert an input value to a {input_type} value",
                    f"{name}, {value}, {exc}", input_name=name, input_config=info, received_value=value,
                    exception_message=str(exc)))
                return
        if checked_elsewhere:  # VALIDATE_INPUTS names it: no min, max or combo check
            return
        if "min" in extra and value < extra["min"]:
            errors.append(_error("value_smaller_than_min", f"Value {value} smaller than min of {extra['min']}",
                                 name, input_name=name, input_config=info, received_value=value))
            return
        if "max" in extra and value > extra["max"]:
            errors.append(_error("value_bigger_than_max", f"Value {value} bigger than max of {extra['max']}",
                                 name, input_name=name, input_config=info, received_value=value))
            return
        self._combo(name, value, input_type, extra, info, errors)

    @staticmethod
    def _combo(name: str, value: Any, input_type: Any, extra: dict[str, Any], info: list[Any],
               errors: list[dict[str, Any]]) -> None:
        if isinstance(input_type, list):
            options = input_type
        elif input_type == "COMBO":
            options = extra.get("options", [])
        else:
            return
        if extra.get("multiselect") and isinstance(value, list):
            invalid = [v for v in value if v not in options]
        else:
            invalid = [value] if value not in options else []
        if not invalid:
            return
        config: list[Any] | None = info
        if len(options) > _MAX_LISTED_OPTIONS:
            listed, config = f"(list of length {len(options)})", None
        else:
            listed = str(options)
        errors.append(_error("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {listed}",
                             input_name=name, input_config=config, received_value=value))


def _custom_errors(custom: CustomCheck, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """VALIDATE_INPUTS called with the inputs it names (a linked one arrives as None)."""
    values = {name: (None if isinstance(inputs.get(name), list) else inputs.get(name)) for name in custom.inputs}
    answer = custom.check(**values)
    if answer is True:
        return []
    errors = []
    for name in values:
        details = name if answer is False else f"{name} - {answer}"
        errors.append(_error("custom_validation_failed", "Custom validation failed for node", details,
                             input_name=name))
    return errors


def _check_classes(prompt: dict[str, Any], object_info: Mapping[str, Any],
                   targets: list[str] | None) -> tuple[dict[str, Any] | None, list[str]]:
    """The first pass: every node names an installed class; collect output nodes."""
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if "class_type" not in node:
            return _error("invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                          f"Node ID '#{node_id}'"), []
        class_type = node["class_type"]
        if class_type not in object_info:
            return _error("invalid_prompt", f"Cannot execute because node {class_type} does not exist.",
                          f"Node ID '#{node_id}'"), []
        if is_output_node(object_info, class_type) and (targets is None or node_id in targets):
            outputs.append(node_id)
    if not outputs:
        return _error("prompt_no_outputs", "Prompt has no outputs"), []
    return None, outputs


def validate_prompt(prompt: dict[str, Any], object_info: Mapping[str, Any],
                    targets: list[str] | None = None, *,
                    custom: Mapping[str, CustomCheck] | None = None) -> Validation:
    """Validate an API graph in place (literals get converted). `custom`: the VALIDATE_INPUTS
    of node classes by class. Raises TypeError/AttributeError for graphs that are not dicts of
    dicts, which the real server answers with a bare 500."""
    error, outputs = _check_classes(prompt, object_info, targets)
    if error is not None:
        return Validation(ok=False, error=error)
    validator = _Validator(prompt, object_info, custom or {})
    good: list[str] = []
    failed: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    for output_id in outputs:
        try:
            valid, reasons = validator.node(output_id)
        except Exception as exc:  # the server's catch-all around each output
            valid, reasons = False, [_error("exception_during_validation", "Exception when validating node",
                                            str(exc), exception_type=_full_type_name(exc),
                                            traceback=list(_TRACEBACK))]
            validator.validated[output_id] = (False, reasons)
        if valid:
            good.append(output_id)
            continue
        failed.append((output_id, reasons))
        _collect_node_errors(prompt, validator.validated, output_id, node_errors)
    if good:
        # Partly valid graphs run the good outputs; node_errors still reports the bad ones.
        return Validation(ok=True, outputs=good, node_errors=node_errors)
    # Only the output nodes' own reasons reach `details` (upstream failures leave it empty).
    details = "\n".join(f"{r['message']}: {r['details']}" for _, reasons in failed for r in reasons)
    return Validation(ok=False, error=_error("prompt_outputs_failed_validation",
                                             "Prompt outputs failed validation", details),
                      node_errors=node_errors)


def _collect_node_errors(prompt: dict[str, Any], validated: dict[str, tuple[bool, list[dict[str, Any]]]],
                         output_id: str, node_errors: dict[str, Any]) -> None:
    for node_id, (valid, reasons) in validated.items():
        # Downstream nodes of a broken one are invalid without reasons: not reported.
        if valid or not reasons:
            continue
        if node_id not in node_errors:
            node_errors[node_id] = {"errors": reasons, "dependent_outputs": [],
                                    "class_type": prompt[node_id]["class_type"]}
        node_errors[node_id]["dependent_outputs"].append(output_id)
