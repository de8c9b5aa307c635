"""Build the demo's ICE 287(g) spreadsheets (v1 and v2) deterministically with openpyxl.

Run `python -m pipeline.demo.build_fixtures` (or `--check` to verify the committed files).
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.xml.functions import tostring

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V1_NAME = "participatingAgencies01092026.xlsx"
V2_NAME = "participatingAgencies01232026pm.xlsx"
HEADER = (
    "STATE",
    "LAW ENFORCEMENT AGENCY",
    "TYPE",
    "COUNTY",
    "SUPPORT TYPE",
    "SIGNED",
    "MOA",
    "ADDENDUM",
)
CORE_XML = "docProps/core.xml"
DOCLIB = "https://www.ice.gov/doclib/about/offices/ero/287g/"
JEM, TFM, WSO = "Jail Enforcement Model", "Task Force Model", "Warrant Service Officer"
MODEL_CODE = {JEM: "JEM", TFM: "TFM", WSO: "WSO"}
ADDENDUM_FROM = date(2025, 7, 1)  # addenda were issued to agreements signed before July 2025
STATE_CODE = {
    "ALABAMA": "AL",
    "ARIZONA": "AZ",
    "ARKANSAS": "AR",
    "FLORIDA": "FL",
    "GEORGIA": "GA",
    "IOWA": "IA",
    "LOUISIANA": "LA",
    "MINNESOTA": "MN",
    "MISSOURI": "MO",
    "MONTANA": "MT",
    "NEBRASKA": "NE",
    "NORTH CAROLINA": "NC",
    "OHIO": "OH",
    "OKLAHOMA": "OK",
    "SOUTH CAROLINA": "SC",
    "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN",
    "TEXAS": "TX",
    "UTAH": "UT",
    "VIRGINIA": "VA",
    "WISCONSIN": "WI",
    "WYOMING": "WY",
}


@dataclass(frozen=True)
class Row:
    state: str
    agency: str
    type: str
    county: str
    support: str
    signed: date

    @property
    def slug(self) -> str:
        words = self.agency.replace("'", "").replace("-", " ").split()
        short = {"County": "Co", "Sheriffs": "SO", "Office": "", "Police": "PD", "Department": ""}
        name = "".join(short.get(w, w) for w in words)
        return f"{name}{STATE_CODE[self.state]}-{MODEL_CODE[self.support]}"


def _r(state: str, agency: str, type_: str, county: str, support: str, signed: str) -> Row:
    return Row(state, agency, type_, county, support, date.fromisoformat(signed))


# Synthetic rows laid out like ICE's list (no claim is made that these agreements exist as shown).
COMMON: tuple[Row, ...] = (
    _r("ALABAMA", "Etowah County Sheriff's Office", "County", "Etowah", JEM, "2025-02-12"),
    _r("ALABAMA", "Madison County Sheriff's Office", "County", "Madison", WSO, "2025-04-03"),
    _r("ARIZONA", "Pinal County Sheriff's Office", "County", "Pinal", TFM, "2025-03-18"),
    _r("ARIZONA", "Yavapai County Sheriff's Office", "County", "Yavapai", WSO, "2025-05-06"),
    _r("ARKANSAS", "Arkansas State Police", "State", "Statewide", TFM, "2025-06-11"),
    _r("ARKANSAS", "Benton County Sheriff's Office", "County", "Benton", JEM, "2025-02-20"),
    _r("FLORIDA", "Bay County Sheriff's Office", "County", "Bay", TFM, "2025-02-26"),
    _r("FLORIDA", "Brevard County Sheriff's Office", "County", "Brevard", JEM, "2025-01-30"),
    _r("FLORIDA", "Brevard County Sheriff's Office", "County", "Brevard", TFM, "2025-03-04"),
    _r("FLORIDA", "Cape Coral Police Department", "Municipal", "Lee", TFM, "2025-04-22"),
    _r("FLORIDA", "Charlotte County Sheriff's Office", "County", "Charlotte", TFM, "2025-02-25"),
    _r("FLORIDA", "Clay County Sheriff's Office", "County", "Clay", WSO, "2025-03-12"),
    _r("FLORIDA", "Collier County Sheriff's Office", "County", "Collier", JEM, "2025-01-28"),
    _r("FLORIDA", "Escambia County Sheriff's Office", "County", "Escambia", TFM, "2025-03-20"),
    _r("FLORIDA", "Florida Highway Patrol", "State", "Statewide", TFM, "2025-02-18"),
    _r("FLORIDA", "Hernando County Sheriff's Office", "County", "Hernando", JEM, "2025-02-06"),
    _r("FLORIDA", "Lee County Sheriff's Office", "County", "Lee", TFM, "2025-02-27"),
    _r("FLORIDA", "Marion County Sheriff's Office", "County", "Marion", WSO, "2025-04-09"),
    _r("FLORIDA", "Okaloosa County Sheriff's Office", "County", "Okaloosa", TFM, "2025-03-13"),
    _r("FLORIDA", "Polk County Sheriff's Office", "County", "Polk", JEM, "2025-01-23"),
    _r("GEORGIA", "Cobb County Sheriff's Office", "County", "Cobb", JEM, "2025-05-15"),
    _r("GEORGIA", "Hall County Sheriff's Office", "County", "Hall", JEM, "2025-02-04"),
    _r("GEORGIA", "Hall County Sheriff's Office", "County", "Hall", WSO, "2025-04-29"),
    _r("GEORGIA", "Whitfield County Sheriff's Office", "County", "Whitfield", JEM, "2025-03-26"),
    _r("IOWA", "Woodbury County Sheriff's Office", "County", "Woodbury", WSO, "2025-08-14"),
    _r("LOUISIANA", "Lafayette Parish Sheriff's Office", "County", "Lafayette", TFM, "2025-05-21"),
    _r("MINNESOTA", "Cass County Sheriff's Office", "County", "Cass", TFM, "2025-02-28"),
    _r("MINNESOTA", "Crow Wing County Sheriff's Office", "County", "Crow Wing", TFM, "2025-03-25"),
    _r("MINNESOTA", "Crow Wing County Sheriff's Office", "County", "Crow Wing", WSO, "2025-03-27"),
    _r("MINNESOTA", "Freeborn County Sheriff's Office", "County", "Freeborn", WSO, "2025-03-27"),
    _r("MINNESOTA", "Itasca County Sheriff's Office", "County", "Itasca", TFM, "2025-02-27"),
    _r("MINNESOTA", "Jackson County Sheriff's Office", "County", "Jackson", WSO, "2025-03-07"),
    _r("MINNESOTA", "Kandiyohi County Sheriff's Office", "County", "Kandiyohi", WSO, "2025-05-22"),
    _r("MISSOURI", "Greene County Sheriff's Office", "County", "Greene", WSO, "2025-04-16"),
    _r("MISSOURI", "Missouri State Highway Patrol", "State", "Statewide", TFM, "2025-07-09"),
    _r("MONTANA", "Flathead County Sheriff's Office", "County", "Flathead", WSO, "2025-06-03"),
    _r("NEBRASKA", "Dakota County Sheriff's Office", "County", "Dakota", WSO, "2025-05-28"),
    _r("NEBRASKA", "Nebraska State Patrol", "State", "Statewide", TFM, "2025-03-31"),
    _r(
        "NORTH CAROLINA",
        "Cabarrus County Sheriff's Office",
        "County",
        "Cabarrus",
        JEM,
        "2025-02-13",
    ),
    _r("NORTH CAROLINA", "Gaston County Sheriff's Office", "County", "Gaston", JEM, "2025-03-06"),
    _r(
        "NORTH CAROLINA",
        "Henderson County Sheriff's Office",
        "County",
        "Henderson",
        JEM,
        "2025-04-24",
    ),
    _r("OHIO", "Butler County Sheriff's Office", "County", "Butler", JEM, "2025-02-19"),
    _r("OHIO", "Lawrence County Sheriff's Office", "County", "Lawrence", WSO, "2025-06-25"),
    _r("OKLAHOMA", "Oklahoma Department of Public Safety", "State", "Statewide", TFM, "2025-04-01"),
    _r("OKLAHOMA", "Tulsa County Sheriff's Office", "County", "Tulsa", JEM, "2025-01-29"),
    _r(
        "SOUTH CAROLINA",
        "Charleston County Sheriff's Office",
        "County",
        "Charleston",
        JEM,
        "2025-03-11",
    ),
    _r("SOUTH CAROLINA", "Horry County Sheriff's Office", "County", "Horry", WSO, "2025-05-13"),
    _r("SOUTH CAROLINA", "York County Sheriff's Office", "County", "York", JEM, "2025-02-11"),
    _r(
        "SOUTH DAKOTA",
        "Pennington County Sheriff's Office",
        "County",
        "Pennington",
        WSO,
        "2025-07-22",
    ),
    _r("TENNESSEE", "Blount County Sheriff's Office", "County", "Blount", WSO, "2025-04-15"),
    _r("TENNESSEE", "Tennessee Highway Patrol", "State", "Statewide", TFM, "2025-06-17"),
    _r("TEXAS", "Galveston County Sheriff's Office", "County", "Galveston", JEM, "2025-02-03"),
    _r("TEXAS", "Lubbock County Sheriff's Office", "County", "Lubbock", JEM, "2025-03-19"),
    _r("TEXAS", "Montgomery County Sheriff's Office", "County", "Montgomery", WSO, "2025-05-01"),
    _r("TEXAS", "Tarrant County Sheriff's Office", "County", "Tarrant", JEM, "2025-01-22"),
    _r("TEXAS", "Texas Department of Public Safety", "State", "Statewide", TFM, "2025-02-24"),
    _r("UTAH", "Utah County Sheriff's Office", "County", "Utah", WSO, "2025-08-05"),
    _r(
        "VIRGINIA",
        "Prince William-Manassas Regional Adult Detention Center",
        "County",
        "Prince William",
        JEM,
        "2025-03-03",
    ),
    _r("WISCONSIN", "Langlade County Sheriff's Office", "County", "Langlade", WSO, "2025-09-10"),
    _r("WYOMING", "Natrona County Sheriff's Office", "County", "Natrona", WSO, "2025-06-05"),
)
V2_ADDED: tuple[Row, ...] = (
    _r("MINNESOTA", "Sherburne County Sheriff's Office", "County", "Sherburne", JEM, "2025-10-17"),
    _r("IOWA", "Sioux County Sheriff's Office", "County", "Sioux", TFM, "2026-01-14"),
)


@dataclass(frozen=True)
class Version:
    name: str
    filename: str
    as_of: date
    rows: tuple[Row, ...]

    @property
    def path(self) -> Path:
        return FIXTURES / self.name / "ice-287g" / self.filename


VERSIONS = (
    Version("v1", V1_NAME, date(2026, 1, 9), COMMON),
    Version("v2", V2_NAME, date(2026, 1, 23), COMMON + V2_ADDED),
)


def _sorted(rows: tuple[Row, ...]) -> list[Row]:
    return sorted(rows, key=lambda r: (r.state, r.agency, r.signed, r.support))


def build_workbook(version: Version) -> Workbook:
    """The participating-agencies list as ICE lays it out: title row, blank row, header, rows."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Participating Agencies"
    as_of = f"{version.as_of:%B} {version.as_of.day}, {version.as_of.year}"
    ws["A1"] = f"287(g) Participating Agencies - current as of {as_of}"
    ws["A1"].font = Font(bold=True, size=14)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    ws.append([])
    ws.append(list(HEADER))
    header_fill = PatternFill("solid", fgColor="1F3864")
    for cell in ws[3]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = header_fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    link_font = Font(color="0563C1", underline="single")
    for row in _sorted(version.rows):
        ws.append(
            [
                row.state,
                row.agency,
                row.type,
                row.county,
                row.support,
                datetime.combine(row.signed, datetime.min.time()),
                "link",
                None,
            ]
        )
        r = ws.max_row
        ws.cell(r, 6).number_format = "mm/dd/yyyy"
        moa = ws.cell(r, 7)
        moa.hyperlink = f"{DOCLIB}moa/moa{row.slug}.pdf"
        moa.font = link_font
        if row.signed < ADDENDUM_FROM and row.support != WSO:
            addendum = ws.cell(r, 8, "link")
            addendum.hyperlink = f"{DOCLIB}addendum/addendum{row.slug}.pdf"
            addendum.font = link_font
    for letter, width in zip("ABCDEFGH", (18, 52, 12, 16, 26, 12, 8, 11), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A4"
    ws.auto_filter.ref = f"A3:H{ws.max_row}"
    stamp = datetime.combine(version.as_of, datetime.min.time()).replace(hour=16, minute=30)
    props = wb.properties
    props.creator = props.lastModifiedBy = "ERO 287(g) Program Office (synthetic)"
    props.title = "287(g) Participating Agencies"
    props.created = datetime(2025, 1, 21, 9, 0)
    props.modified = stamp
    return wb


def workbook_bytes(version: Version) -> bytes:
    """Serialize with fixed zip timestamps so that rebuilding gives identical bytes."""
    wb = build_workbook(version)
    modified = wb.properties.modified
    raw = io.BytesIO()
    wb.save(raw)  # openpyxl stamps `modified` with the current time while saving: restore it
    wb.properties.modified = modified
    core = tostring(wb.properties.to_tree())
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            data = core if info.filename == CORE_XML else src.read(info.filename)
            dst.writestr(fixed, data)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.demo.build_fixtures", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only verify that the committed spreadsheets are up to date",
    )
    args = parser.parse_args(argv)
    stale = []
    for version in VERSIONS:
        data = workbook_bytes(version)
        if args.check:
            if not version.path.is_file() or version.path.read_bytes() != data:
                stale.append(version.path)
            continue
        version.path.parent.mkdir(parents=True, exist_ok=True)
        version.path.write_bytes(data)
        print(
            f"wrote {version.path.relative_to(FIXTURES)} ({len(data)} bytes, "
            f"{len(version.rows)} rows)"
        )
    for path in stale:
        print(f"out of date: {path.relative_to(FIXTURES)}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
