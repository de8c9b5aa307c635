"""The event-stream YAML reader behind sources.yaml: the same data as yaml.safe_load, with the
line of every key and item, and duplicate keys reported rather than silently dropped."""

from __future__ import annotations

import pytest
import yaml

from pipeline import yamllines

DOCUMENT = """\
version: 1
defaults: &defaults
  every: 6h
  timeout: 30
  retry: true
  ratio: 0.5
  nothing: ~
  since: 2026-01-31
sources:
  a:
    <<: *defaults
    url: https://example.org/a
    timeout: 10
  b: {<<: [*defaults, {extra: yes}], url: "https://example.org/b"}
  c:
    ignore:
      - '\\d+ views'
      - [nested, 2]
    quoted: "007"
    block: |
      two
      lines
"""


def test_data_is_exactly_what_safe_load_gives() -> None:
    data, _lines, problems, _texts = yamllines.load(DOCUMENT)
    assert data == yaml.safe_load(DOCUMENT)
    assert problems == []


def test_every_key_and_item_has_its_line() -> None:
    _data, lines, _problems, _texts = yamllines.load(DOCUMENT)
    assert lines[("version",)] == 1
    assert lines[("sources", "a", "url")] == 12
    assert lines[("sources", "c", "ignore", 0)] == 17
    assert lines[("sources", "c", "ignore", 1, 1)] == 18
    assert lines[("sources", "c", "block")] == 20


def test_duplicate_keys_are_reported_with_their_line() -> None:
    data, _lines, problems, _texts = yamllines.load("a: 1\nb: 2\na: 3\n")
    assert problems == [(3, "duplicate key 'a'")]
    assert data == {"a": 3, "b": 2}


@pytest.mark.parametrize("text, line, problem", [
    ("a: *nowhere\n", 1, "found undefined alias 'nowhere'"),
    ("a: 1\n---\nb: 2\n", 2, "but found another document"),
    ("a: [1, 2\n", 2, None),
    ("a: !custom 1\n", 1, "could not determine a constructor"),
    ("a:\n  " + "[" * 600 + "]" * 600 + "\n", 2, "nested deeper than 100 levels"),
])
def test_malformed_yaml_raises_with_a_mark(text: str, line: int, problem: str | None) -> None:
    with pytest.raises(yaml.YAMLError) as raised:
        yamllines.load(text)
    mark = raised.value.problem_mark  # type: ignore[attr-defined]
    assert mark.line + 1 == line
    if problem:
        assert problem in str(raised.value)


def test_an_empty_document_is_none() -> None:
    assert yamllines.load("")[0] is None
    assert yamllines.load("# only a comment\n")[0] is None


def laughs(levels: int) -> str:
    """The "billion laughs": each level a list of nine aliases of the level below."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_aliases_that_multiply_are_refused_at_the_line_that_crosses_the_allowance() -> None:
    with pytest.raises(yaml.YAMLError) as raised:
        yamllines.load(laughs(10))  # 9^10 values in 300 bytes
    assert "billion laughs" in str(raised.value)
    assert raised.value.problem_mark.line + 1 == 6  # type: ignore[attr-defined]
    yamllines.load(laughs(5))  # 66,430 values: within the allowance


def test_an_alias_inside_the_node_it_names_is_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="inside the node it names"):
        yamllines.load("a: &loop [1, *loop]\n")


def test_a_desk_merging_defaults_into_every_source_is_within_the_allowance() -> None:
    sources = "".join(f"  s{i}: {{<<: *base, url: 'https://example.org/{i}'}}\n"
                      for i in range(20_000))
    text = f"base: &base {{every: 1h, timeout: 30s, select: main, kind: html}}\nsources:\n{sources}"
    data, _lines, problems, _texts = yamllines.load(text)
    assert data["sources"]["s19999"]["select"] == "main" and problems == []


def test_scalars_read_as_other_things_than_strings_keep_their_text() -> None:
    _data, _lines, _problems, texts = yamllines.load(
        "a: TRUE\nb: yes\nc: 1.10\nd: 2026-01-31\ne: words\nf: ~\ng: [0x10]\n")
    assert texts == {("a",): "TRUE", ("b",): "yes", ("c",): "1.10", ("d",): "2026-01-31",
                     ("g", 0): "0x10"}
