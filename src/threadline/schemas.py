"""Wire building blocks shared by every domain: request bases, metadata, unions, deletions.

The HTTP layer reads these (`http/validation.py` drops `TAG_MARK` tags from error
locations); they import nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError, core_schema

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


T = TypeVar("T")


def _is_none(value: Any) -> bool:
    return value is None


class _LeftOutWhenEmpty:
    """Documents an `Omittable` field as its type alone, never null."""

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return _non_null(handler(schema))


LEFT_OUT = _LeftOutWhenEmpty()
# A response field the spec makes optional and not nullable: sent when it has a value, left
# out (never `null`) when it has none. Where the spec allows null, a field is `T | None`.
Omittable = Annotated[T | None, Field(exclude_if=_is_none), LEFT_OUT]


class Omits(BaseModel):
    """A response model: its `Omittable` fields are documented as not required."""

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        left_out = {
            field.serialization_alias or field.alias or name
            for name, field in cls.model_fields.items()
            if LEFT_OUT in field.metadata
        }
        if left_out and "required" in target:
            target["required"] = [name for name in target["required"] if name not in left_out]
        return json_schema


class Wire(Omits):
    """A response object. Every key is emitted, `null` where empty (but see `EmptyList`),
    except `Omittable` ones, which are left out when empty; so the OpenAPI document lists
    every other key as required, defaults included. The rule for each field is the spec's:
    nullable there, `T | None` here; optional and not nullable there, `Omittable[T]`."""

    model_config = ConfigDict(
        from_attributes=True,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without its `null` branch and its default of null."""
    schema = {key: value for key, value in schema.items() if key != "default"}
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    if "anyOf" in schema and len(branches) == 1:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        return {**branches[0], **rest}
    if "anyOf" in schema:
        schema["anyOf"] = branches
    return schema


class Shape:
    """The documented type of a response field that is sent as it is stored (a JSON value
    kept in a column): `Annotated[dict[str, Any], Shape(ToolObject)]`. The OpenAPI document
    describes the field by `kind`, whose models join the document's components
    (`http/openapi.py` adds `Shape.components`), and the suite checks every response against
    that description (tests/support/wire.py). The value is sent as `kind` sends it, so that
    the wire rules of its models hold for stored values too (an `Omittable` key stored as
    null is left out); a stored value `kind` does not read is sent as it is."""

    components: ClassVar[dict[str, Any]] = {}

    def __init__(self, kind: Any) -> None:
        self.kind = kind
        self._adapter: TypeAdapter[Any] | None = None

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return Shape.schema_of(self.kind)

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        schema = handler(source)
        schema["serialization"] = core_schema.plain_serializer_function_ser_schema(self._as_kind)
        return schema

    def _as_kind(self, value: Any) -> Any:
        if self._adapter is None:
            self._adapter = TypeAdapter(self.kind)
        try:
            # The keys stored, less `Omittable` ones stored as null: a shape's optional key
            # (`= None`) absent from the column stays absent.
            return self._adapter.dump_python(
                self._adapter.validate_python(value), mode="json", by_alias=True, exclude_unset=True
            )
        except ValidationError:
            return value

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


def text_or_parts(value: Any) -> str | None:
    """For `one_of`: a string is `text`, an array is `parts` (content given either way)."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "parts"
    return None


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
