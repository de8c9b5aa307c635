"""Word and line diffs as the desk shows them: exactly the changed words marked, nothing of either
text lost or invented, long unchanged runs collapsed, edited lines paired with their edit."""

from __future__ import annotations

import json
import random

import pytest

from pipeline import worddiff
from pipeline.worddiff import Segment, lines, words


def ops(segments: list[Segment]) -> list[tuple[str, str]]:
    return [(s.op, s.text) for s in segments]


def assert_exact(before: str, after: str, segments: list[Segment]) -> None:
    assert "".join(s.text for s in segments if s.op != "ins") == before
    assert "".join(s.text for s in segments if s.op != "del") == after
    assert all(s.text for s in segments), "no empty segment"
    assert all(a.op != b.op for a, b in zip(segments, segments[1:], strict=False)), \
        "adjacent segments of one op are merged"


def test_a_reworded_quote_marks_exactly_the_changed_words() -> None:
    before = "Officers will not serve as an escort for immigration arrests, the chief said."
    after = "Officers will not serve as escorts for immigration arrests, the chief said."
    assert ops(words(before, after)) == [
        ("same", "Officers will not serve as "), ("del", "an escort"), ("ins", "escorts"),
        ("same", " for immigration arrests, the chief said.")]
    assert ops(words("The chief said no. Then", "The chief said yes. Then")) == [
        ("same", "The chief said "), ("del", "no"), ("ins", "yes"), ("same", ". Then")]


def test_words_keep_apostrophes_and_punctuation_apart() -> None:
    assert ops(words("the sheriff's office", "the sheriffs office")) == [
        ("same", "the "), ("del", "sheriff's"), ("ins", "sheriffs"), ("same", " office")]
    assert ops(words("x,y", "x;y")) == [("same", "x"), ("del", ","), ("ins", ";"), ("same", "y")]
    assert ops(words("a  b", "a b")) == [("same", "a"), ("del", "  "), ("ins", " "),
                                         ("same", "b")]


def test_changed_words_separated_by_a_space_are_one_change() -> None:
    assert ops(words("the quick brown fox", "a slow red fox")) == [
        ("del", "the quick brown"), ("ins", "a slow red"), ("same", " fox")]


def test_a_removed_sentence_is_marked_from_its_start_to_its_end() -> None:
    before = "The policy was posted Monday. The changes update a policy."
    # the diff could as well mark "policy was posted Monday. The " after the first "The "
    assert ops(words(before, "The changes update a policy.")) == [
        ("del", "The policy was posted Monday. "), ("same", "The changes update a policy.")]
    assert ops(words("one two three", "one three")) == [("same", "one "), ("del", "two "),
                                                         ("same", "three")]


def test_identical_empty_and_one_sided_texts() -> None:
    assert words("", "") == []
    assert ops(words("same", "same")) == [("same", "same")]
    assert ops(words("", "new text")) == [("ins", "new text")]
    assert ops(words("old text", "")) == [("del", "old text")]


VOCABULARY = ["the", "ICE", "agency", "Sheriff's", "don't", "287(g)", "Minnesota", "—", ",",
              ".", "“quoted”", "\n", "  ", "\t", "é", "日本", "a", "a", "the", "policy."]


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(VOCABULARY) + rng.choice(["", " ", " ", " ", "\n"])
                   for _ in range(n))


def random_edit(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 6)):
        at = rng.randint(0, len(chars))
        what = rng.choice(["insert", "delete", "replace"])
        piece = list(random_text(rng, rng.randint(1, 4)))
        span = rng.randint(1, 12)
        if what == "insert":
            chars[at:at] = piece
        elif what == "delete":
            del chars[at:at + span]
        else:
            chars[at:at + span] = piece
    return "".join(chars)


def test_joining_the_segments_gives_back_both_texts_over_random_edits() -> None:
    rng = random.Random(20260127)
    for _ in range(400):
        before = random_text(rng, rng.randint(0, 60))
        after = random_edit(rng, before) if rng.random() < 0.9 else random_text(rng, 30)
        assert_exact(before, after, words(before, after))


def test_long_texts_take_the_bounded_paths_and_stay_exact(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Small limits send short texts down every path long ones take: line, then sentence
    alignment, anchors, difflib only in small stretches, a rewrite shown whole."""
    monkeypatch.setattr(worddiff, "CHUNK_OVER", 40)
    monkeypatch.setattr(worddiff, "TOKEN_LIMIT", 30)
    monkeypatch.setattr(worddiff, "GAP_CELLS", 40)
    rng = random.Random(7)
    for _ in range(200):
        before = random_text(rng, rng.randint(20, 200))
        after = random_edit(rng, before)
        assert_exact(before, after, words(before, after))


def test_one_word_changed_in_a_long_text_is_one_change() -> None:
    rng = random.Random(3)
    paragraphs = [" ".join(rng.choice(VOCABULARY[:9]) + str(rng.randint(0, 999))
                           for _ in range(80)) + "." for _ in range(400)]
    before = "\n".join(paragraphs)  # ~250 KB: aligned by line, then by word in one line
    after = before.replace(paragraphs[200], paragraphs[200].replace(" ", " NEW ", 1))
    segments = words(before, after)
    assert [s.op for s in segments] == ["same", "ins", "same"]
    assert segments[1].text in ("NEW ", " NEW")
    assert_exact(before, after, segments)


def paragraphs(n: int) -> list[str]:
    return [f"Paragraph {k} says something about the policy." for k in range(1, n + 1)]


def test_region_diff_collapses_unchanged_runs_around_a_change() -> None:
    before = paragraphs(100)
    after = list(before)
    after[49] = "Paragraph 50 says something else about the policy."
    region = lines(before, after)
    kinds = [(r.kind, r.left.number if r.left else None, r.hidden) for r in region.side_by_side]
    assert kinds == [("gap", 1, 46), ("same", 47, 0), ("same", 48, 0), ("same", 49, 0),
                     ("change", 50, 0), ("same", 51, 0), ("same", 52, 0), ("same", 53, 0),
                     ("gap", 54, 47)]
    assert region.side_by_side[0].text == "… 46 unchanged lines …"
    change = region.side_by_side[4]
    assert change.left is not None and change.right is not None
    assert ops(list(change.left.segments)) == [("same", before[49])]
    assert ops(list(change.right.segments)) == [
        ("same", "Paragraph 50 says something "), ("ins", "else "),
        ("same", "about the policy.")]
    assert (region.removed, region.added, region.changed) == (0, 0, 1)
    assert region.summary() == "1 changed"
    inline = [(e.kind, e.before, e.after) for e in region.inline]
    assert inline[3:6] == [("same", 49, 49), ("del", 50, None), ("ins", None, 50)]
    assert (region.inline[0].kind, region.inline[0].hidden) == ("gap", 46)


def test_region_pairs_an_edited_line_past_an_inserted_one() -> None:
    before = ["Intro.", "The chief said officers will not escort agents.", "Outro."]
    after = ["Intro.", "A new paragraph, unrelated to anything else here.",
             "The chief said officers will never escort agents.", "Outro."]
    region = lines(before, after)
    assert [r.kind for r in region.side_by_side] == ["same", "ins", "change", "same"]
    assert region.summary() == "+1 / -0 lines, 1 changed"
    assert [e.kind for e in region.inline] == ["same", "ins", "del", "ins", "same"]


def test_region_without_changes_and_short_runs_are_not_collapsed() -> None:
    unchanged = lines(paragraphs(10), paragraphs(10))
    assert not unchanged and unchanged.summary() == "no line changed"
    assert [(r.kind, r.hidden) for r in unchanged.side_by_side] == [("gap", 10)]
    after = paragraphs(8)
    after[3] = "Replaced entirely by a line that shares no words."
    region = lines(paragraphs(8), after)  # 3 lines of context on each side: nothing to hide
    assert [r.kind for r in region.side_by_side] == ["same"] * 3 + ["del", "ins"] + ["same"] * 4
    assert lines([], []).side_by_side == ()


def test_region_rows_are_limited_and_what_is_left_out_is_counted() -> None:
    before = [f"row {k} | MINNESOTA | Task Force Model" for k in range(3000)]
    after = [f"row {k} | IOWA | Task Force Model" for k in range(3000)]
    region = lines(before, after, limit=100)
    assert len(region.side_by_side) == 100
    assert region.left_out == 6000 - 100  # a rewrite this long is not paired: 100 deleted
    assert region.summary() == f"+0 / -100 lines, {region.left_out} more changed lines not shown"


def test_region_to_json_is_plain_json() -> None:
    region = lines(["a b c", "d"], ["a x c", "d", "e"])
    data = json.loads(json.dumps(region.to_json()))
    assert data["summary"] == "+1 / -0 lines, 1 changed"
    assert data["side_by_side"][0]["left"]["segments"] == [
        {"op": "same", "text": "a "}, {"op": "del", "text": "b"}, {"op": "same", "text": " c"}]
    assert [e["kind"] for e in data["inline"]] == ["del", "ins", "same", "ins"]
