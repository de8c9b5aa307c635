"""Edits claimwatch makes to the desk's own YAML: a claim's `verdict:`, an evidence item's
expectation. Only the edited value's text changes: comments, layout, quoting and `${ENV}`
elsewhere stay byte for byte.

ruamel.yaml's round-trip mode keeps comments, styles and quotes, and can write any value in any
context; but its rendering of a file can still differ from the desk's (another indentation,
`{ a: 1 }` spacing, a dropped `---`), so its output never replaces the file. ruamel renders the
claim (its lines alone where they read alone: a 10,000-claim file takes ruamel seconds) before
and after the change, and only that difference is carried into the desk's text: found by lines,
narrowed to the characters that changed, or ruamel's lines where characters cannot be matched.
Every plan is checked: the new text loads with `config.parse` into the same Config but for the
edited value, or the plan fails; a file of a directory is checked with the directory's other
files (`config.parse_files`), since its sources may be declared there.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import io
import os
import re
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)
from ruamel.yaml.tokens import CommentToken

from pipeline import config, yamllines
from pipeline.config import Evidence, describe_expectation
from pipeline.errors import (
    ClaimwatchError,
    ConfigError,
    Conflict,
    NotFound,
    NotWritable,
    UsageError,
)

# a new text longer than this (from its key's column) is folded over several lines, like the
# claim texts in the repository's sources.yaml
READABLE_WIDTH = 100
_STR = "tag:yaml.org,2002:str"
# config.py reads the file with PyYAML: whether a text may be written plain is PyYAML's call
_RESOLVER = yaml.resolver.Resolver()
_ANALYZER = yaml.emitter.Emitter(io.StringIO())
_Seq = TypeVar("_Seq", str, list[str])
_BLOCK = LiteralScalarString | FoldedScalarString
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# a change to the claim's mapping in ruamel's tree; the flag: inside a flow collection
_Change = Callable[[CommentedMap, bool], None]


@dataclass(frozen=True)
class Edit:
    """One planned change to one YAML file: its text before and after, and the unified diff.

    `identity` is the edited evidence item's new `Evidence.identity()` and `old_identity` the
    one it had (the caller moves the item's row so it keeps its history); None for a verdict.
    """

    path: Path
    before: str
    after: str
    diff: str
    identity: str | None = None
    old_identity: str | None = None


def plan_verdict(path: str | Path, claim_id: str, verdict: str, *,
                 within: Path | None = None) -> Edit:
    """The edit that sets claim `claim_id`'s `verdict:` in the file at `path` (`within`: the
    directory of files it is one of)."""
    verdict = verdict.strip()
    if not verdict:
        raise UsageError("the new verdict is empty", field="verdict")
    _no_placeholder(verdict, "verdict")
    doc = _Document.read(Path(path), within)
    f, c, claim = doc.claim(claim_id)

    def change(node: CommentedMap, flow: bool) -> None:
        _set(node, "verdict", _styled(verdict, node.get("verdict"), _key_column(node, "verdict"),
                                      flow or bool(node.fa.flow_style())))

    def patch(dump: dict[str, Any]) -> None:
        dump["factchecks"][f]["claims"][c]["verdict"] = verdict

    if claim.verdict == verdict:
        return doc.unchanged()
    return doc.plan(f, c, change, patch)


def plan_expectation(path: str | Path, claim_id: str, old: dict[str, Any], new: dict[str, Any],
                     *, source: str | None = None, within: Path | None = None) -> Edit:
    """The edit that turns the expectation `old` of one of claim `claim_id`'s evidence items into
    `new` (both as `Evidence.expectation()` gives them; `source` picks the item when the claim
    expects the same on two sources). Keys other than the expectation's stay as written."""
    old_norm = _expectation(old, "old")
    new_norm = _expectation(new, "new")
    doc = _Document.read(Path(path), within)
    f, c, claim = doc.claim(claim_id)
    found = [e for e, item in enumerate(claim.evidence)
             if item.expectation() == old_norm and source in (None, item.source)]
    if not found:
        on = f" on {source!r}" if source else ""
        raise NotFound(f"claim {claim_id!r} has no evidence item{on} expecting "
                       f"{describe_expectation(old_norm)}", field="old")
    if len(found) > 1:
        sources = ", ".join(claim.evidence[e].source for e in found)
        raise UsageError(f"claim {claim_id!r} expects {describe_expectation(old_norm)} on "
                         f"{sources}: name the source", field="source")
    e = found[0]
    item = claim.evidence[e]
    edited = Evidence.model_validate({**new_norm, "source": item.source})
    if edited.identity() == item.identity():
        return doc.unchanged(item.identity())
    if any(other.identity() == edited.identity() for other in claim.evidence):
        raise UsageError(f"claim {claim_id!r} already has the evidence item {item.source}: "
                         f"{describe_expectation(new_norm)}", field="new")

    def change(node: CommentedMap, flow: bool) -> None:
        evidence = node["evidence"]
        flow = flow or any(n.fa.flow_style() for n in (node, evidence))
        _update(evidence[e], old_norm, new_norm, flow)

    def patch(dump: dict[str, Any]) -> None:
        dump["factchecks"][f]["claims"][c]["evidence"][e] = edited.model_dump(
            mode="json", by_alias=True)

    def check(after: config.Config) -> bool:
        return after.factchecks[f].claims[c].evidence[e].identity() == edited.identity()

    return doc.plan(f, c, change, patch, check, identity=edited.identity(),
                    old_identity=item.identity())


def apply(edit: Edit) -> None:
    """Write `edit` to its file, atomically, if the file still holds `edit.before`.

    Raises Conflict when the file changed since the edit was planned, and NotWritable (with the
    diff, for an editor to apply by hand) when the file cannot be written. Writers in other
    processes wait for each other on an advisory lock (flock) on the file.
    """
    if edit.before == edit.after:
        return
    target = Path(os.path.realpath(edit.path))  # a symlinked sources.yaml: edit what it names
    with _locked(target, edit) as (fd, st):
        try:
            current = _read_all(fd).decode("utf-8")
        except UnicodeDecodeError:
            current = None
        if current != edit.before:
            raise Conflict(f"{edit.path} changed since this edit was planned: plan it again")
        reason = _not_writable(target, st)
        if reason:
            raise NotWritable(edit.path, reason, edit.diff)
        try:
            _replace(target, edit.after.encode("utf-8"), st)
        except OSError as exc:
            raise NotWritable(edit.path, exc.strerror or str(exc), edit.diff) from None


def find_claim_file(paths: Iterable[str | Path], claim_id: str) -> Path:
    """Which of the YAML files `paths` holds claim `claim_id` (one file per fact-check)."""
    holders = []
    for path in map(Path, paths):
        text = _read(path)
        if claim_id not in text:  # most files never mention it: skip parsing them
            continue
        try:
            data = yaml.load(text, Loader=_SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError([f"{path}:{mark.line + 1 if mark else 1}: invalid YAML: "
                               f"{getattr(exc, 'problem', None) or exc}"]) from None
        if claim_id in _claim_ids(data):
            holders.append(path)
    if not holders:
        raise NotFound(f"no claim {claim_id!r} in {', '.join(map(str, paths)) or 'no file'}",
                       field="claim")
    if len(holders) > 1:
        raise UsageError(f"claim {claim_id!r} is in {' and '.join(map(str, holders))}",
                         field="claim")
    return holders[0]


# --- planning ---------------------------------------------------------------------------------


@dataclass
class _Document:
    """One file as read: its text and the Config it loads into (alone, or with the other files
    of its directory: then a claim's place in the Config is not its place in the file)."""

    path: Path
    text: str
    parse: Callable[[str], config.Config]
    config: config.Config
    alone: bool = True  # not one file of a directory

    @classmethod
    def read(cls, path: Path, within: Path | None = None) -> _Document:
        text = _read(path)
        if within is None:
            def parse(after: str) -> config.Config:
                return config.parse(after, str(path))
        else:
            files = [(str(p), None if p.resolve() == path.resolve() else _read(p))
                     for p in config.yaml_files(within)]

            def parse(after: str) -> config.Config:
                return config.parse_files([(name, after if own is None else own)
                                           for name, own in files])
        return cls(path, text, parse, parse(text), within is None)

    def claim(self, claim_id: str) -> tuple[int, int, config.Claim]:
        """The claim's fact-check and place in the Config (not the file's, in a directory)."""
        for f, factcheck in enumerate(self.config.factchecks):
            for c, claim in enumerate(factcheck.claims):
                if claim.id == claim_id:
                    return f, c, claim
        raise NotFound(f"no claim {claim_id!r} in {self.path}", field="claim")

    def unchanged(self, identity: str | None = None) -> Edit:
        return Edit(self.path, self.text, self.text, "", identity, identity)

    def plan(self, f: int, c: int, change: _Change, patch: Callable[[dict[str, Any]], None],
             check: Callable[[config.Config], bool] = lambda _: True, **identities: str) -> Edit:
        """Make `change` to claim `c` of fact-check `f` in ruamel's tree, carry it into the text,
        and keep the first carried text that loads into this Config with `patch` applied (and
        passes `check`)."""
        bom = "\ufeff" if self.text.startswith("\ufeff") else ""
        ours = self.text.removeprefix(bom)
        crlf = "\r\n" in ours and ours.count("\r\n") == ours.count("\n")
        if crlf:
            ours = ours.replace("\r\n", "\n")
        try:
            where = (f, c) if self.alone else _place_in_file(ours, self.config, f, c)
            base, theirs = _render(ours, *where, change)
        except RuamelError as exc:  # a file PyYAML reads and ruamel does not: one line
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ClaimwatchError(f"{self.path}:{mark.line + 1 if mark else 1}: cannot edit it: "
                                  f"{problem}") from None
        wanted = self.config.model_dump(mode="json", by_alias=True)
        patch(wanted)
        for candidate in _carry(ours, base, theirs):
            after = bom + (candidate.replace("\n", "\r\n") if crlf else candidate)
            try:
                loaded = self.parse(after)
            except ConfigError:
                continue
            if loaded.model_dump(mode="json", by_alias=True) == wanted and check(loaded):
                return Edit(self.path, self.text, after, _diff(self.path, self.text, after),
                            **identities)
        raise ClaimwatchError(f"{self.path}: this edit would change more than the one value "
                              "(is it shared through a YAML anchor?): make it by hand")


def _place_in_file(text: str, loaded: config.Config, f: int, c: int) -> tuple[int, int]:
    """Where claim `c` of fact-check `f` of the Config is in the file's own lists."""
    claim_id = loaded.factchecks[f].claims[c].id
    data = yaml.load(text, Loader=_SafeLoader)
    for i, factcheck in enumerate(data.get("factchecks") or []):
        for j, claim in enumerate(factcheck.get("claims") or []):
            if isinstance(claim, dict) and claim.get("id") == claim_id:
                return i, j
    raise NotFound(f"no claim {claim_id!r} in this file", field="claim")


def _render(ours: str, f: int, c: int, change: _Change) -> tuple[str, str]:
    """ruamel's rendering of `ours` before and after `change`: of the claim's own lines where
    they stand alone (a desk's large file takes ruamel seconds), else of the whole file."""
    lines = ours.splitlines(keepends=True)
    span = _claim_lines(ours, lines, f, c)
    if span is not None:
        start, end = span
        with contextlib.suppress(RuamelError):  # e.g. an alias of an anchor outside the claim
            alone = _render_tree("".join(lines[start:end]), lambda tree: (tree[0], False), change)
            shift = _leading(lines[start]) - _leading(alone[0])  # ruamel's own list indentation
            head, tail = "".join(lines[:start]), "".join(lines[end:])
            return head + _shift(alone[0], shift) + tail, head + _shift(alone[1], shift) + tail

    def locate(tree: Any) -> tuple[CommentedMap, bool]:
        factchecks = tree["factchecks"]
        claims = factchecks[f]["claims"]
        return claims[c], any(n.fa.flow_style() for n in (factchecks, factchecks[f], claims))

    return _render_tree(ours, locate, change)


def _render_tree(text: str, locate: Callable[[Any], tuple[CommentedMap, bool]],
                 change: _Change) -> tuple[str, str]:
    yaml_rt = YAML()
    yaml_rt.preserve_quotes = True
    yaml_rt.width = sys.maxsize  # never re-wrap: long lines stay as the desk wrote them
    tree = yaml_rt.load(text)
    yaml_rt.indent(**_indentation(tree))
    base = _dump(yaml_rt, tree)
    change(*locate(tree))
    return base, _dump(yaml_rt, tree)


def _claim_lines(text: str, lines: list[str], f: int, c: int) -> tuple[int, int] | None:
    """The lines [start, end) of claim `c` of fact-check `f` when they are a block list item
    that reads alone as the claim; None otherwise (flow style, aliases, …)."""
    try:
        data, where, _dupes, _typed = yamllines.load(text)
    except yaml.YAMLError:
        return None
    start = where.get(("factchecks", f, "claims", c), 0) - 1
    dash = re.match(r"( *)- ", lines[start]) if start >= 0 else None
    if dash is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].lstrip().startswith("#")
                                or _leading(lines[end]) > len(dash.group(1))):
        end += 1
    try:
        alone = yaml.load("".join(lines[start:end]), Loader=_SafeLoader)
    except yaml.YAMLError:
        return None
    return (start, end) if alone == [data["factchecks"][f]["claims"][c]] else None


def _leading(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _shift(text: str, columns: int) -> str:
    """`text` with every line moved `columns` to the right (or left, as far as it can)."""
    if columns >= 0:
        return "".join(" " * columns + line if line.strip() else line
                       for line in text.splitlines(keepends=True))
    return "".join(line[min(-columns, _leading(line)):] for line in text.splitlines(keepends=True))


def _expectation(value: Any, field: str) -> dict[str, Any]:
    """`value` as `Evidence.expectation()` gives it, whatever its key order or spelling."""
    if not isinstance(value, dict) or not value:
        raise UsageError(f"{value!r} is not an expectation like {{'quote': 'some words'}}",
                         field=field)
    if "source" in value:
        raise UsageError("an expectation has no 'source': the item's source stays", field=field)
    try:
        expectation = Evidence.model_validate({"source": "x", **value}).expectation()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if "[" not in str(p))
        message = str(err["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{where}: {message}" if where else message, field=field) from None
    _no_placeholder(expectation, field)
    return expectation


def _no_placeholder(value: Any, field: str) -> None:
    """`${NAME}` in a written value would be read back as an environment variable."""
    for text in _leaves(value):
        if isinstance(text, str) and config._ENV.search(text):
            raise UsageError(f"{text!r} would be read as an environment variable "
                             "(${NAME}): sources.yaml cannot hold it", field=field)


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, dict | list):
        for v in value.values() if isinstance(value, dict) else value:
            yield from _leaves(v)
    else:
        yield value


def _update(node: CommentedMap, old: dict[str, Any], new: dict[str, Any], flow: bool) -> None:
    """Change `node` (a mapping holding `old`) to hold `new`, touching only what differs: a
    count in `{where: …, count: 6}` changes alone, in the mapping's own style."""
    flow = flow or bool(node.fa.flow_style())
    at = None  # a key replacing a removed one takes its place: `quote:` → `absent:`
    after = ""  # comment lines that followed removed keys: they stay where they were
    for key in old:
        if key not in new and key in node:
            at = list(node).index(key) if at is None else at
            after += _lines_after(node, key)
            del node[key]
    column = _key_column(node, next(iter(node), None))
    for key, value in new.items():
        if key in old and old[key] == value:
            continue
        current = node.get(key)
        if isinstance(current, CommentedMap) and isinstance(value, dict) \
                and isinstance(old.get(key), dict):
            _update(current, old[key], value, flow)
        elif key in node:
            _set(node, key, _styled(value, current, _key_column(node, key), flow))
        elif at is not None:
            node.insert(at, key, _styled(value, None, column, flow))
            at += 1
        else:
            node[key] = _styled(value, None, column, flow)
    if after and at:
        _keep_lines_after(node, list(node)[at - 1], after)


def _set(node: CommentedMap, key: Any, value: Any) -> None:
    """node[key] = value. A block scalar replacing a one-line value ends its own line: the
    comment that was on that line moves after its `|-` or `>-`, the lines after stay."""
    was_block = isinstance(node.get(key), _BLOCK)
    node[key] = value
    token = _comment_after(node, key)
    if token is None or was_block or not isinstance(value, _BLOCK):
        return
    own, _, rest = token.value.partition("\n")
    slot = node.ca.items[key]
    if own.strip():
        slot[3] = [f"  {own.strip()}"]
    token.value = rest
    if not rest:
        slot[2] = None


def _comment_after(node: CommentedMap | CommentedSeq, key: Any) -> Any:
    """ruamel's token holding the comment on `key`'s line and the comment lines after it."""
    slot = node.ca.items.get(key)
    return slot[2] if slot and len(slot) > 2 else None


def _lines_after(node: CommentedMap, key: Any) -> str:
    """The whole comment lines (and blank lines) following `key`'s value, not its own comment."""
    holder, last = _last_value(node, key)
    token = _comment_after(holder, last)
    return token.value.partition("\n")[2] if token is not None else ""


def _keep_lines_after(node: CommentedMap, key: Any, lines: str) -> None:
    holder, last = _last_value(node, key)
    token = _comment_after(holder, last)
    if token is not None:
        token.value += lines
        return
    block = isinstance(holder[last], _BLOCK)
    slot = holder.ca.items.setdefault(last, [None, None, None, None])
    slot[2] = CommentToken(lines if block else "\n" + lines, CommentMark(0))


def _last_value(node: CommentedMap | CommentedSeq, key: Any) -> tuple[Any, Any]:
    """Where ruamel keeps the comment after `key`'s value: on the innermost last entry of a
    block collection, else on `key` itself."""
    value = node[key]
    if isinstance(value, CommentedMap | CommentedSeq) and value and not value.fa.flow_style():
        return _last_value(value, list(value)[-1] if isinstance(value, CommentedMap)
                           else len(value) - 1)
    return node, key


def _styled(value: Any, old: Any, column: int, flow: bool) -> Any:
    """`value` as ruamel should write it at `column`: in the old value's style where that still
    reads back the same, quoted where PyYAML would read it otherwise (`True`, `#1`, `? q`,
    `2025-01-01`), a block scalar for several lines or a long text (block context only)."""
    if isinstance(value, dict | list):
        made: CommentedMap | CommentedSeq = CommentedMap(value) if isinstance(value, dict) \
            else CommentedSeq(value)
        made.fa.set_flow_style()  # as the README writes tables: `{where: {…}, count: 6}`
        return made
    if not isinstance(value, str):
        return value
    if "\n" in value:  # flow context has no block scalars: one line, `\n` escaped
        return DoubleQuotedScalarString(value) if flow else LiteralScalarString(value)
    room = READABLE_WIDTH - column - 2
    if not flow and (isinstance(old, FoldedScalarString) or (len(value) > room and " " in value)):
        folded = _folded(value, room)
        if folded is not None:
            return folded
    if isinstance(old, SingleQuotedScalarString | DoubleQuotedScalarString):
        return type(old)(value)
    analysis = _ANALYZER.analyze_scalar(value)
    if not (analysis.allow_flow_plain if flow else analysis.allow_block_plain) \
            or _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != _STR:
        return SingleQuotedScalarString(value)  # ruamel writes it double-quoted if it must
    return value


def _folded(value: str, room: int) -> FoldedScalarString | None:
    """`value` folded (`>-`) at spaces into lines of about `room` characters; None when folding
    could change it (leading or doubled spaces, tabs are kept only by quoted styles)."""
    if value != value.strip() or "  " in value or "\t" in value:
        return None
    folded = FoldedScalarString(value)
    folds: list[int] = []
    start, previous = 0, -1
    for i, ch in enumerate(value + " "):
        if ch == " ":
            if i - start > room and previous >= start:
                folds.append(previous)
                start = previous + 1
            previous = i
    folded.fold_pos = folds
    return folded


def _key_column(node: CommentedMap, key: Any) -> int:
    with contextlib.suppress(KeyError, TypeError, AttributeError):
        return int(node.lc.key(key)[1])
    return 0


def _indentation(tree: Any) -> dict[str, int]:
    """The most common block indentation in `tree` (ruamel's mapping, sequence and offset), so
    its rendering matches the desk's text wherever the desk was consistent."""
    mappings: Counter[int] = Counter()
    sequences: Counter[tuple[int, int]] = Counter()
    seen: set[int] = set()

    def walk(node: Any, key_column: int | None) -> None:
        if id(node) in seen or not isinstance(node, CommentedMap | CommentedSeq) or not node \
                or node.fa.flow_style():
            return
        seen.add(id(node))
        if isinstance(node, CommentedMap):
            if key_column is not None:
                mappings[node.lc.col - key_column] += 1
            for key in node:
                if key in node.lc.data:  # keys merged in with `<<` have no place here
                    walk(node[key], node.lc.key(key)[1])
        else:
            if key_column is not None:
                sequences[(node.lc.item(0)[1] - key_column, node.lc.col - key_column)] += 1
            for item in node:
                walk(item, None)

    walk(tree, None)
    mapping = mappings.most_common(1)[0][0] if mappings else 2
    sequence, offset = sequences.most_common(1)[0][0] if sequences else (2, 0)
    return {"mapping": max(mapping, 1), "sequence": max(sequence, offset + 2),
            "offset": max(offset, 0)}


def _dump(yaml_rt: YAML, tree: Any) -> str:
    out = io.StringIO()
    yaml_rt.dump(tree, out)
    return out.getvalue()


def _carry(ours: str, base: str, theirs: str) -> list[str]:
    """Texts that are `ours` with the change from `base` to `theirs` made, most minimal first.

    `base` is ruamel's rendering of `ours`; where they differ (ruamel's layout), the changed
    lines are found in `ours` by matching, then narrowed to the changed characters.
    """
    if ours == base:
        return [theirs]
    ours_l, base_l, theirs_l = (t.splitlines(keepends=True) for t in (ours, base, theirs))
    s1, s2, old_block, new_block = _region(ours_l, base_l, theirs_l)
    head, tail = "".join(ours_l[:s1]), "".join(ours_l[s2:])
    ours_block = "".join(ours_l[s1:s2])
    narrow = _region(ours_block, "".join(old_block), "".join(new_block))
    by_characters = ours_block[:narrow[0]] + narrow[3] + ours_block[narrow[1]:]
    by_lines = "".join(new_block)
    return list(dict.fromkeys([head + by_characters + tail, head + by_lines + tail]))


def _region(ours: _Seq, base: _Seq, theirs: _Seq) -> tuple[int, int, _Seq, _Seq]:
    """Where `base` → `theirs` changes `ours` (a re-formatting of base): the span [s1, s2) of
    ours to replace, and that span's text in base and its replacement (both in base's form)."""
    start = 0
    while start < min(len(base), len(theirs)) and base[start] == theirs[start]:
        start += 1
    end_b, end_t = len(base), len(theirs)
    while end_b > start and end_t > start and base[end_b - 1] == theirs[end_t - 1]:
        end_b, end_t = end_b - 1, end_t - 1
    place = _matches(base, ours)
    r1 = start
    while not (r1 in place or r1 - 1 in place or r1 == 0):
        r1 -= 1
    r2 = end_b
    while not (r2 - 1 in place or r2 in place or r2 == len(base)):
        r2 += 1
    s1 = place[r1] if r1 in place else place[r1 - 1] + 1 if r1 - 1 in place else 0
    s2 = place[r2 - 1] + 1 if r2 - 1 in place and r2 > r1 else place[r2] if r2 in place \
        else len(ours)
    s2 = max(s1, s2)
    return s1, s2, base[r1:r2], base[r1:start] + theirs[start:end_t] + base[end_b:r2]


def _matches(base: Sequence[str], ours: Sequence[str]) -> dict[int, int]:
    """Each element of `base` that has its equal in `ours`, at the matching position. The
    common head and tail are matched first: difflib is quadratic on the differing middle."""
    head = 0
    while head < min(len(base), len(ours)) and base[head] == ours[head]:
        head += 1
    tail = 0
    while tail < min(len(base), len(ours)) - head and base[-1 - tail] == ours[-1 - tail]:
        tail += 1
    place = {i: i for i in range(head)}
    place.update({len(base) - 1 - i: len(ours) - 1 - i for i in range(tail)})
    matcher = difflib.SequenceMatcher(None, base[head:len(base) - tail],
                                      ours[head:len(ours) - tail], autojunk=False)
    place.update({head + a + k: head + b + k
                  for a, b, size in matcher.get_matching_blocks() for k in range(size)})
    return place


def _diff(path: Path, before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(keepends=True),
                                 after.splitlines(keepends=True), str(path), str(path), n=3)
    return "".join(line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n"
                   for line in lines)


# --- reading and writing ----------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None


def _claim_ids(data: Any) -> set[str]:
    factchecks = data.get("factchecks") if isinstance(data, dict) else None
    return {claim.get("id") for fc in factchecks if isinstance(fc, dict)
            for claim in (fc.get("claims") or []) if isinstance(claim, dict)} \
        if isinstance(factchecks, list) else set()


@contextlib.contextmanager
def _locked(target: Path, edit: Edit) -> Any:
    """The file open and flock'ed: the lock is on the file the path names now (a writer that
    replaced it meanwhile is waited for, then its new file locked)."""
    while True:
        try:
            fd = os.open(target, os.O_RDONLY)
        except FileNotFoundError:
            raise Conflict(f"{edit.path} is gone since this edit was planned") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            with contextlib.suppress(FileNotFoundError):
                now = os.stat(target)
                if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                    yield fd, st
                    return
        finally:
            os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _not_writable(target: Path, st: os.stat_result) -> str | None:
    """Why claimwatch must not replace the file, if it must not. A file whose permissions give
    no one write access is left alone even by root: the desk made it read-only."""
    with contextlib.suppress(OSError):
        if os.statvfs(target.parent).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "its permissions make it read-only"
    if not os.access(target, os.W_OK):
        return "no permission to write it"
    if not os.access(target.parent, os.W_OK | os.X_OK):
        return f"no permission to create files in {target.parent}"
    return None


def _replace(target: Path, data: bytes, st: os.stat_result) -> None:
    """Write `data` to a temporary file beside `target` and rename it over `target`: readers
    see the old file or the new one, never half of one; mode and (when allowed) owner kept."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), stat.S_IMODE(st.st_mode))
            with contextlib.suppress(PermissionError):
                os.fchown(out.fileno(), st.st_uid, st.st_gid)
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):  # some file systems cannot sync a directory
            os.fsync(directory)
    finally:
        os.close(directory)

