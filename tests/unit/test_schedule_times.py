"""Reading a scheduled time: offsets are kept, wall-clock times are in the person's zone, and a
time the clocks skip is refused rather than silently moved."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.services.sync.schedules import check_zone, parse_time

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_time_with_an_offset_is_used_as_is():
    assert parse_time("2027-01-02T09:00:00Z", BERLIN) == datetime(2027, 1, 2, 9, tzinfo=UTC)
    assert parse_time("2027-01-02T09:00-05:00", BERLIN) == datetime(2027, 1, 2, 14, tzinfo=UTC)


def test_a_wall_clock_time_is_in_the_zone_winter_and_summer():
    assert parse_time("2027-01-02T09:00", BERLIN) == datetime(2027, 1, 2, 8, tzinfo=UTC)
    assert parse_time("2027-07-02T09:00", BERLIN) == datetime(2027, 7, 2, 7, tzinfo=UTC)
    # 02:30 happens twice when the clocks go back: the first one (summer time) is meant.
    assert parse_time("2027-10-31T02:30", BERLIN) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


def test_a_time_the_clocks_skip_is_refused():
    with pytest.raises(ValueError, match="does not exist in Europe/Berlin"):
        parse_time("2027-03-28T02:30", BERLIN)


@pytest.mark.parametrize("raw", ["", "   ", "soon", "2027-13-01T10:00", None, 5])
def test_what_is_not_a_time_is_refused(raw):
    with pytest.raises(ValueError):
        parse_time(raw, BERLIN)


def test_only_known_zones_are_taken():
    assert check_zone(" Europe/Berlin ") == "Europe/Berlin"
    assert check_zone("Mars/Olympus") is None and check_zone("") is None
    assert check_zone("../../etc/passwd") is None
