"""Wire building blocks shared by every domain: request bases, metadata, unions, deletions.

The HTTP layer reads these (`http/validation.py` drops `TAG_MARK` tags from error
locations); they import nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Tag,
    TypeAdapter,
)
from pydantic_core import PydanticCustomError

# Tags of our discriminated unions start with this mark so that they can be told apart from
# field names in an error's location (see `one_of` and `http.validation.param_of`).
TAG_MARK = "\u00b7"


def supported_values(values: Sequence[Any]) -> str:
    """`'a', 'b' and 'c'`: the API's wording for a list of allowed values."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


# The largest integer an integer column holds on both stores (PostgreSQL's `integer`).
COLUMN_INT_MAX = 2**31 - 1


class Request(BaseModel):
    """A request body: strict JSON types, and no argument the spec does not define."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def given(self) -> dict[str, Any]:
        """The fields the client sent with a value; an explicit null counts as not given."""
        return {
            name: getattr(self, name)
            for name in self.model_fields_set
            if getattr(self, name) is not None
        }


class Part(BaseModel):
    """A nested request object: strict types; unknown keys are ignored, as the spec allows."""

    model_config = ConfigDict(strict=True)


class Wire(BaseModel):
    """A response object. Every key is emitted, `null` where empty (but see `EmptyList`); so
    the OpenAPI document lists every key as required, defaults included."""

    model_config = ConfigDict(
        from_attributes=True,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


class Shape:
    """The documented type of a response field that is sent as it is stored (a JSON value
    kept in a column): `Annotated[dict[str, Any], Shape(ToolObject)]`. Serialization is left
    alone; the OpenAPI document describes the field by `kind`, whose models join the
    document's components (`http/openapi.py` adds `Shape.components`), and the suite checks
    every response against that description (tests/support/wire.py)."""

    components: ClassVar[dict[str, Any]] = {}

    def __init__(self, kind: Any) -> None:
        self.kind = kind

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return Shape.schema_of(self.kind)

    @staticmethod
    def schema_of(kind: Any) -> dict[str, Any]:
        """The JSON schema of `kind`, its models kept as components."""
        schema = _without_null_defaults(
            TypeAdapter(kind).json_schema(
                mode="serialization", ref_template="#/components/schemas/{model}"
            )
        )
        for name, definition in schema.pop("$defs", {}).items():
            known = Shape.components.setdefault(name, definition)
            if known != definition:
                raise TypeError(f"two documented shapes are called {name}")
        return schema


def _without_null_defaults(schema: Any) -> Any:
    """The schema less `"default": null`: a shape's optional key (`= None` in its model) is
    left out when empty, never sent as null, and a default of null on a non-nullable type
    is no valid schema."""
    if isinstance(schema, dict):
        return {
            key: _without_null_defaults(value)
            for key, value in schema.items()
            if not (key == "default" and value is None)
        }
    if isinstance(schema, list):
        return [_without_null_defaults(item) for item in schema]
    return schema


# Collections that clients loop over are answered empty, never `null`, as the hosted API did
# (a message's `attachments`, a vector store file's `attributes`): rows stored with nothing
# there read as the empty collection.
EmptyList = Annotated[list[Any], BeforeValidator(lambda value: [] if value is None else value)]
EmptyDict = Annotated[dict[str, Any], BeforeValidator(lambda value: {} if value is None else value)]


METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > METADATA_MAX_PAIRS:
        raise PydanticCustomError(
            "object_above_max_properties",
            "Invalid 'metadata': too many properties. Expected an object with at most "
            "{max} properties, but got an object with {count} properties instead.",
            {"max": METADATA_MAX_PAIRS, "count": len(value)},
        )
    for key, item in value.items():
        if len(key) > METADATA_MAX_KEY:
            raise PydanticCustomError(
                "string_above_max_length",
                "Invalid 'metadata': key '{key}' is too long. Expected a key with maximum "
                "length {max}, but got a key with length {count} instead.",
                {"key": key, "max": METADATA_MAX_KEY, "count": len(key)},
            )
        if len(item) > METADATA_MAX_VALUE:
            raise PydanticCustomError(
                "string_above_max_length",
                "Invalid 'metadata.{key}': string too long. Expected a string with maximum "
                "length {max}, but got a string with length {count} instead.",
                {"key": key, "max": METADATA_MAX_VALUE, "count": len(item)},
            )
    return value


# Up to 16 string pairs; keys at most 64 characters, values at most 512.
Metadata = Annotated[dict[str, str], AfterValidator(_check_metadata)]


class _Context(dict[str, Any]):
    """Error context that can sit in a type annotation (union members must be hashable)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def one_of(
    pick: Callable[[Any], str | None],
    variants: dict[str, Any],
    *,
    field: str = "type",
    expected: str = "an object",
) -> Any:
    """A union whose member is chosen by `pick`, with OpenAI-worded errors.

    Tags carry `TAG_MARK` so that error locations can drop them (`param_of`).
    """

    def tagged(value: Any) -> str | None:
        tag = pick(value)
        # A tag of the wrong type (`{"type": {}}`) is no variant either.
        return TAG_MARK + tag if isinstance(tag, str) and tag in variants else None

    members = tuple(Annotated[model, Tag(TAG_MARK + tag)] for tag, model in variants.items())
    return Annotated[
        Union[members],  # noqa: UP007 - a runtime-built union needs the subscript form
        Discriminator(
            tagged,
            custom_error_type="union_tag_unknown",
            custom_error_message="Invalid value.",
            custom_error_context=_Context(
                field=field, expected=expected, supported=supported_values(list(variants))
            ),
        ),
    ]


def by_field(field: str, variants: dict[str, Any]) -> Any:
    """A union of objects told apart by the value of `field` (usually `type`)."""

    def pick(value: Any) -> str | None:
        if isinstance(value, dict):
            return value.get(field)
        return getattr(value, field, None)

    return one_of(pick, variants, field=field)


class LastErrorObject(BaseModel):
    """The error a run, a step or a vector store file ended with (a documented `Shape`)."""

    code: str
    message: str


class Deleted(Wire):
    id: str
    object: str
    deleted: Literal[True] = True
