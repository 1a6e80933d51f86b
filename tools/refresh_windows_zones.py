"""Regenerate ``src/outlook_sync/data/windows_zones.json`` from Unicode CLDR data.

Outlook and Microsoft Graph name time zones the Windows way ("W. Europe Standard Time");
Python uses IANA names ("Europe/Stockholm"). Unicode CLDR publishes the mapping in
``common/supplemental/windowsZones.xml``; its ``common/bcp47/timezone.xml`` lists the
aliases of each IANA zone (``Asia/Calcutta`` = ``Asia/Kolkata``), which the mapping needs
because windowsZones.xml uses CLDR's stable (often old) spellings.

Refresh step (run when CLDR publishes a release, typically twice a year)::

    # from a CLDR checkout or release zip (cldr-common-NN.zip):
    python tools/refresh_windows_zones.py \\
        path/to/common/supplemental/windowsZones.xml \\
        --aliases path/to/common/bcp47/timezone.xml \\
        --source "Unicode CLDR 48"

    # or from the cldr-json packages (npm: cldr-core and cldr-bcp47), same content as JSON:
    python tools/refresh_windows_zones.py \\
        package/supplemental/windowsZones.json --aliases package/bcp47/timezone.json

then run ``pytest tests/test_timezones.py`` and commit the JSON with the CLDR version in
the message. The output is sorted, so the diff shows exactly which names changed.

The generated file holds two tables:

- ``windows_to_iana``: each Windows name -> the IANA zone of its territory "001" (CLDR's
  default for that Windows zone), spelled the way IANA currently prefers when the alias
  data says so;
- ``iana_to_windows``: every IANA name of every territory, and each of its aliases ->
  the Windows name. A name listed under territory "001" wins over other territories.
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

#: (windows name, territory, IANA names in CLDR's order)
MapZone = tuple[str, str, list[str]]
#: (every spelling of one zone, CLDR canonical first; IANA's preferred spelling or None)
AliasGroup = tuple[list[str], str | None]

DEFAULT_OUTPUT = (
    Path(__file__).resolve().parent.parent / "src" / "outlook_sync" / "data" / "windows_zones.json"
)


def read_map_zones(path: Path) -> tuple[list[MapZone], dict[str, str]]:
    """Read the ``mapZone`` rows of a windowsZones.xml (or cldr-json windowsZones.json).

    Returns:
        The rows in file order, and metadata (versions) found in the file.

    Raises:
        ValueError: the file holds no mapZone row.
    """
    rows: list[MapZone] = []
    meta: dict[str, str] = {}
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))["supplemental"]
        version = data.get("version", {}).get("_cldrVersion")
        if version:
            meta["cldr_version"] = str(version)
        for entry in data["windowsZones"]["mapTimezones"]:
            zone = entry["mapZone"]
            rows.append((zone["_other"], zone["_territory"], zone["_type"].split()))
    else:
        # CLDR's own release files, given by the maintainer running this tool: trusted input.
        root = ET.parse(path).getroot()  # noqa: S314
        for table in root.iter("mapTimezones"):
            for key in ("otherVersion", "typeVersion"):
                if table.get(key):
                    meta[key] = table.get(key, "")
        for zone in root.iter("mapZone"):
            rows.append(
                (zone.get("other", ""), zone.get("territory", ""), zone.get("type", "").split())
            )
    if not rows:
        raise ValueError(f"{path} holds no mapZone entries")
    return rows, meta


def read_alias_groups(path: Path) -> list[AliasGroup]:
    """Read the time-zone alias lists of CLDR's bcp47 timezone.xml (or cldr-json form)."""
    groups: list[AliasGroup] = []
    if path.suffix == ".json":
        types = json.loads(path.read_text(encoding="utf-8"))["keyword"]["u"]["tz"]
        for value in types.values():
            if isinstance(value, dict) and value.get("_alias"):
                groups.append((value["_alias"].split(), value.get("_iana")))
    else:
        root = ET.parse(path).getroot()  # noqa: S314  (trusted CLDR release file)
        for key in root.iter("key"):
            if key.get("name") != "tz":
                continue
            for type_ in key.iter("type"):
                if type_.get("alias"):
                    groups.append((type_.get("alias", "").split(), type_.get("iana")))
    return groups


def build(
    rows: list[MapZone], groups: list[AliasGroup], *, source: str, meta: dict[str, str]
) -> dict[str, Any]:
    """Turn CLDR rows and alias groups into the two lookup tables (see the module doc).

    Raises:
        ValueError: a Windows name has no territory "001" row, or an IANA name is mapped
            to two different Windows names (CLDR never does either; a parsing bug would).
    """
    preferred: dict[str, str] = {}
    for names, iana in groups:
        for name in names:
            preferred[name] = iana or names[0]

    windows_to_iana: dict[str, str] = {}
    for windows, territory, names in rows:
        if territory == "001":
            windows_to_iana[windows] = preferred.get(names[0], names[0])
    missing = sorted({windows for windows, _, _ in rows} - windows_to_iana.keys())
    if missing:
        raise ValueError(f"Windows zones without a territory 001 default: {missing}")

    iana_to_windows: dict[str, str] = {}
    default_rows = [row for row in rows if row[1] == "001"]
    other_rows = [row for row in rows if row[1] != "001"]
    for windows, _territory, names in default_rows + other_rows:
        for name in names:
            known = iana_to_windows.setdefault(name, windows)
            if known != windows:
                raise ValueError(f"{name} is listed under both {known!r} and {windows!r}")
    for names, iana in groups:
        spellings = [*names, *([iana] if iana else [])]
        windows_of_group = next(
            (iana_to_windows[n] for n in spellings if n in iana_to_windows), None
        )
        if windows_of_group is not None:
            for name in spellings:
                iana_to_windows.setdefault(name, windows_of_group)

    return {
        "about": (
            "Windows <-> IANA time-zone names from Unicode CLDR windowsZones (and bcp47 "
            "timezone aliases). Generated by tools/refresh_windows_zones.py; do not edit."
        ),
        "source": source,
        **dict(sorted(meta.items())),
        "windows_to_iana": dict(sorted(windows_to_iana.items())),
        "iana_to_windows": dict(sorted(iana_to_windows.items())),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "windows_zones", type=Path, help="common/supplemental/windowsZones.xml (or cldr-json .json)"
    )
    parser.add_argument(
        "--aliases", type=Path, help="common/bcp47/timezone.xml (or cldr-json bcp47/timezone.json)"
    )
    parser.add_argument("--source", default="", help='e.g. "Unicode CLDR 48"')
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    rows, meta = read_map_zones(args.windows_zones)
    groups = read_alias_groups(args.aliases) if args.aliases else []
    source = args.source or (
        f"Unicode CLDR {meta['cldr_version']}" if "cldr_version" in meta else "Unicode CLDR"
    )
    table = build(rows, groups, source=source, meta=meta)
    args.output.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"wrote {args.output}: {len(table['windows_to_iana'])} Windows zones, "
        f"{len(table['iana_to_windows'])} IANA names",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
