"""claimwatch edits the desk's sources.yaml (a verdict, an expectation) and changes only the
edited value's line(s): comments, layout, quoting and `${ENV}` elsewhere stay byte for byte;
the result loads into the same Config but for that value; a file changed meanwhile or not
writable is refused, with the diff to make by hand."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from pipeline import config, yaml_edit
from pipeline.config import Evidence
from pipeline.errors import ClaimwatchError, Conflict, NotFound, NotWritable, UsageError

ROOT = Path(__file__).resolve().parents[1]
ICE_TABLE = {"table": {"where": {"STATE": "Minnesota"}, "count": 6,
                       "distinct": "LAW ENFORCEMENT AGENCY"}}


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    """A copy of the repository's own sources.yaml: comments, folded texts, flow tables."""
    path = tmp_path / "sources.yaml"
    shutil.copyfile(ROOT / "sources.yaml", path)
    return path


def changed(edit: yaml_edit.Edit) -> tuple[list[str], list[str]]:
    """The diff's removed and added lines (without their -/+)."""
    body = [line for line in edit.diff.splitlines() if not line.startswith(("---", "+++"))]
    return ([line[1:] for line in body if line.startswith("-")],
            [line[1:] for line in body if line.startswith("+")])


def one_line_changed(edit: yaml_edit.Edit, old: str, new: str) -> None:
    """Exactly one line differs, it is `old` → `new`, and every other byte is as it was."""
    assert changed(edit) == ([old], [new])
    before, after = edit.before.splitlines(True), edit.after.splitlines(True)
    assert len(before) == len(after)
    assert [b == a for b, a in zip(before, after, strict=True)].count(False) == 1


def claim(cfg: config.Config, claim_id: str) -> config.Claim:
    return next(c for _fc, c in cfg.claims() if c.id == claim_id)


def write(tmp_path: Path, text: str, name: str = "sources.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the repository's own sources.yaml ---------------------------------------------------------


def test_a_verdict_edit_changes_that_line_only_and_applies(seed: Path) -> None:
    before = config.load(seed)
    edit = yaml_edit.plan_verdict(seed, "bca-withdrew", "Mostly accurate")
    one_line_changed(edit, "        verdict: Supported", "        verdict: Mostly accurate")
    assert seed.read_text() == edit.before, "planning writes nothing"
    yaml_edit.apply(edit)
    assert seed.read_text() == edit.after
    after = config.load(seed)
    assert claim(after, "bca-withdrew").verdict == "Mostly accurate"
    assert [c.verdict for _f, c in after.claims() if c.id != "bca-withdrew"] == \
        [c.verdict for _f, c in before.claims() if c.id != "bca-withdrew"]


def test_the_diff_names_the_file_and_the_edited_line(seed: Path) -> None:
    edit = yaml_edit.plan_verdict(seed, "six-287g-agencies", "Outdated")
    lines = edit.diff.splitlines()
    assert lines[:2] == [f"--- {seed}", f"+++ {seed}"]
    start = int(re.match(r"@@ -(\d+),", lines[2]).group(1))
    body = lines[3:]
    removed_at = start + next(i for i, line in enumerate(body) if line.startswith("-"))
    assert seed.read_text().splitlines()[removed_at - 1] == "        verdict: Supported"
    assert sum(line.startswith(" ") for line in body) == 6, "three lines of context each side"


def test_a_flow_table_count_edit_changes_the_right_item_only(seed: Path) -> None:
    # six-287g-agencies and bottom-line-pockets hold the very same table line: edit the second
    new = {"table": {**ICE_TABLE["table"], "count": 7}}
    edit = yaml_edit.plan_expectation(seed, "bottom-line-pockets", ICE_TABLE, new)
    line = "            table: {where: {STATE: Minnesota}, count: %d, distinct: LAW ENFORCEMENT " \
           "AGENCY}"
    one_line_changed(edit, line % 6, line % 7)
    assert edit.before.index(line % 6) < edit.after.index(line % 7), "the first one is kept"
    after = config.parse(edit.after)
    assert claim(after, "six-287g-agencies").evidence[0].table.count == 6
    edited = claim(after, "bottom-line-pockets").evidence[0]
    assert edited.table.count == 7
    assert edit.identity == edited.identity() == \
        Evidence.model_validate({"source": "ice-287g", **new}).identity()
    assert edit.old_identity == claim(config.load(seed), "bottom-line-pockets").evidence[0] \
        .identity()


def test_old_matches_whatever_its_key_order_and_spelling(seed: Path) -> None:
    old = {"table": {"distinct": "LAW ENFORCEMENT AGENCY", "count": 6,
                     "where": {"STATE": "Minnesota"}}}
    edit = yaml_edit.plan_expectation(seed, "six-287g-agencies", old,
                                      {"table": {**ICE_TABLE["table"], "count": 5}})
    assert changed(edit)[1] == ["            table: {where: {STATE: Minnesota}, count: 5, "
                                "distinct: LAW ENFORCEMENT AGENCY}"]


def test_a_quote_edit_keeps_the_item_and_quotes_what_needs_it(seed: Path) -> None:
    new_quote = "*Freeborn County: the sheriff"
    edit = yaml_edit.plan_expectation(seed, "six-287g-agencies", {"quote": "Freeborn County"},
                                      {"quote": new_quote})
    one_line_changed(edit, "            quote: Freeborn County",
                     "            quote: '*Freeborn County: the sheriff'")
    item = claim(config.parse(edit.after), "six-287g-agencies").evidence[1]
    assert (item.source, item.quote) == ("aclu-freeborn-287g", new_quote)


def test_a_long_quote_is_folded_and_a_multi_line_one_literal(seed: Path) -> None:
    long = ("The BCA has reluctantly withdrawn from the investigation of the fatal shooting, "
            "citing a lack of access to the evidence, the scene and the witnesses, and will "
            "reengage only in a joint investigation")
    edit = yaml_edit.plan_expectation(seed, "bca-withdrew",
                                      {"quote": "reluctantly withdrawn from the investigation"},
                                      {"quote": long})
    removed, added = changed(edit)
    assert removed == ["            quote: reluctantly withdrawn from the investigation"]
    assert added[0] == "            quote: >-" and len(added) > 2
    assert all(len(line) <= yaml_edit.READABLE_WIDTH for line in added)
    assert claim(config.parse(edit.after), "bca-withdrew").evidence[0].quote == long

    edit = yaml_edit.plan_expectation(seed, "bca-withdrew", {"absent": "correction"},
                                      {"absent": "Correction:\nan earlier version"})
    assert changed(edit)[1] == ["            absent: |-", "              Correction:",
                                "              an earlier version"]
    assert claim(config.parse(edit.after), "bca-withdrew").evidence[1].absent == \
        "Correction:\nan earlier version"


def test_another_expectation_kind_takes_the_old_ones_place(seed: Path) -> None:
    edit = yaml_edit.plan_expectation(seed, "bca-withdrew",
                                      {"quote": "reluctantly withdrawn from the investigation"},
                                      {"absent": "reengage", "min_similarity": 0.8})
    assert changed(edit) == (["            quote: reluctantly withdrawn from the investigation"],
                             ["            absent: reengage", "            min_similarity: 0.8"])
    item = claim(config.parse(edit.after), "bca-withdrew").evidence[0]
    assert (item.source, item.absent, item.similarity) == ("bca-statement", "reengage", 0.8)


# --- other layouts -----------------------------------------------------------------------------

BLOCK = """\
version: 1
sources:
  list: {url: "http://127.0.0.1:9/list.csv", kind: csv}   # the state's own list
factchecks:
  - id: fc
    title: T
    claims:
      - id: c
        text: t
        verdict: Supported   # since March
        evidence:
          # the list, as of March
          - source: list
            table:
              where:
                STATE: Minnesota
                YEAR: 2025
              count: 6        # six agencies
              distinct: AGENCY
          # the end
"""


def test_a_block_expectation_changes_one_value_and_keeps_its_comment(tmp_path: Path) -> None:
    path = write(tmp_path, BLOCK)
    old = {"table": {"count": 6, "distinct": "AGENCY",
                     "where": {"YEAR": "2025", "STATE": "Minnesota"}}}  # 2025 read as a cell
    new = {"table": {**old["table"], "count": 7}}
    edit = yaml_edit.plan_expectation(path, "c", old, new)
    one_line_changed(edit, "              count: 6        # six agencies",
                     "              count: 7        # six agencies")
    assert edit.identity == Evidence.model_validate({"source": "list", **new}).identity()
    edit = yaml_edit.plan_expectation(path, "c", old, {"table": {
        "where": {"STATE": "Minnesota", "YEAR": "2025"}, "present": True}})
    assert changed(edit) == (["              count: 6        # six agencies",
                              "              distinct: AGENCY"],
                             ["              present: true"])


ODD = """\
---
version: 1
desk: { name: "Desk" }
sources:
    page:
        url: "http://127.0.0.1:9/${PAGE_PATH}"
alerts:
- to: "file:${ALERT_FILE}"
factchecks:
- id: fc
  title: T
  claims:
  - id: c
    text: t
    verdict:   Supported    # after review
    evidence:
    - { source: page, quote: "hello there" }
    - source: page
      table: { where: { STATE: Minnesota }, count: 6 }
"""


def test_a_layout_ruamel_would_rewrite_is_kept(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """ruamel renders this file otherwise (indentation, `{ a }` spacing, `---`, column of the
    comment): the edit still changes only the edited value, and ${ENV} stays as written."""
    monkeypatch.setenv("PAGE_PATH", "p")
    monkeypatch.setenv("ALERT_FILE", str(tmp_path / "alerts.jsonl"))
    path = write(tmp_path, ODD)
    edit = yaml_edit.plan_expectation(path, "c", {"table": {"where": {"STATE": "Minnesota"},
                                                            "count": 6}},
                                      {"table": {"where": {"STATE": "Minnesota"}, "count": 7}})
    one_line_changed(edit, "      table: { where: { STATE: Minnesota }, count: 6 }",
                     "      table: { where: { STATE: Minnesota }, count: 7 }")
    edit = yaml_edit.plan_verdict(path, "c", "Mostly true: but…")
    one_line_changed(edit, "    verdict:   Supported    # after review",
                     "    verdict:   'Mostly true: but…' # after review")
    edit = yaml_edit.plan_expectation(path, "c", {"quote": "hello there"},
                                      {"quote": "hello, [there]"})
    one_line_changed(edit, '    - { source: page, quote: "hello there" }',
                     '    - { source: page, quote: "hello, [there]" }')
    assert "${PAGE_PATH}" in edit.after and "${ALERT_FILE}" in edit.after


def test_windows_line_endings_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_bytes(BLOCK.replace("\n", "\r\n").encode())
    edit = yaml_edit.plan_verdict(path, "c", "Outdated")
    assert edit.after == BLOCK.replace("verdict: Supported ", "verdict: Outdated  ") \
        .replace("\n", "\r\n")
    yaml_edit.apply(edit)
    assert path.read_bytes() == edit.after.encode()


MINIMAL = """\
version: 1
sources:
  page: {url: "http://127.0.0.1:9/page"}
factchecks:
  - id: fc
    title: T
    claims:
      - id: c
        text: t
        verdict: Supported
        evidence:
          - {source: page, quote: hello there}
"""

AWKWARD = ["True", "yes", "No", "off", "null", "~", "", "Mostly true: but…", "#1", "*star",
           "&anchor", "!tag", "%p", "@at", "`tick", "- dash", "? q", "{x}", "[x]", "a, b",
           "a #b", "'single'", '"double"', "2025-01-01", "1:20", "0o17", "0x1F", "1_000", "3.5",
           "=", "<<", "| pipe", "> fold", "trailing ", " leading", "tab\there", "back\\slash"]


@pytest.mark.parametrize("text", [t for t in AWKWARD if t.strip()])
def test_a_verdict_needing_quotes_reads_back_as_written(tmp_path: Path, text: str) -> None:
    edit = yaml_edit.plan_verdict(write(tmp_path, MINIMAL), "c", text)
    assert claim(config.parse(edit.after), "c").verdict == text.strip()
    assert len(changed(edit)[1]) == 1


@pytest.mark.parametrize("text", [t for t in AWKWARD if len(t.strip()) > 0])
def test_a_quote_in_a_flow_mapping_reads_back_as_written(tmp_path: Path, text: str) -> None:
    edit = yaml_edit.plan_expectation(write(tmp_path, MINIMAL), "c", {"quote": "hello there"},
                                      {"quote": text})
    assert claim(config.parse(edit.after), "c").evidence[0].quote == text
    assert len(changed(edit)[1]) == 1


def test_an_anchored_item_shared_by_two_claims_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("- {source: page", "- &shared {source: page") + """\
      - id: d
        text: t
        verdict: Supported
        evidence:
          - *shared
""")
    with pytest.raises(ClaimwatchError, match="more than the one value.*by hand"):
        yaml_edit.plan_expectation(path, "c", {"quote": "hello there"}, {"quote": "hi"})


# --- what is refused ---------------------------------------------------------------------------


def test_unknown_claims_and_expectations_are_one_clear_error(seed: Path) -> None:
    with pytest.raises(NotFound, match=r"^no claim 'nope' in .*sources.yaml$") as caught:
        yaml_edit.plan_verdict(seed, "nope", "True")
    assert caught.value.field == "claim"
    with pytest.raises(NotFound, match="has no evidence item expecting quote: gone") as caught:
        yaml_edit.plan_expectation(seed, "bca-withdrew", {"quote": "gone"}, {"quote": "x"})
    assert caught.value.field == "old"
    with pytest.raises(UsageError, match="needs exactly one of") as caught:
        yaml_edit.plan_expectation(seed, "bca-withdrew", {"quote": "a", "absent": "b"},
                                   {"quote": "x"})
    assert caught.value.field == "old"
    with pytest.raises(UsageError, match="the new verdict is empty") as caught:
        yaml_edit.plan_verdict(seed, "bca-withdrew", "  ")
    assert caught.value.field == "verdict"
    with pytest.raises(UsageError, match="environment variable") as caught:
        yaml_edit.plan_expectation(seed, "bca-withdrew", {"absent": "correction"},
                                   {"absent": "${HOME}"})
    assert caught.value.field == "new"
    with pytest.raises(UsageError, match="already has the evidence item") as caught:
        yaml_edit.plan_expectation(seed, "bca-withdrew", {"absent": "correction"},
                                   {"quote": "reluctantly withdrawn from the investigation"})
    assert caught.value.field == "new"


def test_the_same_expectation_on_two_sources_needs_the_source(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("  page: {", "  other: {url: \"http://127.0.0.1:9/o\"}"
                                           "\n  page: {")
                 + "          - {source: other, quote: hello there}\n")
    with pytest.raises(UsageError, match="on page, other: name the source") as caught:
        yaml_edit.plan_expectation(path, "c", {"quote": "hello there"}, {"quote": "hi"})
    assert caught.value.field == "source"
    edit = yaml_edit.plan_expectation(path, "c", {"quote": "hello there"}, {"quote": "hi"},
                                      source="other")
    assert changed(edit) == (["          - {source: other, quote: hello there}"],
                             ["          - {source: other, quote: hi}"])


def test_the_same_value_again_is_an_empty_edit(seed: Path) -> None:
    edit = yaml_edit.plan_verdict(seed, "bca-withdrew", "Supported")
    assert edit.before == edit.after and edit.diff == ""
    yaml_edit.apply(edit)
    assert seed.read_text() == edit.before


# --- applying ----------------------------------------------------------------------------------


def test_an_edit_planned_on_an_older_text_is_a_conflict(seed: Path) -> None:
    first = yaml_edit.plan_verdict(seed, "bca-withdrew", "Outdated")
    second = yaml_edit.plan_verdict(seed, "bottom-line-pockets", "Accurate")
    yaml_edit.apply(first)
    with pytest.raises(Conflict, match="changed since this edit was planned"):
        yaml_edit.apply(second)
    assert seed.read_text() == first.after
    third = yaml_edit.plan_verdict(seed, "bca-withdrew", "Accurate")
    seed.write_text(seed.read_text() + "# an editor's note\n")  # edited by hand meanwhile
    with pytest.raises(Conflict):
        yaml_edit.apply(third)
    assert seed.read_text().endswith("# an editor's note\n")


def test_two_writers_wait_for_each_other(seed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second writer waits on the lock while the first replaces the file, then finds it
    changed: without the lock it would read the old text, pass, and be overwritten unseen."""
    first = yaml_edit.plan_verdict(seed, "bca-withdrew", "Outdated")
    second = yaml_edit.plan_verdict(seed, "bottom-line-pockets", "Accurate")
    inside, release = threading.Event(), threading.Event()
    replace = yaml_edit._replace

    def slow_replace(*args: object) -> None:
        if threading.current_thread().name == "first":
            inside.set()
            release.wait(10)
        replace(*args)

    monkeypatch.setattr(yaml_edit, "_replace", slow_replace)
    outcome: dict[str, BaseException | None] = {}

    def run(name: str, edit: yaml_edit.Edit) -> None:
        try:
            yaml_edit.apply(edit)
            outcome[name] = None
        except BaseException as exc:
            outcome[name] = exc

    one = threading.Thread(target=run, args=("first", first), name="first")
    two = threading.Thread(target=run, args=("second", second), name="second")
    one.start()
    assert inside.wait(10)
    two.start()
    two.join(0.5)
    assert two.is_alive(), "the second writer must wait for the first"
    release.set()
    one.join(10)
    two.join(10)
    assert outcome["first"] is None
    assert isinstance(outcome["second"], Conflict)
    assert seed.read_text() == first.after


def test_apply_keeps_the_mode_and_a_symlink(tmp_path: Path) -> None:
    real = write(tmp_path, MINIMAL, "real.yaml")
    real.chmod(0o640)
    link = tmp_path / "sources.yaml"
    link.symlink_to(real)
    yaml_edit.apply(yaml_edit.plan_verdict(link, "c", "Outdated"))
    assert link.is_symlink() and "verdict: Outdated" in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_read_only_file_is_not_written_even_by_root(seed: Path) -> None:
    """Root may write a 0444 file (and rename over it): the mode bits are what says read-only,
    so claimwatch honours them itself. This test runs as root here and as anyone elsewhere."""
    edit = yaml_edit.plan_verdict(seed, "bca-withdrew", "Outdated")
    seed.chmod(0o444)
    with pytest.raises(NotWritable) as caught:
        yaml_edit.apply(edit)
    message = str(caught.value)
    assert message.splitlines()[0] == (f"cannot write {seed}: its permissions make it "
                                       "read-only; make this edit by hand:")
    assert edit.diff in message and caught.value.diff == edit.diff
    assert seed.read_text() == edit.before


def test_a_failed_write_leaves_the_file_and_no_temporary(seed: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a seam: the disk fills while the new text is written."""
    edit = yaml_edit.plan_verdict(seed, "bca-withdrew", "Outdated")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(yaml_edit.os, "fsync", full)
    with pytest.raises(NotWritable, match="No space left on device; make this edit by hand"):
        yaml_edit.apply(edit)
    assert seed.read_text() == edit.before
    assert sorted(p.name for p in seed.parent.iterdir()) == ["sources.yaml"]


def _can_mount_read_only() -> bool:
    if not shutil.which("unshare") or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "d=$(mktemp -d) && mount --bind $d $d && "
                            "mount -o remount,bind,ro $d $d"],
                           capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs root and mount namespaces")
def test_a_file_on_a_read_only_mount_is_not_written(seed: Path) -> None:
    """A real read-only bind mount, in a mount namespace of its own (gone with the process)."""
    edit = yaml_edit.plan_verdict(seed, "bca-withdrew", "Outdated")
    with tempfile.NamedTemporaryFile("wb", suffix=".pickle", delete=False) as held:
        import pickle
        pickle.dump(edit, held)
    script = ("import pickle, sys; from pipeline import yaml_edit\n"
              "try:\n    yaml_edit.apply(pickle.load(open(sys.argv[1], 'rb')))\n"
              "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    d = str(seed.parent)
    ran = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          f"mount --bind {d} {d} && mount -o remount,bind,ro {d} {d} && "
                          f'"{sys.executable}" -c "$0" "$1"', script, held.name],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    os.unlink(held.name)
    assert ran.stdout.startswith(f"NotWritable cannot write {seed}: it is on a read-only file "
                                 "system; make this edit by hand:\n")
    assert edit.diff in ran.stdout
    assert seed.read_text() == edit.before


# --- a directory of files ----------------------------------------------------------------------


def test_find_claim_file_scans_the_given_files(tmp_path: Path, seed: Path) -> None:
    other = write(tmp_path, MINIMAL, "other.yaml")
    assert yaml_edit.find_claim_file([other, seed], "bca-withdrew") == seed
    assert yaml_edit.find_claim_file([other, seed], "c") == other
    with pytest.raises(NotFound, match="no claim 'nope'") as caught:
        yaml_edit.find_claim_file([other, seed], "nope")
    assert caught.value.field == "claim"
    twin = write(tmp_path, MINIMAL, "twin.yaml")
    with pytest.raises(UsageError, match="is in .*other.yaml and .*twin.yaml"):
        yaml_edit.find_claim_file([other, twin], "c")


def test_a_comment_on_a_line_that_becomes_a_block_follows_its_indicator(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("          - {source: page, quote: hello there}",
                                           "          - source: page\n"
                                           "            quote: hello there   # as of March\n"
                                           "\n          # more to come"))
    edit = yaml_edit.plan_expectation(path, "c", {"quote": "hello there"},
                                      {"quote": "hello\nthere"})
    assert changed(edit) == (["            quote: hello there   # as of March"],
                             ["            quote: |-  # as of March", "              hello",
                              "              there"])
    assert edit.after.endswith("              there\n\n          # more to come\n")


def test_a_multi_line_text_in_a_flow_mapping_stays_on_its_line(tmp_path: Path) -> None:
    edit = yaml_edit.plan_expectation(write(tmp_path, MINIMAL), "c", {"quote": "hello there"},
                                      {"quote": "hello\nthere"})
    assert changed(edit)[1] == ['          - {source: page, quote: "hello\\nthere"}']


def test_claims_in_flow_style_or_merging_an_anchor_are_edited(tmp_path: Path) -> None:
    """A merging claim's lines do not read alone: ruamel renders the whole file for it."""
    path = write(tmp_path, MINIMAL.replace(
        "      - id: c\n        text: t\n        verdict: Supported\n        evidence:\n"
        "          - {source: page, quote: hello there}\n",
        "      - {id: c, text: t, verdict: Supported, evidence: [{source: page, quote: hi}]}\n"
        "      - &base {id: d, text: t, verdict: Supported, evidence: [{source: page, quote: a}]}"
        "\n      - <<: *base\n        id: e\n        verdict: Disputed   # merged\n"))
    edit = yaml_edit.plan_verdict(path, "c", "a, b")
    one_line_changed(edit, "      - {id: c, text: t, verdict: Supported, evidence: [{source: "
                     "page, quote: hi}]}", "      - {id: c, text: t, verdict: 'a, b', evidence: "
                     "[{source: page, quote: hi}]}")
    edit = yaml_edit.plan_verdict(path, "e", "Supported")
    one_line_changed(edit, "        verdict: Disputed   # merged",
                     "        verdict: Supported  # merged")
    assert claim(config.parse(edit.after), "d").verdict == "Supported"
