"""Moving a desk's database (docs/deploy.md): every row keeps its id, the audit chain still
verifies, every version reads back (a chain of deltas, whichever order its blobs were copied
in), and claimwatch carries on on the copy (PostgreSQL sequences moved past copied ids)."""

from __future__ import annotations

from pathlib import Path

import pytest

from db import open_store
from db.copy import copy
from pipeline import api
from pipeline.demo.server import SiteServer
from pipeline.errors import UsageError
from tests.test_records import assert_every_snapshot_reads_back, pages
from tests.test_review import check, only_flag, serve, sources


def test_copy_keeps_everything_and_the_copy_works(tmp_path: Path, db_url: str,
                                                  site: SiteServer) -> None:
    original = open_store(f"sqlite:///{tmp_path / 'original.db'}")
    serve(site, 6)
    check(original, sources(site))
    serve(site, 7)
    check(original, sources(site))
    api.review(original, only_flag(original), decision="revised", reviewer="J. Doe",
               verdict="Outdated")
    pages(original, site, 5)  # the MPD page: a whole body, then deltas on it
    target = open_store(db_url)
    counts = copy(original, target)
    assert counts["snapshot"] == 3 + 5 and counts["audit_event"] > 10 and counts["review"] == 1
    assert api.flags(target, include_closed=True) == api.flags(original, include_closed=True)
    assert [e.text for e in api.history(target)] == [e.text for e in api.history(original)]
    assert api.audit_verify(target, deep=True).ok, "every blob re-hashes, deltas on their bases"
    assert_every_snapshot_reads_back(target)
    serve(site, 8)
    assert check(target, sources(site)) == [("six-agencies", "broken")], \
        "the copy carries on: new rows, the flag against the accepted baseline"
    assert api.audit_verify(target).ok
    with pytest.raises(UsageError, match="not empty"):
        copy(original, target)
    original.close()
    target.close()
