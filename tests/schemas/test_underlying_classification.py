"""A line declared under a Chapter 98 or 99 tariff item carries the classification its goods
otherwise have (Customs Tariff, Chapter 99, Note 3), so that measures can reach it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas.declaration import Declaration
from tests.helpers import declaration


def _steel(**line: Any) -> dict[str, Any]:
    base = {"description": "Steel plate", "unit": "KGM", "quantity": "100",
            "value_for_duty": "1000.00"}  # fmt: skip
    return declaration("CAD-UNDERLYING", lines=[{**base, **line}])


def test_a_chapter_99_line_keeps_its_underlying_classification_as_digits() -> None:
    """A Chapter 99 line's underlying classification is read and normalised like a tariff item."""
    parsed = Declaration.model_validate(
        _steel(tariff_item="9903.00.00.00", underlying_tariff_item="7208.51.00.00")
    )
    assert parsed.lines[0].underlying_tariff_item == "7208510000"


def test_a_chapter_98_line_may_omit_it_and_other_lines_have_none() -> None:
    """A Chapter 98 line may leave it out; an ordinary line has none, and the canonical body is unchanged."""
    settlers = Declaration.model_validate(_steel(tariff_item="9807.00.00.00"))
    assert settlers.lines[0].underlying_tariff_item is None
    plain = Declaration.model_validate(_steel(tariff_item="7208.51.00.00"))
    assert plain.lines[0].underlying_tariff_item is None
    assert "underlying_tariff_item" not in plain.canonical_json()


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ({"tariff_item": "9903.00.00.00"}, "required with a Chapter 99 tariff_item"),
        ({"tariff_item": "7208.51.00.00", "underlying_tariff_item": "7208.51.00.00"},
         "only for a Chapter 98 or 99 tariff_item"),
        ({"tariff_item": "9903.00.00.00", "underlying_tariff_item": "9807.00.00.00"},
         "must be in Chapters 1 to 97"),
        ({"tariff_item": "9903.00.00.00", "underlying_tariff_item": "7208.51"},
         "must be 10 digits"),
        ({"tariff_item": "9903.00.00.00", "underlying_tariff_item": 7208510000},
         "must be 10 digits"),
    ],
)  # fmt: skip
def test_a_bad_underlying_classification_is_refused_naming_the_field(
    line: dict[str, Any], words: str
) -> None:
    """Missing on a Chapter 99 line, given on an ordinary line, itself special, or malformed: refused at lines[0].underlying_tariff_item."""
    with pytest.raises(ValidationError) as raised:
        Declaration.model_validate(_steel(**line))
    errors = raised.value.errors()
    assert [error["loc"] for error in errors] == [("lines", 0, "underlying_tariff_item")]
    assert words in errors[0]["msg"]
