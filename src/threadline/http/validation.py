"""Pydantic validation errors rewritten in the wording and codes of the OpenAI API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.schemas import TAG_MARK

JSON_INVALID = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)

# pydantic's bound errors: (which side of the bound, operator, context key)
_BOUNDS = {
    "less_than_equal": ("above", "<=", "le"),
    "less_than": ("above", "<", "lt"),
    "greater_than_equal": ("below", ">=", "ge"),
    "greater_than": ("below", ">", "gt"),
}

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "tuple_type": "an array",
}


def param_of(loc: Sequence[Any]) -> str | None:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "form"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith(TAG_MARK):
            continue
        else:
            # Array query parameters are spelled `name[]`; their items are `name[i]`.
            part = part.removesuffix("[]") if isinstance(part, str) else part
            out += f".{part}" if out else str(part)
    return out or None


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "an unknown type"


def _number(value: Any) -> Any:
    """A bound or input as the client wrote it: query values arrive as strings."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number_kind(value: Any) -> str:
    return "integer" if isinstance(value, int) and not isinstance(value, bool) else "decimal"


def describe(error: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(message, param, code) for one pydantic error."""
    kind = error["type"]
    loc = error.get("loc", ())
    param = param_of(loc)
    ctx = error.get("ctx") or {}
    value = error.get("input")
    name = param or "body"

    if kind == "json_invalid":
        return JSON_INVALID, None, None
    if kind == "value_error" and "Expected UploadFile" in str(error.get("msg")):
        # A form part without a filename arrives as a plain field.
        return (
            f"Invalid '{name}': expected a file (a multipart part with a filename).",
            param,
            "invalid_value",
        )
    if kind == "missing":
        return f"Missing required parameter: '{name}'.", param, "missing_required_parameter"
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {name}", param, "unknown_parameter"
    if kind == "string_too_long":
        return (
            f"Invalid '{name}': string too long. Expected a string with maximum length "
            f"{ctx.get('max_length')}, but got a string with length {len(value)} instead.",
            param,
            "string_above_max_length",
        )
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return (
                f"Invalid '{name}': empty string. Expected a string with minimum length 1, "
                "but got an empty string instead.",
                param,
                "empty_string",
            )
        return (
            f"Invalid '{name}': string too short. Expected a string with minimum length "
            f"{ctx.get('min_length')}, but got a string with length {len(value)} instead.",
            param,
            "string_below_min_length",
        )
    if kind == "too_long":
        return (
            f"Invalid '{name}': array too long. Expected an array with maximum length "
            f"{ctx.get('max_length')}, but got an array with length "
            f"{ctx.get('actual_length')} instead.",
            param,
            "array_above_max_length",
        )
    if kind == "too_short":
        if not value:
            return (
                f"Invalid '{name}': empty array. Expected an array with minimum length "
                f"{ctx.get('min_length')}, but got an empty array instead.",
                param,
                "empty_array",
            )
        return (
            f"Invalid '{name}': array too short. Expected an array with minimum length "
            f"{ctx.get('min_length')}, but got an array with length "
            f"{ctx.get('actual_length')} instead.",
            param,
            "array_below_min_length",
        )
    if kind in _BOUNDS:
        side, op, key = _BOUNDS[kind]
        bound, value = _number(ctx.get(key)), _number(value)
        number = _number_kind(value)
        return (
            f"Invalid '{name}': {number} {side} {'maximum' if side == 'above' else 'minimum'} "
            f"value. Expected a value {op} {bound}, but got {value} instead.",
            param,
            f"{number}_{side}_{'max' if side == 'above' else 'min'}_value",
        )
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        return (
            f"Invalid value: '{value}'. Supported values are: {expected.replace(' or ', ' and ')}.",
            param,
            "invalid_value",
        )
    if kind == "string_pattern_mismatch":
        return (
            f"Invalid '{name}': string does not match pattern. Expected a string that matches "
            f"the pattern '{ctx.get('pattern')}'.",
            param,
            "invalid_value",
        )
    if kind in _TYPE_NAMES:
        return (
            f"Invalid type for '{name}': expected {_TYPE_NAMES[kind]}, but got "
            f"{json_type_name(value)} instead.",
            param,
            "invalid_type",
        )
    if kind == "union_tag_unknown":
        field = ctx.get("field", "type")
        if not isinstance(value, dict):
            return (
                f"Invalid type for '{name}': expected {ctx.get('expected', 'an object')}, "
                f"but got {json_type_name(value)} instead.",
                param,
                "invalid_type",
            )
        if field not in value:
            return (
                f"Missing required parameter: '{name}.{field}'.",
                f"{name}.{field}",
                "missing_required_parameter",
            )
        return (
            f"Invalid value: '{value[field]}'. Supported values are: {ctx.get('supported')}.",
            f"{name}.{field}",
            "invalid_value",
        )
    if kind == "value_error":
        message = str(ctx.get("error", error.get("msg", "")))
        return message, param, "invalid_value"
    # Our own errors (PydanticCustomError): the type is the code, the message is final.
    return error.get("msg", "Invalid request."), param, kind


def describe_validation_error(
    errors: Sequence[dict[str, Any]],
) -> tuple[str, str | None, str | None]:
    """The first error, as OpenAI reports one error per response."""
    if not errors:
        return "Invalid request.", None, None
    ordered = sorted(errors, key=lambda e: e["type"] != "json_invalid")
    return describe(ordered[0])
