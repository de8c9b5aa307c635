"""The draft as YAML an editor reads: one fact-check file of a sources directory, its sources
and claims in the desk's usual layout, every proposal with a comment saying its score and what
it matched (and the expectation in words, `describe.in_words`), and what could not be watched
kept as commented lines with the reason. Written as text: page words go in through PyYAML's
quoting only, and comments are one printable line each.
"""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from pipeline.importer.records import Draft, DraftClaim, DraftItem, DraftSource
from pipeline.textnorm import printable

WIDTH = 100
COMMENT_CHARS = 160


def write(draft: Draft, *, when: str) -> str:
    read = sum(1 for s in draft.sources if s.error is None)
    lines = [
        f"# Draft watch of \u201c{_flat(draft.title)}\u201d, by `claimwatch import` on {when},",
        f"# from {_flat(draft.read_from)}",
        f"# {len(draft.claims)} claims, {len(draft.sources)} cited sources ({read} read). Every "
        "expectation below held",
        "# on its page as fetched. Read each claim, its verdict and its evidence, change what "
        "you would",
        "# not accept, then run `claimwatch validate`.",
        "version: 1",
        "",
    ]
    new = [s for s in draft.sources if not s.declared]
    used = {item.source for claim in draft.claims for item in claim.items if item.active}
    if new:
        lines.append("sources:")
    for source in new:
        lines += _source(source, active=source.id in used)
    lines += ["", "factchecks:", f"  - id: {draft.factcheck_id}",
              f"    title: {_scalar(words(draft.title))}", f"    url: {_scalar(draft.url)}"]
    if draft.published:  # backfill's starting point: the versions the fact-check saw
        lines.append(f"    published: {draft.published}")
    lines.append("    claims:")
    for claim in draft.claims:
        lines += _claim(claim)
    return "\n".join(lines).rstrip() + "\n"


def _source(source: DraftSource, *, active: bool) -> list[str]:
    if source.error is not None:
        return [f"  # {source.id}: could not be read: {_flat(source.error)}",
                f"  # {source.id}:", f"  #   url: {_scalar(source.url)}"]
    options = source.options
    lines = [f"  {source.id}:", f"    url: {_scalar(options['url'])}"]
    for name in ("kind", "follow", "select", "main_content"):
        if name in options:
            lines.append(f"    {name}: {_scalar(options[name])}")
    lines[-1] += f"   # {_flat(source.how)}" if len(lines) > 2 else ""
    if not active:
        lines = [f"  # {source.id}: no claim's evidence is watched here"] + [
            "  # " + line.strip() for line in lines]
    return lines


def _claim(claim: DraftClaim) -> list[str]:
    active = [item for item in claim.items if item.active]
    head = [f"      # {_flat(claim.origin)}"]
    body = [f"      - id: {claim.id}", *_text("        text", words(claim.text))]
    if claim.verdict:
        body.append(f"        verdict: {_scalar(words(claim.verdict))}   # as the page rates it")
    else:
        body.append("        verdict: Supported   # the page states this finding and rates "
                    "nothing here: check it")
    body.append("        evidence:")
    for item in claim.items:
        body += _item(item)
    if not active:  # nothing could be watched: the claim stays, commented out, with the reason
        return head + ["      # no citation of this claim could be read or matched:"] + [
            "      # " + line[6:] for line in body]
    return head + body


def _item(item: DraftItem) -> list[str]:
    marker = f"[{item.marker}] " if item.marker and item.marker.isdigit() else ""
    score = "" if item.score is None else f"score {item.score:.2f}: "
    if item.expectation is None:
        return [f"          # {marker}{item.source}: {_flat(item.why)}",
                f"          # - source: {item.source}", "          #   changes: any"]
    lines = [f"          # {marker}{score}{_flat(item.why)}",
             f"          #   ({_flat(item.words or '')})",
             f"          - source: {item.source}"]
    for name, value in item.expectation.items():
        lines += _text(f"            {name}", value) if isinstance(value, str) else [
            f"            {name}: {_scalar(value)}"]
    return lines


def _text(key: str, value: str) -> list[str]:
    """`key: value`, folded over several lines (`>-`) when long, as the desk writes texts; the
    plain or quoted form when folding would not read back the same."""
    one = f"{key}: {_scalar(value)}"
    if len(one) <= WIDTH:
        return [one]
    indent = " " * (len(key) - len(key.lstrip()) + 2)
    wrapped = textwrap.wrap(value, WIDTH - len(indent), break_long_words=False,
                            break_on_hyphens=False)
    folded = [f"{key}: >-", *(indent + line for line in wrapped)]
    try:
        same = yaml.safe_load(textwrap.dedent("\n".join(folded)))
    except yaml.YAMLError:
        same = None
    return folded if same == {key.strip(): value} else [one]


def words(text: str) -> str:
    """Page words as the draft holds them: printable, and never an `${ENV}` reference (the
    configuration would read one from the environment)."""
    return printable(text).replace("${", "$ {")


def _scalar(value: Any) -> str:
    """A value as one line of YAML that PyYAML reads back as `value`."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9,
                          sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _flat(text: str) -> str:
    """Page text fit for a comment: one printable line, not too long."""
    text = " ".join(printable(str(text)).split())
    return text if len(text) <= COMMENT_CHARS else text[:COMMENT_CHARS - 1] + "\u2026"
