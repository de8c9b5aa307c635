"""sources.yaml → typed, validated `Config` (SPEC §1). Stages never see raw YAML.

Every problem in the file is collected and reported at once as `FILE:LINE: message` through one
`ConfigError`: structure and types (pydantic), unknown keys with "did you mean", bad regexes,
selectors and JMESPaths, undeclared or duplicate ids, unset `${ENV}` variables.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import difflib
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import jmespath
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline import secrets, sources_digest, userregex, yamllines
from pipeline.archive_sources.base import CDX_URL
from pipeline.errors import ConfigError
from pipeline.extract.html import compile_css
from pipeline.yamllines import Path_

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FETCH_MODES = ("http", "browser")
KINDS = ("auto", "html", "pdf", "xlsx", "csv", "json", "feed")
EXPECTATIONS = ("quote", "absent", "table", "json", "new_items", "changes")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZES = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
MAX_DURATION = 36_500 * 86400
MAX_DELAY = 86400
_ENV = secrets.PLACEHOLDER
# an ASCII host name, a port, and printable ASCII after: what httpx takes as it is
_PLAIN_URL = re.compile(r"https?://([A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:[/?#][!-~]*)?")
# fields that hold the desk's words, whatever YAML makes of them (`_words_as_typed`)
_WORDS = {("factchecks", 0, "title"), ("factchecks", 0, "claims", 0, "text"),
          ("factchecks", 0, "claims", 0, "verdict"),
          ("factchecks", 0, "claims", 0, "evidence", 0, "quote"),
          ("factchecks", 0, "claims", 0, "evidence", 0, "absent")}
DEFAULT_SIMILARITY = 0.9  # `min_similarity` when the desk does not set it


def parse_duration(value: Any) -> int:
    """'90s', '30m', '6h', '1d', '1w' (or plain seconds) → seconds, at most a hundred years, so
    that now ± a duration is a date (`every: 99999999d` overflowed the schedule)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        seconds = value
    elif m := re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", str(value)):
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    else:
        seconds = 0
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a duration like 90s, 30m, 6h, 1d or 1w")
    if seconds > MAX_DURATION:
        raise ValueError(f"{value!r} is longer than 100 years")
    return seconds


def format_duration(seconds: int) -> str:
    """Seconds as sources.yaml writes them: the largest unit that divides them (21600 → 6h)."""
    for unit, size in sorted(_UNITS.items(), key=lambda u: -u[1]):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_delay(value: Any) -> float:
    """'1s', '500ms', '0s' (or plain seconds) → seconds, zero allowed, at most a day."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        seconds = float(value)
    elif m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*", str(value)):
        seconds = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a delay like 1s, 500ms or 0s")
    if seconds > MAX_DELAY:
        raise ValueError(f"{value!r} is longer than a day")
    return seconds


def parse_size(value: Any) -> int:
    """'20MB', '512KB', '1GB', '900B' (or plain bytes) → bytes; units are powers of 1024."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]?b)\s*", str(value), re.IGNORECASE)
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{value!r} is not a size like 20MB, 512KB or 1GB")
    return int(m.group(1)) * _SIZES[m.group(2).lower()]


def _cell_value(value: Any) -> str:
    """A `where` value as the cell text it must equal: YAML dates and numbers as a sheet shows them
    (2025-03-27, 6 not 6.0, TRUE)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | str | dt.date):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    raise ValueError(f"{value!r} is not a cell value (text, number, date or true/false)")


def _regex(value: str) -> str:
    userregex.compile(value)  # the engine `ignore` and `new_items` run on (RE2: linear time)
    return value


def _css(value: str) -> str:
    compile_css(value)  # the engine extraction uses: a selector that validates also works
    return value


def _jmespath(value: str) -> str:
    try:
        jmespath.compile(value)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"bad JMESPath {value!r}: {str(exc).splitlines()[0]}") from None
    return value


def _slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError(f"{value!r} is not an id: use lower-case letters, digits and '-'")
    return value


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value)
    except ValueError as exc:
        hint = ""
        with contextlib.suppress(ValueError):  # only host bits set: say which network
            hint = f" (did you mean {ipaddress.ip_network(value, strict=False)}?)"
        raise ValueError(f"{value!r} is not a network like 10.20.0.0/16 or fd12:3456::/48: "
                         f"{exc}{hint}") from None
    return value


def _http_url(written: str) -> str:
    """A URL the fetcher can request, parsed as it parses them (httpx), and refused where httpx
    would quietly encode or accept what cannot be meant: a space, no host, port 0. It is checked
    with its `${NAME}`s expanded, and kept (and named in errors) as written."""
    _check_url(secrets.expand(written), written)
    return written


def _check_url(value: str, written: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{written!r} is not an http(s) URL")
    plain = _PLAIN_URL.fullmatch(value)  # most are; httpx's parse costs 0.1 s per 10,000 URLs
    if plain and "xn--" not in plain.group(1) and 0 < int(plain.group(2) or 80) < 65536:
        return
    odd = next((c for c in value if c.isspace() or not c.isprintable()), None)
    if odd is not None:
        problem = (f"it contains whitespace ({odd!r}): write a space in a URL as %20"
                   if odd.isspace() else f"it contains the invisible character {odd!r}")
        raise ValueError(f"{written!r} is not a valid URL: {problem}")
    try:
        url = httpx.URL(value)
        host, port = url.host, url.port  # the host's IDNA is decoded here
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise ValueError(f"{written!r} is not a valid URL: {exc}") from None
    if not host:
        raise ValueError(f"{written!r} is not a valid URL: it has no host name")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"{written!r} is not a valid URL: its port {port} is not between 1 and "
                         "65535")


Duration = Annotated[int, BeforeValidator(parse_duration)]
Delay = Annotated[float, BeforeValidator(parse_delay)]
Size = Annotated[int, BeforeValidator(parse_size)]
Regex = Annotated[str, AfterValidator(_regex)]
Css = Annotated[str, AfterValidator(_css)]
JmesPath = Annotated[str, AfterValidator(_jmespath)]
Slug = Annotated[str, AfterValidator(_slug)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
IpNetwork = Annotated[str, AfterValidator(_network)]
Severity = Literal["low", "medium", "high"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Desk(_Model):
    name: str | None = None
    contact: str | None = None
    url: HttpUrl | None = None  # where the review desk is served: alerts link each flag there

    def flag_url(self, flag_id: int) -> str | None:
        """The desk's page of a flag, when the desk's address is known."""
        return f"{self.url.rstrip('/')}/flags/{flag_id}" if self.url else None


class Defaults(_Model):
    every: Duration = 6 * 3600
    timeout: Duration = 30
    max_bytes: Size = 20 * 1024**2
    # reading one source's body (extract, evaluate) may take this long and this much memory
    # beyond what claimwatch has: past either it is a recorded error, and the run goes on
    extract_timeout: Duration = 60
    extract_memory: Size = 2 * 1024**3
    # a flag resolved by the source itself (the evidence came back) re-opens, rather than a new
    # flag and alert, when the same outcome recurs within this window (flip-flopping pages)
    reopen_within: Duration = 7 * 86400
    # politeness: the least time between two requests to one host
    host_delay: Delay = 1.0
    # non-public networks any source may reach (an intranet, a VPN); without them a page can
    # only lead claimwatch to public addresses and to its own source's range
    allow_networks: list[IpNetwork] = Field(default_factory=list)
    # where `check` backfills a fact-check with `published:` before its first check (`cdx`, a
    # directory, a WARC/WACZ file; `backfill --from`); off when not given
    backfill_from: str | None = None
    cdx_url: HttpUrl = CDX_URL  # the CDX server `backfill_from: cdx` asks
    # how sources are fetched: the response as served, or the page rendered in Chromium
    fetch: Literal["http", "browser"] = "http"
    browser_pages: int = Field(default=2, ge=1, le=32)  # pages rendered at once per process
    browser_memory: Size = 1024**3  # the browser is killed when its processes pass this


class Source(_Model):
    url: HttpUrl
    kind: Literal["auto", "html", "pdf", "xlsx", "csv", "json", "feed"] = "auto"
    follow: Css | None = None
    select: str | None = None
    main_content: bool = False
    obey_robots: bool = True  # false: the desk has decided this official source must be read
    archive: bool = True  # false: its versions are not sent to the desk's public archive
    fetch: Literal["http", "browser"] | None = None  # default: defaults.fetch
    ignore: list[Regex] = Field(default_factory=list)
    every: Duration | None = None
    timeout: Duration | None = None
    max_bytes: Size | None = None
    extract_timeout: Duration | None = None

    @field_validator("select")
    @classmethod
    def _select_syntax(cls, value: str | None, info: ValidationInfo) -> str | None:
        """`select` is a JMESPath for JSON sources and a CSS selector for the others."""
        if value is not None:
            (_jmespath if info.data.get("kind") == "json" else _css)(value)
        return value

    @model_validator(mode="after")
    def _main_content_is_for_pages(self) -> Source:
        if self.main_content and (self.select or self.kind not in ("auto", "html")):
            raise ValueError("'main_content' reads an HTML page without 'select': use one or "
                             "the other")
        return self

    def extraction_options(self) -> dict[str, Any]:
        """What decides how a fetched body becomes a Document (the snapshot's reading)."""
        return {"kind": self.kind, "follow": self.follow, "select": self.select,
                "main_content": self.main_content, "ignore": list(self.ignore)}


class TableSpec(_Model):
    where: dict[str, Annotated[str, BeforeValidator(_cell_value)]] = Field(min_length=1)
    count: int | None = Field(default=None, ge=0)
    present: bool | None = None
    distinct: str | None = None

    @model_validator(mode="after")
    def _count_or_present(self) -> TableSpec:
        if (self.count is None) == (self.present is None):
            raise ValueError("a table expectation needs exactly one of 'count' or 'present'")
        if self.distinct is not None and self.count is None:
            raise ValueError("'distinct' goes with 'count'")
        return self


class JsonSpec(_Model):
    path: JmesPath
    equals: Any


class Evidence(_Model):
    source: Slug
    quote: str | None = Field(default=None, min_length=1)
    absent: str | None = Field(default=None, min_length=1)
    min_similarity: float | None = Field(default=None, ge=0.0, le=1.0)
    table: TableSpec | None = None
    json_: JsonSpec | None = Field(default=None, alias="json")
    new_items: Regex | None = None
    changes: Literal["any"] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_expectation(self) -> Evidence:
        given = [k for k in EXPECTATIONS if self.expectation_value(k) is not None]
        if len(given) != 1:
            which = ", ".join(given) if given else "none"
            raise ValueError(f"an evidence item needs exactly one of {', '.join(EXPECTATIONS)}"
                             f" (found: {which})")
        if self.min_similarity is not None and given[0] not in ("quote", "absent"):
            raise ValueError("'min_similarity' goes with 'quote' or 'absent'")
        return self

    def expectation_value(self, name: str) -> Any:
        return self.json_ if name == "json" else getattr(self, name)

    @property
    def kind(self) -> str:
        """Which expectation this item holds: one of EXPECTATIONS."""
        return next(k for k in EXPECTATIONS if self.expectation_value(k) is not None)

    @property
    def similarity(self) -> float:
        return DEFAULT_SIMILARITY if self.min_similarity is None else self.min_similarity

    def expectation(self) -> dict[str, Any]:
        """The expectation as plain data (what the desk wrote, without the source)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"source"})

    def identity(self) -> str:
        """Stable id of this item: survives edits elsewhere in sources.yaml."""
        blob = json.dumps([self.source, self.expectation()], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


def describe_expectation(expectation: dict[str, Any]) -> str:
    """An expectation as the desk wrote it, on one line: `table: {"where": …}, count: 6`."""
    return ", ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                     for k, v in expectation.items())


class Claim(_Model):
    id: Slug
    text: str
    verdict: str
    evidence: list[Evidence] = Field(min_length=1)


class FactCheck(_Model):
    id: Slug
    title: str
    url: HttpUrl | None = None
    published: dt.date | None = None  # the day it was published: where `backfill` starts
    claims: list[Claim] = Field(min_length=1)


class Retry(_Model):
    """How a failed delivery is retried: after `first`, then doubling up to `max` between tries,
    `attempts` tries in all before the alert is recorded as failed (defaults: ~20 h of trying)."""

    first: Duration = 60
    max: Duration = 6 * 3600
    attempts: int = Field(default=12, ge=1)

    def delay(self, attempts: int) -> int:
        """Seconds to wait after the `attempts`-th failed try: first, doubling, at most max."""
        return min(self.first << max(attempts - 1, 0), self.max)  # first × 2^(attempts-1)

    @model_validator(mode="after")
    def _first_within_max(self) -> Retry:
        if self.first > self.max:
            raise ValueError("'first' is longer than 'max'")
        return self


class AlertChannel(_Model):
    to: str = Field(min_length=1)  # file:PATH or an Apprise URL; secrets only through ${NAME}
    min_severity: Severity = "low"
    factchecks: list[Slug] | None = None  # only flags of these fact-checks
    retry: Retry = Field(default_factory=Retry)
    digest_over: int = Field(default=5, ge=1)  # more alerts than this in one round → one digest

    @field_validator("to")
    @classmethod
    def _usable(cls, value: str) -> str:
        """A channel that could never deliver is a config problem (the error names no secret)."""
        from alerts.channels import channel  # Apprise loads its plugins: only when alerting
        from pipeline.errors import AlertError

        try:
            channel(value, key="")
        except AlertError as exc:
            raise ValueError(f"cannot send alerts there: {exc}") from None
        return value


class Archive(_Model):
    """The public archive each new version of a source is submitted to (`pipeline.archive`):
    the Internet Archive's Save Page Now 2 API. The keys are written `${NAME}` and kept so:
    they are expanded only to sign a request, never stored."""

    endpoint: HttpUrl = "https://web.archive.org"
    access: str = Field(min_length=1)
    secret: str = Field(min_length=1)
    rate: int = Field(default=4, ge=1, le=60)  # captures started per minute, at most
    daily: int = Field(default=500, ge=1)  # captures started per UTC day, at most
    retry: Retry = Field(default_factory=lambda: Retry(first=120, max=6 * 3600, attempts=8))

    @field_validator("access", "secret")
    @classmethod
    def _placeholder(cls, value: str) -> str:
        if not _ENV.fullmatch(value):
            raise ValueError("write the key as ${NAME} and set NAME in the environment: a key "
                             "is never written in sources.yaml")
        return value


class Config(_Model):
    version: Literal[1]
    desk: Desk = Field(default_factory=Desk)
    defaults: Defaults = Field(default_factory=Defaults)
    sources: dict[Slug, Source] = Field(default_factory=dict)
    alerts: list[AlertChannel] = Field(default_factory=list)
    archive: Archive | None = None
    factchecks: list[FactCheck] = Field(default_factory=list)
    # `sources_digest` of the files this was read from (`load`); None when made otherwise
    _files_digest: str | None = PrivateAttr(default=None)

    @property
    def files_digest(self) -> str | None:
        return self._files_digest

    def every(self, source_id: str) -> int:
        return self.sources[source_id].every or self.defaults.every

    def timeout(self, source_id: str) -> int:
        return self.sources[source_id].timeout or self.defaults.timeout

    def max_bytes(self, source_id: str) -> int:
        return self.sources[source_id].max_bytes or self.defaults.max_bytes

    def extract_timeout(self, source_id: str) -> int:
        return self.sources[source_id].extract_timeout or self.defaults.extract_timeout

    def fetch_mode(self, source_id: str) -> str:
        """`http` or `browser` (a `FetchMode`): the source's own `fetch`, else the default."""
        return self.sources[source_id].fetch or self.defaults.fetch

    def claims(self) -> Iterator[tuple[FactCheck, Claim]]:
        for factcheck in self.factchecks:
            for claim in factcheck.claims:
                yield factcheck, claim


# --- loading -------------------------------------------------------------------------------

# in a directory of files, only the desk's own file (desk.yaml, or the first holding these) may
# set them; every file may hold `version`, `sources` and `factchecks`
DESK_KEYS = ("desk", "defaults", "alerts", "archive")
FILE_KEYS = ("version", "sources", "factchecks")
DESK_FILE = "desk.yaml"


# a check of a valid Config that needs more than the file (`validate`: can this machine do
# what it asks?): each problem at the path of the key at fault
Check = Callable[["Config"], list[tuple[Path_, str]]]


def load(path: str | Path, *, checks: Sequence[Check] = ()) -> Config:
    """Read and validate sources.yaml, or every `*.yaml` of a directory as one configuration;
    raise ConfigError listing every problem (`checks`' too, once the file itself is valid). The
    Config knows its files' digest (`sources_digest`), from the very texts it was read from."""
    path = Path(path)
    if path.is_dir():
        paths = yaml_files(path)
        if not paths:
            raise ConfigError([f"{path}: no *.yaml file in this directory"])
        files = [(str(f), read_file(f)) for f in paths]
        config = parse_files(files, checks=checks)
    else:
        files = [(str(path), read_file(path))]
        config = parse(files[0][1], files[0][0], checks=checks)
    config._files_digest = sources_digest.digest(files)
    return config

yaml_files = sources_digest.yaml_files


def stamp(path: str | Path) -> tuple[Any, ...] | None:
    """What changes when the sources on disk do (a file, or any file of a directory, edited,
    added or removed): for the daemon's and the desk's reloads. None when there is nothing."""
    path = Path(path)
    try:
        if not path.is_dir():
            st = path.stat()
            return st.st_mtime_ns, st.st_size
        return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in yaml_files(path))
    except OSError:
        return None


def read_file(path: Path) -> str:
    """A configuration file's text (its problems as ConfigError)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None


class _Places:
    """Where the lines of several files are: each file's lines are numbered on from the last
    file's, so a problem is one sortable number until it is written as FILE:LINE."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.names: list[str] = []
        self.next = 0

    def add(self, name: str, text: str) -> int:
        """Register the next file; its line N is `offset + N`."""
        offset = self.next
        self.starts.append(offset)
        self.names.append(name)
        self.next += text.count("\n") + 2  # a line past the end: a problem "after" the text
        return offset

    def at(self, line: int) -> str:
        i = max(0, bisect.bisect_right(self.starts, line - 1) - 1)
        return f"{self.names[i]}:{line - self.starts[i]}"

    def error(self, problems: list[tuple[int, str]]) -> ConfigError:
        return ConfigError([f"{self.at(line)}: {message}" for line, message in
                            sorted(set(problems))])


def parse(text: str, filename: str = "sources.yaml", *, checks: Sequence[Check] = ()) -> Config:
    places = _Places()
    places.add(filename, text)
    problems: list[tuple[int, str]] = []
    data, lines = _read_yaml(text, 0, problems)
    if lines is None:
        raise places.error(problems)
    if not isinstance(data, dict):
        raise places.error([(1, "expected a mapping with 'version', 'sources' and "
                                "'factchecks'")])
    return _validate(data, lines, problems, places, checks)


def parse_files(files: list[tuple[str, str]], *, checks: Sequence[Check] = ()) -> Config:
    """Several files (name, text), e.g. a directory's, as one Config: the desk's file
    (`desk.yaml`, else the first file holding `desk`, `defaults` or `alerts`) holds those; every
    file may declare sources and fact-checks. A source id is declared once across the files
    (twice only with the very same settings), and used from any of them."""
    places = _Places()
    problems: list[tuple[int, str]] = []
    unreadable = False
    loaded: list[tuple[str, int, dict[str, Any], dict[Path_, int]]] = []
    for name, text in files:
        offset = places.add(name, text)
        data, lines = _read_yaml(text, offset, problems)
        if lines is None:
            unreadable = True
        elif data is None or isinstance(data, dict):
            loaded.append((name, offset, data or {}, lines))
        else:
            unreadable = True
            problems.append((offset + 1, "expected a mapping with 'sources' and 'factchecks'"))
    if unreadable:  # what a file that cannot be read declares is unknown to the others
        raise places.error(problems)
    names = [name for name, *_ in loaded]
    desk_file = next((n for n in names if Path(n).name == DESK_FILE), None) or next(
        (n for n, _o, data, _l in loaded if any(k in data for k in DESK_KEYS)), None)
    merged: dict[str, Any] = {"version": 1, "sources": {}, "factchecks": []}
    lines: dict[Path_, int] = {}
    first: dict[str, int] = {}  # a source id → the line declaring it
    for name, offset, data, file_lines in loaded:
        allowed = FILE_KEYS + (DESK_KEYS if name == desk_file else ())
        base = len(merged["factchecks"])
        skipped: set[str] = set()
        for key, value in data.items():
            line = offset + file_lines.get((str(key),), 1)
            if key not in allowed:
                problems.append((line, f"{key!r} belongs in the desk's file {desk_file}, not "
                                       "in a fact-check's file" if key in DESK_KEYS else
                                 f"unknown key {key!r}{_did_you_mean(str(key), list(allowed))}"))
            elif key == "version":
                if value != 1:
                    problems.append((line, f"version: {value!r} is not allowed: input should "
                                           "be 1"))
            elif key == "sources" and isinstance(value, dict):
                for sid, source in value.items():
                    at = offset + file_lines.get(("sources", str(sid)), 1)
                    if sid not in merged["sources"]:
                        merged["sources"][sid], first[sid] = source, at
                    else:
                        skipped.add(str(sid))
                        if source != merged["sources"][sid]:
                            problems.append((at, _redeclared(sid, source, merged["sources"][sid],
                                                             places.at(first[sid]))))
            elif key == "factchecks" and isinstance(value, list):
                merged["factchecks"].extend(value)
            elif key in ("sources", "factchecks"):
                what = "a mapping of source ids to sources" if key == "sources" else \
                    "a list of fact-checks"
                problems.append((line, f"{key}: should be {what}"))
            else:
                merged[key] = value
        for path, line in file_lines.items():
            if path[:1] == ("factchecks",) and len(path) > 1 and isinstance(path[1], int):
                path = ("factchecks", base + path[1], *path[2:])
            elif path[:1] == ("sources",) and len(path) > 1 and path[1] in skipped:
                continue
            lines.setdefault(path, offset + line)
    return _validate(merged, lines, problems, places, checks)


def _redeclared(sid: str, source: Any, earlier: Any, where: str) -> str:
    url = source.get("url") if isinstance(source, dict) else None
    was = earlier.get("url") if isinstance(earlier, dict) else None
    if url != was:
        return (f"source {sid!r} is declared for another URL at {where} ({was}): one id, one "
                "source; give one of them another id")
    return (f"source {sid!r} is declared with other settings at {where}: declare it once, or "
            "the same in both files")


def _read_yaml(text: str, offset: int, problems: list[tuple[int, str]]
               ) -> tuple[Any, dict[Path_, int] | None]:
    """One file's data (its typed words given back) and lines; a YAML error is a problem (and
    no lines), and so is a duplicate key."""
    try:
        data, lines, duplicates, texts = yamllines.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append((offset + line, f"invalid YAML: {problem}"))
        return None, None
    problems += [(offset + line, message) for line, message in duplicates]
    if isinstance(data, dict):
        _words_as_typed(data, texts)
    return data, lines


def _validate(data: dict[str, Any], lines: dict[Path_, int], problems: list[tuple[int, str]],
              places: _Places, checks: Sequence[Check] = ()) -> Config:
    data = _expand_env(data, (), lines, problems)
    problems += _cross_reference(data, lines)
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += [_describe(err, lines) for err in exc.errors()]
    if config is not None and not problems:
        problems += [(_line(lines, path), message) for check in checks
                     for path, message in check(config)]
    if problems or config is None:
        raise places.error(problems)
    return config


def _words_as_typed(data: dict[str, Any], texts: dict[Path_, str]) -> None:
    """`verdict: True`, `title: 2026`, `quote: 6`: YAML reads a boolean, a number or a date where
    the desk wrote words, so those fields get back the text as typed (`TRUE` stays "TRUE").
    Only the file's few non-string scalars are looked at, not every claim."""
    for path, typed in texts.items():
        if tuple(0 if isinstance(part, int) else part for part in path) in _WORDS:
            parent: Any = data
            for part in path[:-1]:  # an int in a path is always a list's position
                parent = parent[part]
            parent[path[-1]] = typed


def _line(lines: dict[Path_, int], path: Path_) -> int:
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _expand_env(value: Any, path: Path_, lines: dict[Path_, int],
                problems: list[tuple[int, str]]) -> Any:
    """`${NAME}`s replaced by the environment's values, except in a source's URL, which keeps
    them as written (`pipeline.secrets` expands them for the request only); an unset one is a
    problem either way."""
    if isinstance(value, dict):
        return {k: _expand_env(v, (*path, k), lines, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*path, i), lines, problems) for i, v in enumerate(value)]
    if isinstance(value, str):
        if "${" not in value:  # nearly every value: no regex (a tenth of loading 10,000 sources)
            return value
        for name in _ENV.findall(value):
            if name not in os.environ:
                problems.append((_line(lines, path), f"environment variable {name} is not set"))
        if len(path) == 3 and path[0] == "sources" and path[2] == "url" or \
                path in (("archive", "access"), ("archive", "secret")):
            return value
        return secrets.expand(value)
    return value


def _cross_reference(data: dict[str, Any], lines: dict[Path_, int]) -> list[tuple[int, str]]:
    """Checks that span the file: ids unique, evidence names declared sources."""
    problems: list[tuple[int, str]] = []
    sources = data.get("sources")
    declared = [str(k) for k in sources] if isinstance(sources, dict) else []
    known = set(declared)  # looked up once per evidence item: thousands of them
    seen_factchecks: set[str] = set()
    seen_claims: set[str] = set()
    factchecks = data.get("factchecks")
    declared_factchecks = [str(fc.get("id")) for fc in factchecks
                           if isinstance(fc, dict)] if isinstance(factchecks, list) else []
    alerts = data.get("alerts")
    for a, alert in enumerate(alerts if isinstance(alerts, list) else []):
        named = alert.get("factchecks") if isinstance(alert, dict) else None
        for n, name in enumerate(named if isinstance(named, list) else []):
            if isinstance(name, str) and name not in declared_factchecks:
                problems.append((_line(lines, ("alerts", a, "factchecks", n)),
                                 f"unknown fact-check {name!r}"
                                 f"{_did_you_mean(name, declared_factchecks)}"))
    for f, fc in enumerate(factchecks if isinstance(factchecks, list) else []):
        if not isinstance(fc, dict):
            continue
        if isinstance(fc.get("id"), str):
            if fc["id"] in seen_factchecks:
                problems.append((_line(lines, ("factchecks", f, "id")),
                                 f"duplicate fact-check id {fc['id']!r}"))
            seen_factchecks.add(fc["id"])
        claims = fc.get("claims")
        for c, claim in enumerate(claims if isinstance(claims, list) else []):
            if not isinstance(claim, dict):
                continue
            if isinstance(claim.get("id"), str):
                if claim["id"] in seen_claims:
                    problems.append((_line(lines, ("factchecks", f, "claims", c, "id")),
                                     f"duplicate claim id {claim['id']!r}"))
                seen_claims.add(claim["id"])
            evidence = claim.get("evidence")
            for e, item in enumerate(evidence if isinstance(evidence, list) else []):
                name = item.get("source") if isinstance(item, dict) else None
                if isinstance(name, str) and name not in known:
                    where = ("factchecks", f, "claims", c, "evidence", e, "source")
                    problems.append((_line(lines, where),
                                     f"unknown source {name!r}{_did_you_mean(name, declared)}"))
    return problems


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""



def _describe(err: Any, lines: dict[Path_, int]) -> tuple[int, str]:
    """One pydantic error → (line, message a desk editor can act on)."""
    loc: Path_ = tuple(err["loc"])
    # pydantic appends validator names (e.g. 'function-after[...]') to loc; drop them
    loc = tuple(p for p in loc if not (isinstance(p, str) and "[" in p))
    line = _line(lines, loc)
    kind = err["type"]
    where = ".".join(str(p) for p in loc) or "top level"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        parent = loc[:-1]
        known = _known_keys(parent)
        return line, f"unknown key {key!r}{_did_you_mean(key, known)}"
    if kind == "missing":
        return _line(lines, loc[:-1]), f"missing required key {loc[-1]!r} in {_parent(loc)}"
    message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "literal_error":
        message = f"{err.get('input')!r} is not allowed: {message.lower()}"
    return line, f"{where}: {message}"


def _parent(loc: Path_) -> str:
    return ".".join(str(p) for p in loc[:-1]) or "top level"


def _known_keys(parent: Path_) -> list[str]:
    """The keys allowed where an unknown key was found (for 'did you mean')."""
    names = [str(p) for p in parent if isinstance(p, str)]
    model: type[BaseModel] = Config
    nested = {"desk": Desk, "defaults": Defaults, "sources": Source, "factchecks": FactCheck,
              "claims": Claim, "evidence": Evidence, "table": TableSpec, "json": JsonSpec,
              "alerts": AlertChannel, "retry": Retry, "archive": Archive}
    for name in names:
        model = nested.get(name, model)
    return [f.alias or n for n, f in model.model_fields.items()]
