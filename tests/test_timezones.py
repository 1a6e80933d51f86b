"""Windows <-> IANA zone names (CLDR), and the one DST rule for local wall times."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import zoneinfo
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outlook_sync.errors import InvalidEventError
from outlook_sync.timezones import (
    UnknownTimeZoneError,
    iana_to_windows,
    is_windows_name,
    localize,
    windows_to_iana,
    zone,
)

ROOT = Path(__file__).resolve().parent.parent
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
UTC = dt.UTC


def _shipped() -> dict[str, dict[str, str]]:
    path = ROOT / "src" / "outlook_sync" / "data" / "windows_zones.json"
    data: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- Windows <-> IANA -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("windows", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Eastern Standard Time", "America/New_York"),
        ("GMT Standard Time", "Europe/London"),
        ("India Standard Time", "Asia/Kolkata"),  # CLDR spells it Asia/Calcutta
        ("FLE Standard Time", "Europe/Kyiv"),
        ("UTC", "Etc/UTC"),
    ],
)
def test_windows_name_maps_to_the_cldr_default_zone(windows: str, iana: str) -> None:
    assert windows_to_iana(windows) == iana


def test_windows_names_match_without_regard_to_case_or_padding() -> None:
    assert windows_to_iana("  w. EUROPE standard time ") == "Europe/Berlin"
    assert is_windows_name("w. europe standard time")
    assert not is_windows_name("Europe/Stockholm")


@pytest.mark.parametrize(
    ("iana", "windows"),
    [
        ("Europe/Stockholm", "W. Europe Standard Time"),  # territory SE, not the default
        ("Europe/Berlin", "W. Europe Standard Time"),
        ("America/New_York", "Eastern Standard Time"),
        ("America/Detroit", "Eastern Standard Time"),
        ("Asia/Calcutta", "India Standard Time"),
        ("Asia/Kolkata", "India Standard Time"),  # an alias, found via CLDR bcp47
        ("Europe/Kiev", "FLE Standard Time"),
        ("Europe/Kyiv", "FLE Standard Time"),
        ("America/Nuuk", "Greenland Standard Time"),
        ("Etc/UTC", "UTC"),
    ],
)
def test_iana_name_maps_to_its_windows_zone(iana: str, windows: str) -> None:
    assert iana_to_windows(iana) == windows


def test_every_windows_zone_round_trips_through_its_default_iana_zone() -> None:
    names = _shipped()["windows_to_iana"]
    assert len(names) > 130
    for windows, iana in names.items():
        assert iana_to_windows(iana) == windows
        assert zone(windows) == zoneinfo.ZoneInfo(iana)


def test_every_name_graph_documents_as_an_additional_zone_is_understood() -> None:
    # A sample of the "Additional time zones" list of the Graph dateTimeTimeZone
    # resource (https://learn.microsoft.com/en-us/graph/api/resources/datetimetimezone),
    # including its old spellings.
    for name in [
        "Etc/GMT+12",
        "America/Santa_Isabel",
        "America/Indiana/Indianapolis",
        "America/Godthab",
        "Europe/Berlin",
        "Europe/Kiev",
        "Asia/Calcutta",
        "Asia/Rangoon",
        "Pacific/Apia",
        "Etc/GMT",
    ]:
        assert zone(name).key
        assert is_windows_name(iana_to_windows(name))


def test_zone_takes_either_kind_of_name_and_they_agree_on_the_offset() -> None:
    winter = dt.datetime(2026, 1, 15, 12, tzinfo=UTC)
    summer = dt.datetime(2026, 7, 15, 12, tzinfo=UTC)
    for moment in (winter, summer):
        assert moment.astimezone(zone("W. Europe Standard Time")).utcoffset() == (
            moment.astimezone(zone("Europe/Stockholm")).utcoffset()
        )
    assert zone("europe/stockholm") == STOCKHOLM


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "Mars/Olympus_Mons",
        "tzone://Microsoft/Custom",
        "Customized Time Zone",
        "../../etc/passwd",
        "W. Europe Standard",
        "Europe/Stockholm\x00",
    ],
)
def test_unknown_names_are_a_clear_typed_error(name: str) -> None:
    with pytest.raises(UnknownTimeZoneError) as info:
        zone(name)
    assert isinstance(info.value, InvalidEventError)
    assert isinstance(info.value, ValueError)
    assert info.value.field == "time_zone"
    assert info.value.name == name.strip()


def test_a_windows_name_is_not_an_iana_name_and_vice_versa() -> None:
    with pytest.raises(UnknownTimeZoneError, match="not an IANA"):
        iana_to_windows("W. Europe Standard Time")
    with pytest.raises(UnknownTimeZoneError, match="not a Windows"):
        windows_to_iana("Europe/Stockholm")
    with pytest.raises(UnknownTimeZoneError):
        iana_to_windows("Antarctica/Troll")  # no Windows zone has its rules


def test_non_strings_are_refused() -> None:
    with pytest.raises(UnknownTimeZoneError, match="must be a str"):
        zone(None)  # type: ignore[arg-type]


# --- the DST rule -------------------------------------------------------------------------


def test_spring_forward_gap_moves_forward_by_the_gap() -> None:
    # 2026-03-29: Stockholm jumps from 02:00 CET to 03:00 CEST; 02:30 never happens.
    result = localize(dt.datetime(2026, 3, 29, 2, 30), "Europe/Stockholm")
    assert result.replace(tzinfo=None) == dt.datetime(2026, 3, 29, 3, 30)
    assert result.utcoffset() == dt.timedelta(hours=2)
    assert result == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_fall_back_fold_takes_the_first_occurrence() -> None:
    # 2026-10-25: Stockholm goes back from 03:00 CEST to 02:00 CET; 02:30 happens twice.
    result = localize(dt.datetime(2026, 10, 25, 2, 30), STOCKHOLM)
    assert result.replace(tzinfo=None) == dt.datetime(2026, 10, 25, 2, 30)
    assert result.utcoffset() == dt.timedelta(hours=2)
    # compared in UTC: PEP 495 makes a fold time unequal to *every* other zone's datetime
    assert result.astimezone(UTC) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_the_rule_ignores_a_fold_flag_on_the_input() -> None:
    second = dt.datetime(2026, 10, 25, 2, 30, fold=1)
    result = localize(second, STOCKHOLM).astimezone(UTC)
    assert result == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_the_same_rule_holds_in_new_york_and_for_windows_names() -> None:
    gap = localize(dt.datetime(2026, 3, 8, 2, 30), "Eastern Standard Time")
    assert gap.astimezone(UTC) == dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    fold = localize(dt.datetime(2026, 11, 1, 1, 30), NEW_YORK)
    assert fold.astimezone(UTC) == dt.datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )  # 01:30 EDT, the first


def test_localize_refuses_an_aware_datetime() -> None:
    with pytest.raises(InvalidEventError, match="naive"):
        localize(dt.datetime(2026, 1, 1, 9, tzinfo=UTC), STOCKHOLM)


@given(
    naive=st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2060, 1, 1)),
    tz=st.sampled_from([STOCKHOLM, NEW_YORK, zoneinfo.ZoneInfo("Australia/Lord_Howe")]),
)
def test_localize_keeps_existing_wall_times_and_is_stable(
    naive: dt.datetime, tz: zoneinfo.ZoneInfo
) -> None:
    result = localize(naive, tz)
    assert result.tzinfo is tz
    wall = result.replace(tzinfo=None)
    exists = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(
        tzinfo=None
    ) == naive.replace(fold=0)
    if exists:
        assert wall == naive.replace(fold=0)
    else:
        assert wall > naive  # a gap only ever moves forward
        assert wall - naive <= dt.timedelta(hours=1)
    # the result is a wall time that exists, so localizing it again changes nothing
    assert localize(wall, tz).astimezone(UTC) == result.astimezone(UTC)


# --- the refresh tool ---------------------------------------------------------------------


def _refresh_tool() -> ModuleType:
    path = ROOT / "tools" / "refresh_windows_zones.py"
    spec = importlib.util.spec_from_file_location("refresh_windows_zones", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WINDOWS_ZONES_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<supplementalData>
  <windowsZones>
    <mapTimezones otherVersion="7e11800" typeVersion="2021a">
      <mapZone other="India Standard Time" territory="001" type="Asia/Calcutta"/>
      <mapZone other="India Standard Time" territory="IN" type="Asia/Calcutta"/>
      <mapZone other="W. Europe Standard Time" territory="001" type="Europe/Berlin"/>
      <mapZone other="W. Europe Standard Time" territory="DE" type="Europe/Berlin Europe/Busingen"/>
      <mapZone other="W. Europe Standard Time" territory="SE" type="Europe/Stockholm"/>
    </mapTimezones>
  </windowsZones>
</supplementalData>
"""

TIMEZONE_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<ldmlBCP47>
  <keyword>
    <key name="tz" description="Time zone key">
      <type name="inccu" description="Kolkata, India" alias="Asia/Calcutta Asia/Kolkata"
            iana="Asia/Kolkata"/>
      <type name="sesto" description="Stockholm, Sweden" alias="Europe/Stockholm"/>
    </key>
  </keyword>
</ldmlBCP47>
"""


def test_refresh_tool_regenerates_the_tables_from_cldr_xml(tmp_path: Path) -> None:
    (tmp_path / "windowsZones.xml").write_text(WINDOWS_ZONES_XML, encoding="utf-8")
    (tmp_path / "timezone.xml").write_text(TIMEZONE_XML, encoding="utf-8")
    out = tmp_path / "windows_zones.json"
    status = _refresh_tool().main(
        [
            str(tmp_path / "windowsZones.xml"),
            "--aliases",
            str(tmp_path / "timezone.xml"),
            "--source",
            "Unicode CLDR test",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    table = json.loads(out.read_text(encoding="utf-8"))
    assert table["source"] == "Unicode CLDR test"
    assert table["typeVersion"] == "2021a"
    assert table["windows_to_iana"] == {
        "India Standard Time": "Asia/Kolkata",
        "W. Europe Standard Time": "Europe/Berlin",
    }
    assert table["iana_to_windows"] == {
        "Asia/Calcutta": "India Standard Time",
        "Asia/Kolkata": "India Standard Time",
        "Europe/Berlin": "W. Europe Standard Time",
        "Europe/Busingen": "W. Europe Standard Time",
        "Europe/Stockholm": "W. Europe Standard Time",
    }


def test_refresh_tool_refuses_a_windows_zone_without_a_default(tmp_path: Path) -> None:
    broken = WINDOWS_ZONES_XML.replace(
        'territory="001" type="Asia/Calcutta"', 'territory="LK" type="Asia/Colombo"'
    )
    (tmp_path / "windowsZones.xml").write_text(broken, encoding="utf-8")
    with pytest.raises(ValueError, match="India Standard Time"):
        _refresh_tool().main([str(tmp_path / "windowsZones.xml"), "-o", str(tmp_path / "out.json")])


def test_shipped_table_comes_from_the_refresh_tool_and_names_its_source() -> None:
    data = _shipped()
    assert str(data["source"]).startswith("Unicode CLDR")
    assert list(data["windows_to_iana"]) == sorted(data["windows_to_iana"])
    assert set(data["windows_to_iana"].values()) <= set(zoneinfo.available_timezones())
