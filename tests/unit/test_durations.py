from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azbatch_operator.api.durations import InvalidDuration, format_duration, parse_duration

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT25M", timedelta(minutes=25)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(days=14)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("pt15m", timedelta(minutes=15)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "25M", "P1Y", "P1M", "PT-5M", "PT5", "1H"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidDuration, match="ISO-8601"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=25), "PT25M"),
        (timedelta(hours=1, minutes=30), "PT1H30M"),
        (timedelta(days=1), "P1D"),
        (timedelta(0), "PT0S"),
        (timedelta(days=1, seconds=1), "P1DT1S"),
        (timedelta(seconds=1, milliseconds=250), "PT1.25S"),
    ],
)
def test_format(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


def test_format_rejects_negative() -> None:
    with pytest.raises(InvalidDuration):
        format_duration(timedelta(seconds=-1))


@settings(max_examples=150)
@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)))
def test_round_trip(value: timedelta) -> None:
    text = format_duration(value)
    assert parse_duration(text) == value
    assert format_duration(parse_duration(text)) == text
