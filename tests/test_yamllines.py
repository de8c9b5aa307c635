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
    data, _lines, problems = yamllines.load(DOCUMENT)
    assert data == yaml.safe_load(DOCUMENT)
    assert problems == []


def test_every_key_and_item_has_its_line() -> None:
    _data, lines, _problems = yamllines.load(DOCUMENT)
    assert lines[("version",)] == 1
    assert lines[("sources", "a", "url")] == 12
    assert lines[("sources", "c", "ignore", 0)] == 17
    assert lines[("sources", "c", "ignore", 1, 1)] == 18
    assert lines[("sources", "c", "block")] == 20


def test_duplicate_keys_are_reported_with_their_line() -> None:
    data, _lines, problems = yamllines.load("a: 1\nb: 2\na: 3\n")
    assert problems == [(3, "duplicate key 'a'")]
    assert data == {"a": 3, "b": 2}


@pytest.mark.parametrize("text, line, problem", [
    ("a: *nowhere\n", 1, "found undefined alias 'nowhere'"),
    ("a: 1\n---\nb: 2\n", 2, "but found another document"),
    ("a: [1, 2\n", 2, None),
    ("a: !custom 1\n", 1, "could not determine a constructor"),
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
