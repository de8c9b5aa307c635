"""A directory of files instead of one sources.yaml (one file per fact-check): the same Config,
problems as FILE:LINE of the right file, all at once, and everywhere sources.yaml is read
(validate, the daemon's reload, the desk's, a review's edit of a verdict)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline import config, yaml_edit
from pipeline.cli import cli
from pipeline.daemon import Daemon, Log, Settings
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def split_seed(directory: Path) -> Path:
    """The repository's sources.yaml as a desk file and two fact-check files, the sources of
    one declared in the other's file."""
    seed = yaml.safe_load((ROOT / "sources.yaml").read_text())
    directory.mkdir()
    (directory / "desk.yaml").write_text(yaml.safe_dump(
        {"version": 1, "desk": seed["desk"], "defaults": seed["defaults"],
         "alerts": seed["alerts"]}, sort_keys=False))
    sources = list(seed["sources"].items())
    (directory / "mn-police-ice.yaml").write_text(yaml.safe_dump(
        {"sources": dict(sources[:4]), "factchecks": seed["factchecks"]}, sort_keys=False))
    (directory / "more-sources.yaml").write_text(yaml.safe_dump(
        {"sources": dict(sources[4:])}, sort_keys=False))
    return directory


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    return caught.value.problems


def test_a_directory_loads_into_the_same_config_as_one_file(tmp_path: Path) -> None:
    directory = split_seed(tmp_path / "sources.d")
    # the same configuration (its files differ, and so does their digest)
    assert config.load(directory).model_dump() == config.load(ROOT / "sources.yaml").model_dump()
    ok = CliRunner().invoke(cli, ["--sources", str(directory), "validate"])
    assert ok.exit_code == 0, ok.output
    assert ok.output == f"{directory}: ok (11 sources, 1 fact-checks, 8 claims)\n"
    env = CliRunner().invoke(cli, ["validate"], env={"CLAIMWATCH_SOURCES": str(directory)})
    assert env.exit_code == 0 and "11 sources" in env.output


def test_a_source_declared_the_same_in_two_files_is_one_source(tmp_path: Path) -> None:
    directory = split_seed(tmp_path / "d")
    ice = yaml.safe_load((directory / "mn-police-ice.yaml").read_text())["sources"]["ice-287g"]
    (directory / "other.yaml").write_text(yaml.safe_dump({"sources": {"ice-287g": ice}}))
    assert config.load(directory).sources["ice-287g"].follow == "a[href$='.xlsx']"


def test_problems_name_the_right_file_and_line_all_at_once(tmp_path: Path) -> None:
    directory = split_seed(tmp_path / "d")
    (directory / "zz-new.yaml").write_text("""\
sources:
  ice-287g:
    url: https://example.org/another-list
defaults: {every: 1h}
factchecks:
  - id: later
    title: T
    claims:
      - id: c
        text: t
        verdict: v
        evidence:
          - source: bca-statment
            quote: withdrawn
""")
    (directory / "broken-words.yaml").write_text("sources:\n  x:\n    url: ftp://no\n")
    first = f"{directory / 'mn-police-ice.yaml'}:"
    found = problems_of(directory)
    assert found[0].startswith(f"{directory / 'broken-words.yaml'}:3: sources.x.url: ")
    assert found[1:] == [
        f"{directory / 'zz-new.yaml'}:2: source 'ice-287g' is declared for another URL at "
        f"{first}6 (https://www.ice.gov/identify-and-arrest/287g): one id, one source; give "
        "one of them another id",
        f"{directory / 'zz-new.yaml'}:4: 'defaults' belongs in the desk's file "
        f"{directory / 'desk.yaml'}, not in a fact-check's file",
        f"{directory / 'zz-new.yaml'}:13: unknown source 'bca-statment' (did you mean "
        "'bca-statement'?)"]
    assert (directory / "mn-police-ice.yaml").read_text().splitlines()[5] == "  ice-287g:"


def test_a_file_that_is_not_yaml_is_reported_with_the_others(tmp_path: Path) -> None:
    directory = split_seed(tmp_path / "d")
    (directory / "a-broken.yaml").write_text("sources: [unclosed\n")
    (directory / "b-list.yaml").write_text("- just a list\n")
    (directory / ".#editor-lock.yaml").write_text("not: [read")  # hidden: not a file of sources
    found = problems_of(directory)
    assert [p.split(": ", 1)[0] for p in found] == [f"{directory / 'a-broken.yaml'}:2",
                                                    f"{directory / 'b-list.yaml'}:1"]
    assert "invalid YAML" in found[0] and "expected a mapping" in found[1]


def test_an_empty_directory_is_one_line(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [f"{tmp_path}: no *.yaml file in this directory"]


def test_without_desk_yaml_the_first_file_with_desk_settings_holds_them(tmp_path: Path) -> None:
    directory = split_seed(tmp_path / "d")
    (directory / "desk.yaml").rename(directory / "00-settings.yaml")
    loaded = config.load(directory)
    assert loaded.desk.name == "Minnesota fact-check desk" and len(loaded.alerts) == 1


def test_the_stamp_moves_when_any_file_is_edited_added_or_removed(tmp_path: Path) -> None:
    directory = split_seed(tmp_path / "d")
    stamps = [config.stamp(directory)]
    (directory / "new.yaml").write_text("sources: {}\n")
    stamps.append(config.stamp(directory))
    (directory / "more-sources.yaml").write_text(
        (directory / "more-sources.yaml").read_text() + "# a comment\n")
    stamps.append(config.stamp(directory))
    (directory / "new.yaml").unlink()
    stamps.append(config.stamp(directory))
    assert len(set(stamps)) == 4
    assert config.stamp(tmp_path / "nothing-here") is None


def test_the_daemon_reloads_a_directory_when_a_file_is_added(tmp_path: Path) -> None:
    directory = split_seed(tmp_path / "d")
    log = io.StringIO()
    daemon = Daemon(directory, f"sqlite:///{tmp_path / 'db.sqlite'}", Settings(),
                    Log(log, "text"))
    try:
        (directory / "zz-extra.yaml").write_text("sources:\n  extra:\n    url: "
                                                 "https://example.org/extra\n")
        daemon.reload()
        assert "extra" in daemon.config.sources
        assert "config-reloaded sources=12" in log.getvalue()
        (directory / "zz-extra.yaml").write_text("sources:\n  ice-287g:\n    url: "
                                                 "https://example.org/extra\n")
        daemon.reload()
        assert "config-invalid" in log.getvalue() and "extra" in daemon.config.sources
    finally:
        daemon.store.close()


def test_a_verdict_is_edited_in_the_file_that_holds_the_claim(tmp_path: Path) -> None:
    """The fact-check's file uses sources declared in another file: the edit is still checked
    against the whole directory, and only that file changes."""
    directory = split_seed(tmp_path / "d")
    holder = yaml_edit.find_claim_file(config.yaml_files(directory), "bca-withdrew")
    assert holder == directory / "mn-police-ice.yaml"
    others = {p: p.read_text() for p in config.yaml_files(directory) if p != holder}
    edit = yaml_edit.plan_verdict(holder, "bca-withdrew", "Outdated", within=directory)
    yaml_edit.apply(edit)
    changed = [line for line in edit.diff.splitlines()[2:] if line[:1] in "+-"]
    assert changed == ["-    verdict: Supported", "+    verdict: Outdated"]
    loaded = config.load(directory)
    [claim] = [c for _f, c in loaded.claims() if c.id == "bca-withdrew"]
    assert claim.verdict == "Outdated"
    assert all(p.read_text() == text for p, text in others.items())
    with pytest.raises(ConfigError):  # alone, the file names sources it does not declare
        config.load(holder)
