"""`flat_input` builds an input straight from graphql-core's coerced value: the same Python
value Strawberry's own conversion gives, defaults and nulls included, and a clear error for
an input it cannot build that way."""

from datetime import UTC, datetime
from enum import Enum

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from schema.common import CENTS_SCALAR, Cents, flat_input


@strawberry.enum
class Color(Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.input
class Plain:
    id: strawberry.ID
    color: Color
    amount: Cents
    at: datetime | None = None
    note: str | None = strawberry.UNSET
    tags: str = "none"
    maybe_count: int | None = None
    flag: bool = False


@flat_input
@strawberry.input
class Flat(Plain):
    pass


@strawberry.input
class Nested:
    inner: Plain


@strawberry.type
class Query:
    @strawberry.field
    def plain(self, inputs: list[Plain]) -> list[str]:
        return [repr(vars(i)) for i in inputs]

    @strawberry.field
    def flat(self, inputs: list[Flat]) -> list[str]:
        assert all(type(i) is Flat for i in inputs)
        BUILT.append(inputs)
        return [repr(vars(i)) for i in inputs]


BUILT: list[list[Flat]] = []


schema = strawberry.Schema(Query, config=StrawberryConfig(scalar_map={Cents: CENTS_SCALAR}))

VALUES = [
    {"id": "7", "color": "RED", "amount": 250},
    {
        "id": "8",
        "color": "BLUE",
        "amount": -3,
        "at": "2026-11-24T10:00:00+00:00",
        "note": None,
        "tags": "x",
        "maybeCount": 4,
        "flag": True,
    },
]


@pytest.mark.parametrize("inline", [False, True], ids=["variables", "literals"])
def test_a_flat_input_is_the_value_strawberry_would_build(inline: bool) -> None:
    if inline:
        literal = (
            '[{id: "7", color: RED, amount: 250}, {id: "8", color: BLUE, amount: -3,'
            ' at: "2026-11-24T10:00:00+00:00", note: null, tags: "x", maybeCount: 4,'
            " flag: true}]"
        )
        plain = schema.execute_sync(f"{{ plain(inputs: {literal}) }}")
        flat = schema.execute_sync(f"{{ flat(inputs: {literal}) }}")
    else:
        plain = schema.execute_sync(
            "query($v: [Plain!]!) { plain(inputs: $v) }", variable_values={"v": VALUES}
        )
        flat = schema.execute_sync(
            "query($v: [Flat!]!) { flat(inputs: $v) }", variable_values={"v": VALUES}
        )
    assert plain.errors is None
    assert flat.errors is None
    assert plain.data is not None
    assert flat.data is not None
    assert flat.data["flat"] == plain.data["plain"]
    # and what that value is, to be sure both did convert
    assert vars(BUILT[-1][1]) == (
        {
            "id": "8",
            "color": Color.BLUE,
            "amount": -3,
            "at": datetime(2026, 11, 24, 10, tzinfo=UTC),
            "note": None,
            "tags": "x",
            "maybe_count": 4,
            "flag": True,
        }
    )
    assert vars(BUILT[-1][0]) == {
        "id": "7",
        "color": Color.RED,
        "amount": 250,
        "at": None,
        "note": strawberry.UNSET,
        "tags": "none",
        "maybe_count": None,
        "flag": False,
    }


def test_an_input_with_a_nested_input_is_refused_on_first_use() -> None:
    nested = flat_input(Nested)

    @strawberry.type
    class NestedQuery:
        @strawberry.field
        def echo(self, value: nested) -> str:  # type: ignore[valid-type]
            return "built"

    config = StrawberryConfig(scalar_map={Cents: CENTS_SCALAR})
    result = strawberry.Schema(NestedQuery, config=config).execute_sync(
        '{ echo(value: {inner: {id: "1", color: RED, amount: 1}}) }'
    )
    assert result.errors is not None
    assert "Nested.inner is not a scalar or enum" in result.errors[0].message


def test_only_inputs_can_be_flat() -> None:
    @strawberry.type
    class Output:
        x: int

    with pytest.raises(TypeError, match="Output is not an input type"):
        flat_input(Output)


def test_each_schema_builds_with_its_own_field_names() -> None:
    schema.execute_sync("query($v: [Flat!]!) { flat(inputs: $v) }", variable_values={"v": VALUES})
    snake = strawberry.Schema(
        Query,
        config=StrawberryConfig(auto_camel_case=False, scalar_map={Cents: CENTS_SCALAR}),
    )
    result = snake.execute_sync(
        '{ flat(inputs: [{id: "9", color: RED, amount: 1, maybe_count: 5}]) }'
    )
    assert result.errors is None
    assert vars(BUILT[-1][0])["maybe_count"] == 5
