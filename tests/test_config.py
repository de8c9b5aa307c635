"""sources.yaml loading: the seed file, ${ENV}, durations and sizes, and every problem reported
at once as FILE:LINE: message (through `claimwatch validate`, exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import config, secrets
from pipeline.cli import cli
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """\
version: 1
sources:
  page:
    url: http://127.0.0.1:9/page
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


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config.parse(text, "s.yaml")
    return caught.value.problems


def test_seed_sources_yaml_monitors_every_claim_of_the_fact_check() -> None:
    cfg = config.load(ROOT / "sources.yaml")
    claims = [claim for _fc, claim in cfg.claims()]
    assert len(claims) == 8
    assert all(claim.evidence for claim in claims)
    cited = {ev.source for claim in claims for ev in claim.evidence}
    assert cited == set(cfg.sources), "every source backs a claim and every claim's source exists"
    ice = cfg.sources["ice-287g"]
    assert ice.follow and ice.url.startswith("https://www.ice.gov/")


def test_durations_sizes_and_defaults() -> None:
    cfg = config.parse(MINIMAL.replace("    url: http://127.0.0.1:9/page",
                                       "    url: http://127.0.0.1:9/page\n    every: 90s\n"
                                       "    max_bytes: 512KB") + "defaults: {every: 1d}\n")
    assert cfg.every("page") == 90
    assert cfg.max_bytes("page") == 512 * 1024
    assert cfg.timeout("page") == 30
    assert config.parse_duration("1w") == 604800
    assert config.parse_size("20MB") == 20 * 1024**2
    with pytest.raises(ValueError):
        config.parse_duration("5 parsecs")


def test_durations_and_delays_a_clock_cannot_reach_are_problems() -> None:
    """now + 99,999,999 days is past year 9999: the schedule would overflow at the first check."""
    found = problems(MINIMAL.replace("    url: http://127.0.0.1:9/page",
                                     "    url: http://127.0.0.1:9/page\n    every: 99999999d")
                     + "defaults: {host_delay: 99999m}\n")
    assert found == ["s.yaml:5: sources.page.every: '99999999d' is longer than 100 years",
                     "s.yaml:15: defaults.host_delay: '99999m' is longer than a day"]
    assert config.parse_duration("36500d") == 36_500 * 86400


def test_env_variables_are_expanded_but_a_sources_url_keeps_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_HOST", "127.0.0.1:9")
    monkeypatch.setenv("CW_NAME", "The desk")
    cfg = config.parse(MINIMAL.replace("127.0.0.1:9", "${CW_HOST}")
                       .replace("version: 1\n", "version: 1\ndesk: {name: '${CW_NAME}'}\n"))
    assert cfg.desk.name == "The desk"
    assert cfg.sources["page"].url == "http://${CW_HOST}/page", "kept as written"
    assert secrets.expand(cfg.sources["page"].url) == "http://127.0.0.1:9/page"


def test_unset_env_variable_is_reported_with_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CW_UNSET", raising=False)
    found = problems(MINIMAL.replace("http://127.0.0.1:9/page", "http://${CW_UNSET}/page"))
    assert found == ["s.yaml:4: environment variable CW_UNSET is not set"]


def test_every_problem_is_reported_at_once_with_its_line() -> None:
    broken = """\
version: 1
sources:
  page:
    url: http://example.org/
    selct: main
    ignore: ['(unclosed']
    every: 5 parsecs
  other:
    url: http://example.org/x
    select: 'div[[['
  page:
    url: http://example.org/again
factchecks:
  - id: fc
    title: T
    claims:
      - id: c1
        text: t
        verdict: v
        evidence:
          - {source: pgae, quote: hi}
          - {source: other, quote: hi, table: {where: {A: 1}, count: 2}}
      - id: c1
        text: t
        verdict: v
        evidence:
          - {source: other, new_items: '(('}
"""
    found = problems(broken)
    assert "s.yaml:11: duplicate key 'page'" in found
    assert any(p.startswith("s.yaml:10: sources.other.select: bad CSS selector 'div[[[': ")
               for p in found)
    assert "s.yaml:21: unknown source 'pgae' (did you mean 'page'?)" in found
    assert any(p.startswith("s.yaml:22: ") and "exactly one of" in p for p in found)
    assert "s.yaml:23: duplicate claim id 'c1'" in found
    assert any(p.startswith("s.yaml:27: ") and "bad regex" in p for p in found)
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines), "problems come in file order"


def test_unknown_key_suggests_the_right_one() -> None:
    found = problems(MINIMAL.replace("    url: http://127.0.0.1:9/page",
                                     "    url: http://127.0.0.1:9/page\n    selct: main\n"
                                     "    ignore: ['(bad']\n    every: soon"))
    assert found == [
        "s.yaml:5: unknown key 'selct' (did you mean 'select'?)",
        "s.yaml:6: sources.page.ignore.0: bad regex '(bad': missing )",
        "s.yaml:7: sources.page.every: 'soon' is not a duration like 90s, 30m, 6h, 1d or 1w",
    ]


def test_regexes_the_linear_time_engine_cannot_run_are_explained_at_their_line() -> None:
    found = problems(MINIMAL.replace("    url: http://127.0.0.1:9/page",
                                     "    url: http://127.0.0.1:9/page\n"
                                     "    ignore: ['Updated(?=:)', '(\\w)\\1', 'fine .*']")
                     .replace("quote: hello there", "new_items: '(?<!not )retracted'"))
    engine = "which claimwatch's linear-time regex engine does not support"
    assert [p.split(": ", 2)[:2] for p in found] == [
        ["s.yaml:5", "sources.page.ignore.0"], ["s.yaml:5", "sources.page.ignore.1"],
        ["s.yaml:14", "factchecks.0.claims.0.evidence.0.new_items"]]
    assert f"regex 'Updated(?=:)' uses a lookahead ((?=…)), {engine}: " in found[0]
    assert f"regex '(\\w)\\1' uses a backreference (\\1), {engine}: " in found[1]
    assert f"regex '(?<!not )retracted' uses a negative lookbehind ((?<!…)), {engine}: " \
        in found[2]


@pytest.mark.parametrize("typed", ["True", "TRUE", "false", "yes", "1.10", "2026-01-31", "6"])
def test_words_yaml_reads_as_booleans_numbers_or_dates_are_kept_as_typed(typed: str) -> None:
    cfg = config.parse(MINIMAL.replace("verdict: Supported", f"verdict: {typed}")
                       .replace("text: t", f"text: {typed}").replace("title: T", f"title: {typed}")
                       .replace("quote: hello there", f"quote: {typed}"))
    [(factcheck, claim)] = cfg.claims()
    assert (factcheck.title, claim.text, claim.verdict, claim.evidence[0].quote) == (typed,) * 4


def test_aliases_that_multiply_are_one_line_at_their_line() -> None:
    laughs = "version: 1\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 12))
    [problem] = problems(laughs)
    assert problem.startswith("s.yaml:7: invalid YAML: aliases expand the file to over ")


@pytest.mark.parametrize(("url", "problem"), [
    ("https://example.org/a b", "it contains whitespace (' '): write a space in a URL as %20"),
    ("https://example.org/a\\tb", "it contains whitespace ('\\t'): write a space in a URL as %20"),
    ("https://exa\\x07mple.org/", "it contains the invisible character '\\x07'"),
    ("https:///no-host", "it has no host name"),
    ("https://example.org:99999/", "its port 99999 is not between 1 and 65535"),
    ("https://example.org:0/", "its port 0 is not between 1 and 65535"),
    ("https://example.org:http/", "Invalid port: 'http'"),
])
def test_a_url_that_cannot_be_fetched_as_written_is_one_problem(url: str, problem: str) -> None:
    found = problems(MINIMAL.replace("http://127.0.0.1:9/page", f'"{url}"'))
    assert len(found) == 1 and found[0].startswith("s.yaml:4: sources.page.url: ")
    assert found[0].endswith(f"is not a valid URL: {problem}")


def test_bad_ids_urls_and_expectations() -> None:
    found = problems(MINIMAL.replace("  page:", "  Page_1:").replace("source: page",
                                                                     "source: Page_1")
                     .replace("quote: hello there", "quote: hi, min_similarity: 1.5")
                     .replace("http://127.0.0.1:9/page", "ftp://x"))
    text = "\n".join(found)
    assert "s.yaml:3:" in text and "'Page_1' is not an id" in text
    assert "'ftp://x' is not an http(s) URL" in text
    assert "less than or equal to 1" in text


def test_invalid_yaml_is_one_line_with_position() -> None:
    [problem] = problems("version: 1\nsources: [unclosed\n")
    assert problem.startswith("s.yaml:3: invalid YAML: ") and "']'" in problem


def test_validate_command_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL)
    ok = CliRunner().invoke(cli, ["--sources", str(good), "validate"])
    assert ok.exit_code == 0 and "1 claims" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("source: page", "source: pag"))
    result = CliRunner().invoke(cli, ["--sources", str(bad), "validate"])
    assert isinstance(result.exception, ConfigError)
    assert result.exception.exit_code == 2
    assert result.exception.problems == [f"{bad}:13: unknown source 'pag' (did you mean "
                                         "'page'?)"]


def test_main_content_is_instead_of_select() -> None:
    ok = config.parse(MINIMAL.replace("    url: http://127.0.0.1:9/page",
                                      "    url: http://127.0.0.1:9/page\n    main_content: true"))
    assert ok.sources["page"].main_content
    found = problems(MINIMAL.replace("    url: http://127.0.0.1:9/page",
                                     "    url: http://127.0.0.1:9/page\n    main_content: true\n"
                                     "    select: article"))
    assert len(found) == 1 and "'main_content' reads an HTML page without 'select'" in found[0]


def test_allow_networks_are_checked_cidrs() -> None:
    ok = config.parse(MINIMAL + "defaults: {allow_networks: [10.20.0.0/16, 'fd12:3456::/48', "
                                "169.254.169.254]}\n")
    assert ok.defaults.allow_networks == ["10.20.0.0/16", "fd12:3456::/48", "169.254.169.254"]
    found = problems(MINIMAL + "defaults:\n  allow_networks:\n    - 10.20.0.0/16\n"
                               "    - 10.20.0.5/16\n    - intranet\n")
    assert found == [
        "s.yaml:17: defaults.allow_networks.1: '10.20.0.5/16' is not a network like "
        "10.20.0.0/16 or fd12:3456::/48: 10.20.0.5/16 has host bits set (did you mean "
        "10.20.0.0/16?)",
        "s.yaml:18: defaults.allow_networks.2: 'intranet' is not a network like 10.20.0.0/16 "
        "or fd12:3456::/48: 'intranet' does not appear to be an IPv4 or IPv6 network",
    ]


def test_published_is_a_day() -> None:
    """`published:` is the day the fact-check came out (YAML's date, or quoted); a time of day
    or a word is one problem at its line."""
    import datetime as dt
    with_day = MINIMAL.replace("    title: T\n", "    title: T\n    published: 2025-05-27\n")
    assert config.parse(with_day).factchecks[0].published == dt.date(2025, 5, 27)
    quoted = with_day.replace("2025-05-27", '"2025-05-27"')
    assert config.parse(quoted).factchecks[0].published == dt.date(2025, 5, 27)
    assert config.parse(MINIMAL).factchecks[0].published is None
    [problem] = problems(with_day.replace("2025-05-27", "last spring"))
    assert problem.startswith("s.yaml:8: ") and "published" in problem
