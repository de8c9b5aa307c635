"""The docs keep up with the code. The README shows every command, source kind and expectation.
docs/reference.md describes every command, sub-command, option and argument (walking the click
tree), every sources.yaml key with its default and allowed values (walking the pydantic models),
and every JSON field the commands print and alerts carry (read from a real run); its examples
validate and parse; and nothing a user reads sends them outside the repository."""

from __future__ import annotations

import datetime as dt
import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from alerts.outbox import excerpt
from pipeline import api, config
from pipeline.backfill import BackfillReport, BackfillState, SourceBackfill
from pipeline.cli import cli
from pipeline.config import EXPECTATIONS, KINDS
from pipeline.demo.server import SiteServer
from pipeline.extract import Document, Item

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
REFERENCE = (ROOT / "docs" / "reference.md").read_text()
PACKAGES = ("pipeline", "db", "alerts", "desk")


def test_readme_shows_every_command() -> None:
    missing = []
    for name, command in cli.commands.items():
        lines = [line for line in README.splitlines() if f"claimwatch {name}" in line]
        if not lines:
            missing.append(name)
        elif isinstance(command, click.Group):  # its sub-commands, on a line about the group
            missing += [f"{name} {sub}" for sub in command.commands
                        if not any(sub in line for line in lines)]
    assert not missing, f"README.md does not mention: {missing}"


def test_readme_names_every_source_kind_and_expectation() -> None:
    assert [k for k in KINDS if f"`{k}`" not in README] == []
    assert [e for e in EXPECTATIONS if f"`{e}" not in README] == []


def test_readme_points_at_the_reference() -> None:
    assert "docs/reference.md" in README


# --- reading docs/reference.md -----------------------------------------------------------------

HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
CELL_SEP = re.compile(r"(?<!\\)\|")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _lines_outside_code(text: str) -> Iterator[tuple[str, bool]]:
    """Each line, and whether it is outside a fenced code block (a YAML comment is no heading)."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            yield line, False
        else:
            yield line, not fenced


def section(title: str, text: str = REFERENCE, *, own: bool = False) -> str:
    """The text under the heading `title`, up to the next heading of its level or above (with
    `own`, up to any next heading: the section without its sub-sections)."""
    lines = list(_lines_outside_code(text))
    for i, (line, prose) in enumerate(lines):
        m = HEADING.match(line) if prose else None
        if m and m.group(2) == title:
            level, body = len(m.group(1)), []
            for nxt, nxt_prose in lines[i + 1:]:
                n = HEADING.match(nxt) if nxt_prose else None
                if n and (own or len(n.group(1)) <= level):
                    break
                body.append(nxt)
            return "\n".join(body)
    raise AssertionError(f"docs/reference.md has no heading {title!r}")


def rows(text: str, *, header: str | None = None) -> list[list[str]]:
    """The body rows of the Markdown tables in `text`, as cells (only tables whose first header
    cell is `header`, when given)."""
    found, current_header = [], None
    for line, prose in _lines_outside_code(text):
        if not (prose and line.startswith("|")):
            current_header = None
            continue
        cells = [c.strip().replace("\\|", "|") for c in CELL_SEP.split(line.strip())[1:-1]]
        if current_header is None:
            current_header = cells
        elif not set("".join(cells)) <= set("-: ") and (header is None
                                                        or current_header[0] == header):
            found.append(cells)
    return found


def spans(cell: str) -> list[str]:
    """The `code` spans of a cell."""
    return re.findall(r"`([^`]+)`", cell)


def row_of(name: str, table: list[list[str]]) -> str | None:
    """The row (joined) whose first cell documents `name`: `--all`, `--source ID`, `every`."""
    for cells in table:
        if any(s == name or s.startswith(name + " ") for s in spans(cells[0])):
            return " | ".join(cells)
    return None


# --- the command line --------------------------------------------------------------------------


def commands(group: click.Group = cli, path: tuple[str, ...] = ()
             ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def undocumented(params: list[click.Parameter], text: str) -> list[str]:
    """What of these parameters `text` (a command's section) does not say: an option's names in
    a table row, with its default (when --help shows one), its choices and its environment
    variable in that row; an argument's name and choices anywhere in the section."""
    table, missing = rows(text), []
    for param in params:
        choices = [str(c) for c in param.type.choices] if isinstance(
            param.type, click.Choice) else []
        if isinstance(param, click.Argument):
            missing += [f"{param.human_readable_name} ({word})"
                        for word in [param.human_readable_name, *choices] if word not in text]
            continue
        assert isinstance(param, click.Option)
        for name in [*param.opts, *param.secondary_opts]:
            row = row_of(name, table)
            if row is None:
                missing.append(name)
                continue
            default = param.default if param.show_default else None
            said = [str(default)] if default not in (None, False) else []
            envvars = [param.envvar] if isinstance(param.envvar, str) else []
            missing += [f"{name} ({word})" for word in [*said, *choices, *envvars]
                        if word not in row]
    return missing


def test_the_reference_describes_every_command_option_and_argument() -> None:
    missing = []
    for path, command in commands():
        if isinstance(command, click.Group) and not command.invoke_without_command:
            continue  # a group of sub-commands: each has its own section
        title = f"`claimwatch {' '.join(path)}`"
        try:
            text = section(title)
        except AssertionError:
            missing.append(f"a section {title}")
            continue
        params = [p for p in command.params if p.name != "help"]
        missing += [f"{title}: {what}" for what in undocumented(params, text)]
    assert not missing, f"docs/reference.md does not describe: {missing}"


def test_the_reference_describes_the_global_options_and_every_environment_variable() -> None:
    text = section("Global options and environment")
    helps = [click.Option(cli.context_settings["help_option_names"], is_flag=True)]
    assert undocumented([*cli.params, *helps], text) == []
    read = {name for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            for name in re.findall(r"CLAIMWATCH_[A-Z_]+", path.read_text())}
    assert read >= {"CLAIMWATCH_SOURCES", "CLAIMWATCH_DB", "CLAIMWATCH_DEBUG"}
    assert [name for name in sorted(read) if row_of(name, rows(text)) is None] == []


# --- sources.yaml ----------------------------------------------------------------------------

MODEL_SECTIONS: dict[type[BaseModel], str] = {
    config.Config: "Top level", config.Desk: "`desk`", config.Defaults: "`defaults`",
    config.Source: "`sources`", config.AlertChannel: "`alerts`", config.Retry: "`retry`",
    config.FactCheck: "`factchecks`", config.Claim: "`claims`", config.Evidence: "`evidence`",
    config.TableSpec: "`table`", config.JsonSpec: "`json`", config.Archive: "`archive`"}


def models(model: type[BaseModel] = config.Config) -> list[type[BaseModel]]:
    """Every model sources.yaml is read into, from the top level down."""
    found: list[type[BaseModel]] = []

    def inner(annotation: Any) -> Iterator[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield annotation
        for arg in typing.get_args(annotation):
            yield from inner(arg)

    def walk(m: type[BaseModel]) -> None:
        if m not in found:
            found.append(m)
            for field in m.model_fields.values():
                for nested in inner(field.annotation):
                    walk(nested)

    walk(model)
    return found


def literals(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return [v for arg in typing.get_args(annotation) for v in literals(arg)]


UNITS = (config.parse_duration, config.parse_size, config.parse_delay)


def default_shown(field: FieldInfo, row: str) -> bool:
    """Does the key's row give its default, as sources.yaml would write it (`6h`, `7d` or `1w`;
    `20MB`; `1s`; `false`)? True when there is none to give: required, unset, or a list,
    mapping or section."""
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    if default is None or isinstance(default, BaseModel | list | dict):
        return True
    parse = next((m.func for m in field.metadata if getattr(m, "func", None) in UNITS), None)
    if parse is None:
        return (str(default).lower() if isinstance(default, bool) else str(default)) in row

    def parsed(span: str) -> object:
        try:
            return parse(span)
        except ValueError:
            return None

    return any(parsed(span) == default for span in spans(row))


def test_the_reference_describes_every_sources_yaml_key() -> None:
    """Each model's keys in the table under its heading, with the default and allowed values in
    the key's row; and no row names a key that is not there (a rename left behind)."""
    part = section("1. sources.yaml")
    missing, unknown = [], []
    for model in models():
        heading = MODEL_SECTIONS.get(model)
        if heading is None:
            missing.append(f"a section for {model.__name__} (and a line in MODEL_SECTIONS)")
            continue
        table = rows(section(heading, part, own=True), header="key")
        keys = {field.alias or name: field for name, field in model.model_fields.items()}
        for key, field in keys.items():
            row = row_of(key, table)
            if row is None:
                missing.append(f"{heading}: {key}")
                continue
            if not default_shown(field, row):
                missing.append(f"{heading}: {key} (its default)")
            missing += [f"{heading}: {key} ({word})" for word in literals(field.annotation)
                        if word not in row]
        unknown += [f"{heading}: {s}" for cells in table for s in spans(cells[0])
                    if s not in keys]
    evidence = row_of("min_similarity", rows(section("`evidence`", part)))
    assert evidence is not None and str(config.DEFAULT_SIMILARITY) in evidence
    assert not missing, f"docs/reference.md does not describe: {missing}"
    assert not unknown, f"docs/reference.md describes keys that do not exist: {unknown}"


def yaml_blocks(text: str) -> list[tuple[str, str | None]]:
    """Each ```yaml block of `text`, and the ```console block right after it, if one is."""
    found = re.finditer(r"```yaml\n(.*?)```\n(?:\n```console\n(.*?)```)?", text, re.DOTALL)
    return [(m.group(1), m.group(2)) for m in found]


def test_the_example_files_validate_and_the_broken_one_says_what_the_reference_shows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "not-a-real-one")
    examples = [(text, shown) for text, shown in yaml_blocks(REFERENCE) + yaml_blocks(README)
                if text.startswith("version: 1")]
    assert len(examples) >= 3
    for text, shown in examples:
        if shown is None:
            config.parse(text)
            continue
        command, *printed = shown.splitlines()
        assert command == "$ claimwatch --sources broken.yaml validate"
        with pytest.raises(config.ConfigError) as refused:
            config.parse(text, "broken.yaml")
        assert refused.value.problems == printed


# --- the JSON ------------------------------------------------------------------------------------

PAGE = """<html><body><main>
<p>The sheriff's office does not hold people on ICE detainers alone.</p>
<table><tr><th>State</th><th>Agency</th></tr>{rows}</table>
<ul>{links}</ul>
</main></body></html>"""


def page(rows: list[str], links: list[str], quote: bool = True) -> str:
    text = PAGE.format(rows="".join(f"<tr><td>Minnesota</td><td>{r}</td></tr>" for r in rows),
                       links="".join(f'<li><a href="/news/{i}.html">{t}</a></li>'
                                     for i, t in enumerate(links)))
    return text if quote else text.replace("<p>The sheriff's office does not hold people on "
                                           "ICE detainers alone.</p>", "")


def sources_yaml(site: SiteServer, alerts: Path) -> str:
    return f"""\
version: 1
desk: {{name: A desk, contact: desk@example.org, url: https://desk.example.org}}
defaults: {{host_delay: 0s}}
sources:
  page: {{url: "{site.url("page.html")}", select: main}}
  gone: {{url: "{site.url("gone.html")}"}}
alerts:
  - to: "file:{alerts}"
factchecks:
  - id: fc
    title: A fact-check
    claims:
      - id: quoted
        text: The sheriff's office does not hold people on detainers alone.
        verdict: Supported
        evidence:
          - {{source: page, quote: does not hold people on ICE detainers alone}}
      - id: counted
        text: One Minnesota agency is on the list.
        verdict: Supported
        evidence:
          - {{source: page, table: {{where: {{State: Minnesota}}, count: 1}}}}
      - id: still-there
        text: The statement page is up.
        verdict: Supported
        evidence:
          - {{source: gone, changes: any}}
"""


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """What a small real run prints with --json (and appends to a `file:` channel), per output:
    two checks of a page whose quote goes and whose list grows, and a page that is gone."""
    tmp = tmp_path_factory.mktemp("reference")
    (tmp / "site").mkdir()
    out: dict[str, list[Any]] = {}
    with SiteServer(tmp / "site") as site:
        (tmp / "site" / "page.html").write_text(page(["Freeborn County"], ["First"]))
        sources, alerts = tmp / "sources.yaml", tmp / "alerts.jsonl"
        sources.write_text(sources_yaml(site, alerts))
        base = ["--sources", str(sources), "--db", f"sqlite:///{tmp / 'claimwatch.db'}"]

        def run(*args: str, exit_code: int = 0) -> Any:
            result = CliRunner().invoke(cli, [*base, *args])
            assert result.exit_code == exit_code, (args, result.output, result.exception)
            return json.loads(result.stdout)

        out["check"] = [run("check", "--json")]
        (tmp / "site" / "page.html").write_text(
            page(["Freeborn County", "Sherburne County"], ["First", "Second"], quote=False))
        out["check"].append(run("check", "--all", "--json"))
        counted = next(f["id"] for f in out["check"][-1]["flags"] if f["claim"] == "counted")
        out["review"] = [run("review", str(counted), "--decision", "revised", "--by", "J. Doe",
                             "--verdict", "Outdated", "--update-expectation", "--json")]
        out["flags"] = [run("flags", "--json"), run("flags", "--all", "--json")]
        out["alerts"] = [run("alerts", "--json")]
        out["history"] = [run("history", "--json")]
        out["status"] = [run("status", "--json", exit_code=1)]  # `gone` needs attention
        added = CliRunner().invoke(cli, [*base, "users", "add", "ada", "--role", "editor",
                                         "--password-stdin"], input="a long enough password\n")
        assert added.exit_code == 0, added.output
        out["users"] = [run("users", "list", "--json")]
        out["probe"] = [run("probe", "page", "--expect", "absent: correction", "--json")]
        CliRunner().invoke(cli, ["audit", "keygen", str(tmp / "audit.key")])
        out["anchor"] = [run("audit", "head", "--json"),
                         run("audit", "checkpoint", "--key", str(tmp / "audit.key"), "--json")]
        out["payload"] = [json.loads(line) for line in alerts.read_text().splitlines()]
    # what a small run does not show: sources another worker held, backfills (one that loaded
    # versions, one that failed), sources left to a backfill, and every kind of excerpt
    started = dt.datetime(2026, 11, 25, 8)
    out["check"].append(api.RunReport(busy=["page"], awaiting_backfill=["gone"], backfills=[
        BackfillReport("fc", dt.date(2025, 3, 10), [
            SourceBackfill("page", captures=2, loaded=2, baseline=started)], alerted=[1]),
        BackfillReport("fc", dt.date(2025, 3, 10), [],
                       error="RuntimeError: a bug while reading a capture")]).to_json())
    out["status"].append({"backfills": [
        BackfillState("fc", "finished", started, started + dt.timedelta(minutes=5)).to_json()]})
    before = Document("html", blocks=("a",) * 12, tables=((("A", "B"), ("1", "2")),),
                      items=(Item("k1", "Old", link="https://example.org/1"),))
    after = Document("html", blocks=("b",) * 12, tables=((("A", "B"), ("1", "3"), ("4", "5")),),
                     items=(Item("k2", "New", link="https://example.org/2"),))
    out["payload"].append({"change": excerpt(before, after)})
    out["payload"].append({"change": excerpt(Document("html", blocks=tuple("abcdefghijkl")),
                                             Document("html", blocks=("z",)))})
    return out


JSON_SECTIONS = {
    "check": ["`check --json`", "The flag object"],
    "flags": ["`flags --json`", "The flag object"],
    "review": ["`review --json`", "`flags --json`", "The flag object"],
    "alerts": ["`alerts --json`"],
    "payload": ["The alert payload", "The flag object"],
    "history": ["`history --json`"],
    "status": ["`status --json`"],
    "users": ["`users list --json`"],
    "probe": ["`probe --json`"],
    "anchor": ["`audit head --json` and `audit checkpoint --json`"],
}
# objects whose keys are data, not fields: severities, an event's details, a table's columns
OPEN_ENDED = {"flags.by_severity", "events[].data", "expectations[].table", "expectations[].json"}


def keys(value: Any, path: str = "") -> set[str]:
    """Every key in a JSON value, nested ones included, except inside OPEN_ENDED objects."""
    if isinstance(value, list):
        return {k for item in value for k in keys(item, f"{path}[]")}
    if not isinstance(value, dict) or path in OPEN_ENDED:
        return set()
    return {k for name, item in value.items()
            for k in {name} | keys(item, f"{path}.{name}" if path else name)}


def documented(titles: list[str]) -> set[str]:
    """The names the field tables of these JSON sections give: `sources[].status` gives
    `sources` and `status`."""
    part = section("3. JSON output")
    return {word for title in titles for cells in rows(section(title, part))
            for span in spans(cells[0]) for word in WORD.findall(span)}


def test_the_real_run_printed_every_output(printed: dict[str, list[Any]]) -> None:
    """The fixture exercised what the key test relies on (else it would check little)."""
    flags = printed["flags"][-1]["flags"]
    assert {f["status"] for f in flags} >= {"open", "reviewed"}
    assert printed["review"][0]["edits"] and printed["status"][0]["sources"]["failing"]
    assert printed["payload"][0]["review_url"].startswith("https://desk.example.org/flags/")
    assert printed["probe"][0]["items"] and printed["anchor"][1]["sig"]


def test_the_reference_describes_every_json_field(printed: dict[str, list[Any]]) -> None:
    missing = {output: sorted(set().union(*map(keys, values))
                              - documented(JSON_SECTIONS[output]))
               for output, values in printed.items()}
    assert {k: v for k, v in missing.items() if v} == {}, \
        "docs/reference.md §3 does not describe these fields"


def test_the_json_examples_use_only_real_fields(printed: dict[str, list[Any]]) -> None:
    """Every ```json example parses, and names no field the code does not print."""
    part = section("3. JSON output")
    invented = {}
    for output, titles in JSON_SECTIONS.items():
        real = set().union(*map(keys, printed[output]))
        for block in re.findall(r"```json\n(.*?)```", section(titles[0], part), re.DOTALL):
            extra = keys(json.loads(block)) - real
            if extra:
                invented[output] = sorted(extra)
    assert invented == {}


def test_the_history_kinds_of_a_run_are_described(printed: dict[str, list[Any]]) -> None:
    kinds = {event["kind"] for event in printed["history"][0]["events"]}
    assert kinds >= {"config", "snapshot", "failure", "flag", "review", "alert", "run"}
    table = rows(section("`history --json`", section("3. JSON output")), header="kind")
    described = {s for cells in table for s in spans(cells[0])}
    assert sorted(kinds - described) == []


# --- pointing readers only at what they have ------------------------------------------------------

OUTSIDE = re.compile(r"(?<![\w-])(?:\.\./|/work/)?shared/")


def help_texts(command: click.Command = cli) -> Iterator[str]:
    yield command.help or ""
    for param in command.params:
        yield getattr(param, "help", None) or ""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from help_texts(sub)


def test_nothing_a_user_reads_points_outside_the_repository() -> None:
    """Users have the repository, not the project's ../shared: README, docs, the seed
    sources.yaml and every --help text stand on their own."""
    files = [ROOT / "README.md", ROOT / "sources.yaml", *sorted((ROOT / "docs").glob("*.md"))]
    pointing = [f"{path.relative_to(ROOT)}:{n}" for path in files
                for n, line in enumerate(path.read_text().splitlines(), 1)
                if OUTSIDE.search(line)]
    pointing += [text for text in help_texts() if OUTSIDE.search(text)]
    assert pointing == []

