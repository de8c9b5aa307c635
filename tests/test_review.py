"""Reviews (SPEC §1 Outcomes, §2 review): each decision closes the flag and makes the flagged
snapshot the item's new baseline; `revised` moves the claim's verdict and keeps its history."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db import Store
from db.models import ClaimRow, VerdictRow
from pipeline import api, config
from pipeline.demo.server import SiteServer
from pipeline.errors import UsageError
from pipeline.fetch import FetchSettings

FAST = FetchSettings(user_agent="claimwatch-test", timeout=2, connect_timeout=1, retries=0,
                     backoff_base=0.01, host_delay=0)
HEADER = "STATE,LAW ENFORCEMENT AGENCY\n"
AGENCIES = [f"MINNESOTA,{name} County Sheriff's Office\n" for name in
            ("Cass", "Crow Wing", "Freeborn", "Itasca", "Jackson", "Kandiyohi", "Sherburne",
             "Isanti")]


def sources(site: SiteServer, verdict: str = "Supported") -> config.Config:
    return config.parse(f"""\
version: 1
sources:
  ice: {{url: "{site.url('list.csv')}"}}
  mpd: {{url: "{site.url('mpd.html')}", select: main}}
factchecks:
  - id: fc
    title: Did Minnesota police join ICE
    claims:
      - id: six-agencies
        text: Six Minnesota agencies have 287(g) agreements.
        verdict: {verdict}
        evidence:
          - source: ice
            table: {{where: {{STATE: Minnesota}}, count: 6, distinct: LAW ENFORCEMENT AGENCY}}
      - id: mpd-no-escort
        text: MPD will not escort ICE.
        verdict: Supported
        evidence:
          - {{source: mpd, quote: more clearly prohibit assisting ICE}}
""")


def serve(site: SiteServer, agencies: int, quote: bool = True) -> None:
    (site.root / "list.csv").write_text(HEADER + "".join(AGENCIES[:agencies]))
    text = "The revised policies more clearly prohibit assisting ICE." if quote else "Revised."
    (site.root / "mpd.html").write_text(f"<html><body><main><p>{text}</p></main></body></html>")


def check(store: Store, cfg: config.Config) -> list[tuple[str, str]]:
    return [(f.claim, f.outcome) for f in
            api.check(store, cfg, everything=True, settings=FAST).flags]


def only_flag(store: Store) -> int:
    [flag] = api.flags(store)
    return int(flag.id)


@pytest.mark.parametrize("decision", ["upheld", "revised", "dismissed"])
def test_an_accepted_count_stays_quiet_until_it_moves_again(store: Store, site: SiteServer,
                                                            decision: str) -> None:
    cfg = sources(site)
    serve(site, 6)
    assert check(store, cfg) == []
    serve(site, 7)
    assert check(store, cfg) == [("six-agencies", "broken")]
    verdict = "Outdated: seven agencies" if decision == "revised" else None
    reviewed = api.review(store, only_flag(store), decision=decision, reviewer="J. Doe",
                          note="ICE list updated", verdict=verdict)
    assert reviewed.flag.status == "reviewed" and reviewed.flag.review.by == "J. Doe"
    assert api.flags(store) == []
    assert check(store, cfg) == [], "7 was accepted: the same observation stays quiet"
    serve(site, 8)
    assert check(store, cfg) == [("six-agencies", "broken")], "the next real move flags again"
    with store.session() as session:
        claim = session.scalars(select(ClaimRow).where(ClaimRow.slug == "six-agencies")).one()
        history = [v.verdict for v in session.scalars(
            select(VerdictRow).where(VerdictRow.claim_id == claim.id).order_by(VerdictRow.id))]
        assert claim.verdict == (verdict or "Supported")
        assert history == ["Supported"] + ([verdict] if verdict else [])


def test_evidence_back_after_being_accepted_missing_is_changed(store: Store,
                                                               site: SiteServer) -> None:
    cfg = sources(site)
    serve(site, 6)
    check(store, cfg)
    serve(site, 6, quote=False)
    assert check(store, cfg) == [("mpd-no-escort", "broken")]
    api.review(store, only_flag(store), decision="upheld", reviewer="A. Editor")
    serve(site, 6, quote=True)
    assert check(store, cfg) == [("mpd-no-escort", "changed")]


def test_a_page_accepted_as_gone_stays_quiet(store: Store, site: SiteServer) -> None:
    cfg = sources(site)
    serve(site, 6)
    check(store, cfg)
    site.status = 410
    assert sorted(check(store, cfg)) == [("mpd-no-escort", "unreachable"),
                                         ("six-agencies", "unreachable")]
    for flag in api.flags(store):
        api.review(store, flag.id, decision="dismissed", reviewer="A. Editor",
                   note="archived by the agency")
    assert check(store, cfg) == []
    site.status = None
    serve(site, 7)
    assert check(store, cfg) == [("six-agencies", "broken")]


def test_a_revised_verdict_survives_the_next_sync_until_the_file_changes(
        store: Store, site: SiteServer) -> None:
    serve(site, 6)
    check(store, sources(site))
    serve(site, 7)
    check(store, sources(site))
    api.review(store, only_flag(store), decision="revised", reviewer="J. Doe",
               verdict="Outdated")
    check(store, sources(site))
    with store.session() as session:
        claim = session.scalars(select(ClaimRow).where(ClaimRow.slug == "six-agencies")).one()
        assert claim.verdict == "Outdated"
    check(store, sources(site, verdict="Mostly accurate"))
    with store.session() as session:
        claim = session.scalars(select(ClaimRow).where(ClaimRow.slug == "six-agencies")).one()
        assert claim.verdict == "Mostly accurate", "an edit of sources.yaml is the newest word"


def test_review_errors(store: Store, site: SiteServer) -> None:
    serve(site, 7)
    check(store, sources(site))
    flag_id = only_flag(store)
    with pytest.raises(UsageError, match="there is no flag 999"):
        api.review(store, 999, decision="upheld", reviewer="X")
    with pytest.raises(UsageError, match="needs the claim's new verdict") as missing:
        api.review(store, flag_id, decision="revised", reviewer="X")
    assert missing.value.field == "verdict", "errors name the field, for a form or the CLI"
    with pytest.raises(UsageError, match="reviewer's name") as empty:
        api.review(store, flag_id, decision="upheld", reviewer="  ")
    assert empty.value.field == "reviewer"
    api.review(store, flag_id, decision="upheld", reviewer="J. Doe")
    with pytest.raises(UsageError, match="already reviewed by J. Doe"):
        api.review(store, flag_id, decision="dismissed", reviewer="X")
    [listed] = api.flags(store, include_closed=True)
    assert listed.status == "reviewed" and listed.review.decision == "upheld"


@pytest.mark.parametrize("huge", [3_000_000_000, 10**20])
def test_an_id_too_large_for_any_row_is_missing_not_an_overflow(store: Store, site: SiteServer,
                                                                huge: int) -> None:
    """3,000,000,000 overflows PostgreSQL's integer ids, 10**20 SQLite's too."""
    serve(site, 7)
    cfg = sources(site)
    check(store, cfg)
    with pytest.raises(UsageError, match=f"there is no flag {huge}"):
        api.review(store, huge, decision="upheld", reviewer="X")
    for ends in ({"from_id": huge}, {"to_id": huge}):
        with pytest.raises(UsageError, match=f"snapshot {huge} does not exist"):
            api.source_diff(store, cfg, "ice", **ends)
