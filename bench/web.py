"""The synthetic "web" of the benchmark: N sources written into a directory that nginx serves.

Each source is deterministic in (seed, index, version): version 1 is what the first check sees,
version 2 is the edit of the 10%-changed re-check. Kinds: news-like HTML pages of 40-100 KB (a
big <head> with inline CSS, JSON-LD and scripts, nav, most-read rails, an <article>), XLSX lists,
JSON documents and RSS feeds. Every body is unique, so content-addressed storage dedupes nothing
that a real web would not let it dedupe.

Also writes the two equivalent configurations: claimwatch's sources.yaml and urlwatch's jobs file.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _list(text: str) -> list[str]:
    return text.split()


WORDS = _list("""
the of and to in a is that for it as was with be by on not he this are or his from at which
but have an they you were her she there been one all we their has would when if so no out up
said what its about into than them can only other new some could time these two may then do
first any my now such like our over man me even most made after also did many before must
through back years where much your way well down should because each just those people how too
little state good very make world still own see men work long get here between both life being
under never day same another know while last might us great old year off come since against go
came right used take three council police county officials report department agency federal
policy program budget court judge lawyer public records statement spokesperson mayor governor
senator election voters ballot law bill hearing committee investigation audit data survey
percent million billion increase decrease schools hospital health housing city residents
community neighborhood water transit road bridge contract vendor grant funding tax revenue
spending deficit agreement memorandum enforcement immigration detention jail sheriff officer
chief board meeting minutes vote approved rejected proposal plan review analysis figures shows
according documents obtained request release press office announced confirmed declined comment
told interview email letter filing lawsuit settlement complaint ruling appeal decision order
rule regulation standard guidance memo training use force body camera footage incident arrest
charges prosecutor attorney defense trial jury verdict sentence prison program services staff
employees union wages pension benefits costs prices inflation economy jobs unemployment
business companies industry market workers farmers rural urban growth population census
counties districts precincts turnout results campaign donors spending advertising claims
fact check evidence source quote context missing misleading accurate false true mostly half
researchers university study published journal experts scientists climate weather storm flood
drought fire emergency response crews residents evacuated damage recovery aid relief shelter
""")

STATES = _list("Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida "
          "Georgia Hawaii Idaho Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland "
          "Massachusetts Michigan Minnesota Mississippi Missouri Montana Nebraska Nevada Ohio "
          "Oklahoma Oregon Pennsylvania Tennessee Texas Utah Vermont Virginia Washington "
          "Wisconsin Wyoming")
FIRST = _list("Ana Ben Carla David Elena Farah Grace Hector Irene Jamal Karen Luis Maya Noah")
LAST = _list("Garcia Nguyen Smith Johnson Olson Larson Ahmed Kim Patel Brown Davis Lopez Hill")
SITES = ["Daily Ledger", "Metro Tribune", "Valley Reformer", "State Observer", "River Courier",
         "Capitol Report", "Northern Star", "Public Record", "Lakeside Herald"]
# never produced by the generator: the feeds' `new_items` evidence watches for them
FEED_WATCH = r"(?i)\b(correction|retraction|clarification)\b"

KIND_SUFFIX = {"html": ".html", "xlsx": ".xlsx", "json": ".json", "feed": ".rss"}


@dataclass
class Source:
    index: int
    slug: str
    kind: str
    host: str
    path: str  # URL path, also the file's path under the web root
    evidence: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    size: int = 0  # bytes of version 1
    packed: int = 0  # zstd -9 of version 1 (html only), for the report

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}{self.path}"


def kind_of(index: int, mix: dict[str, float]) -> str:
    """Deterministic kinds spread evenly: with 85/5/5/5, every 20 sources hold 17 html, 1 each."""
    rng = random.Random(f"kind:{index}")
    pick, acc = rng.random(), 0.0
    for kind, share in mix.items():
        acc += share
        if pick < acc:
            return kind
    return "html"


def plan(n: int, hosts: list[str], mix: dict[str, float]) -> list[Source]:
    """The N sources, spread round-robin over the loopback hosts."""
    sources = []
    for i in range(n):
        kind = kind_of(i, mix)
        slug = f"s{i:05d}"
        host = hosts[i % len(hosts)]
        site = SITES[i % len(SITES)].lower().replace(" ", "-")
        path = f"/{site}/{i // 500:03d}/{slug}{KIND_SUFFIX[kind]}"
        sources.append(Source(i, slug, kind, host, path))
    return sources


# --- text --------------------------------------------------------------------------------------


def words(rng: random.Random, n: int) -> list[str]:
    return rng.choices(WORDS, k=n)


def sentence(rng: random.Random, lo: int = 9, hi: int = 26) -> str:
    ws = words(rng, rng.randint(lo, hi))
    if rng.random() < 0.3:
        ws.insert(rng.randrange(len(ws)), f"{rng.randint(2, 9999):,}")
    if rng.random() < 0.3:
        ws.insert(rng.randrange(len(ws)), f"{rng.choice(FIRST)} {rng.choice(LAST)}")
    text = " ".join(ws)
    return text[0].upper() + text[1:] + "."


def headline(rng: random.Random) -> str:
    return " ".join(w.capitalize() for w in words(rng, rng.randint(6, 12)))


def ident(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=n))


# --- HTML --------------------------------------------------------------------------------------


@dataclass
class Article:
    headline: str
    paragraphs: list[list[str]]  # sentences
    changed: int  # the paragraph version 2 rewrites
    quotes: list[str]


def article(rng: random.Random, index: int) -> Article:
    paragraphs = [[sentence(rng) for _ in range(rng.randint(2, 5))]
                  for _ in range(rng.randint(9, 18))]
    changed = rng.randrange(1, len(paragraphs))
    quotes = []
    for _ in range(1 + (rng.random() < 0.5)):
        p = rng.choice([k for k in range(len(paragraphs)) if k != changed])
        s = rng.choice(paragraphs[p]).rstrip(".").split(" ")
        start = rng.randrange(max(1, len(s) - 7))
        quote = " ".join(s[start:start + rng.randint(6, 12)])
        if len(quote) >= 20 and quote not in quotes:
            quotes.append(quote)
    if not quotes:
        quotes.append(" ".join(paragraphs[0][0].split(" ")[:8]))
    return Article(headline(rng), paragraphs, changed, quotes)


_PROPS = ["margin", "padding", "color", "background-color", "font-size", "line-height",
          "display", "border-bottom", "grid-template-columns", "max-width", "letter-spacing",
          "font-weight", "text-transform", "gap", "flex", "position", "top", "z-index"]
_VALUES = ["0", "auto", "1rem", "0.5rem", "2rem", "12px", "16px", "24px", "100%", "block", "flex",
           "none", "grid", "700", "400", "uppercase", "relative", "1fr 300px", "1px solid #e2e2e2"]


@dataclass(frozen=True)
class SiteAssets:
    """What every page of one site shares: its stylesheet and script (inlined in each page's
    <head>, as news sites do with their critical CSS), and its vocabulary of class names."""

    css: str
    script: str
    classes: tuple[str, ...]


_ASSETS: dict[tuple[int, int], SiteAssets] = {}


def site_assets(seed: int, site: int) -> SiteAssets:
    if (seed, site) not in _ASSETS:
        rng = random.Random(f"{seed}:site:{site}")
        blocks = ["story", "card", "rail", "nav", "btn", "hed", "dek", "promo", "media", "footer",
                  "header", "ad", "byline", "share", "newsletter", "related", "section", "label"]
        elems = ["", "__title", "__link", "__image", "__meta", "__body", "__icon", "__list"]
        mods = ["", "--large", "--compact", "--dark", "--featured", "--sticky"]
        classes = tuple(sorted({f"{rng.choice(blocks)}{rng.choice(elems)}{rng.choice(mods)}"
                                for _ in range(400)}))
        palette = [f"#{rng.randrange(0x1000000):06x}" for _ in range(14)]
        rules = []
        for _ in range(2200):
            sel = "." + rng.choice(classes)
            if rng.random() < 0.35:
                sel += f" .{rng.choice(classes)}"
            if rng.random() < 0.15:
                sel += rng.choice([":hover", ":focus", "::before", ":first-child"])
            decl = ";".join(
                f"{p}:{rng.choice(palette) if 'color' in p else rng.choice(_VALUES)}"
                for p in rng.sample(_PROPS, rng.randint(2, 6)))
            rule = f"{sel}{{{decl}}}"
            if rng.random() < 0.06:
                rule = f"@media (min-width:{rng.choice([640, 768, 1024, 1280])}px){{{rule}}}"
            rules.append(rule + "\n")
        names = [f"{rng.choice(WORDS)}{rng.choice(WORDS).capitalize()}" for _ in range(120)]
        lines = ["(function(w,d){'use strict';"]
        for _ in range(900):
            f, g = rng.sample(names, 2)
            lines.append(
                f"function {f}(a,b){{var c=a&&a.{rng.choice(names)}||{rng.randint(0, 99)};"
                f"if(c>{rng.randint(0, 9)}){{w.dataLayer=w.dataLayer||[];w.dataLayer.push("
                f"{{event:'{g}',value:c}})}}return b?d.querySelector('.{rng.choice(classes)}')"
                f":{g}(c)}}\n")
        lines.append("})(window,document);")
        _ASSETS[(seed, site)] = SiteAssets("".join(rules), "".join(lines), classes)
    return _ASSETS[(seed, site)]


def _cut(text: str, size: int) -> str:
    """The first `size` characters of a site asset, ending at a line."""
    end = text.rfind("\n", 0, size)
    return text[: end + 1 if end > 0 else size]


def _config_json(rng: random.Random, assets: SiteAssets, size: int) -> str:
    data: dict[str, Any] = {"site": ident(rng), "ads": [], "features": {}}
    total = 0
    while total < size:
        slot = {"id": f"div-gpt-ad-{rng.randint(1_000_000, 9_999_999)}-{rng.randint(0, 9)}",
                "sizes": [[300, 250], [728, 90]] if rng.random() < 0.5 else [[300, 600]],
                "targeting": {"section": rng.choice(WORDS), "kw": words(rng, 4),
                              "pos": rng.choice(["top", "mid", "bottom", "rail"])},
                "lazy": rng.random() < 0.5, "className": rng.choice(assets.classes)}
        data["ads"].append(slot)
        data["features"][rng.choice(WORDS) + "_" + rng.choice(WORDS)] = rng.random() < 0.5
        total += 230
    return json.dumps(data, separators=(",", ":"))


def _rail(rng: random.Random, title: str, n: int, cls: str) -> str:
    items = "".join(
        f'<li class="{cls}__item"><a class="{cls}__link" href="/2026/{rng.randint(1, 12):02d}/'
        f'{"-".join(words(rng, 5))}/">{html.escape(headline(rng))}</a>'
        f'<p class="{cls}__dek">{html.escape(sentence(rng, 8, 14))}</p>'
        f'<span class="{cls}__meta">{rng.randint(1, 59)} min read</span></li>'
        for _ in range(n))
    return (f'<section class="{cls}"><h2 class="{cls}__title">{title}</h2>'
            f'<ol class="{cls}__list">{items}</ol></section>')


def _nav(rng: random.Random, n: int) -> str:
    links = "".join(f'<li class="nav__item"><a class="nav__link" href="/{w}/">{w.capitalize()}'
                    f"</a></li>" for w in rng.sample(WORDS, n))
    return f'<nav class="primary-nav" aria-label="Sections"><ul>{links}</ul></nav>'


def _paragraph(rng: random.Random, sentences: list[str]) -> str:
    text = html.escape(" ".join(sentences))
    if rng.random() < 0.4:  # an inline link around a few words, as articles have
        ws = text.split(" ")
        k = rng.randrange(len(ws) - 3)
        ws[k] = f'<a href="/{ident(rng, 6)}/">{ws[k]}'
        ws[k + 2] += "</a>"
        text = " ".join(ws)
    return f"<p>{text}</p>"


def render_html(seed: int, src: Source, version: int) -> tuple[bytes, Article]:
    """The page at `version`. Version 2 differs from 1 in one article paragraph, the "Updated"
    time and every sidebar (most-read rails, breaking bar, ad slot): the edit a real page gets."""
    rng = random.Random(f"{seed}:{src.index}:page")
    target = int(rng.triangular(40_000, 100_000, 100_000))
    art = article(rng, src.index)
    site_no = src.index % len(SITES)
    site, assets = SITES[site_no], site_assets(seed, site_no)
    byline = f"By {rng.choice(FIRST)} {rng.choice(LAST)}"
    published = dt.datetime(2026, 1, 1) + dt.timedelta(minutes=rng.randrange(400_000))
    head_rng = random.Random(f"{seed}:{src.index}:head")
    config_seed = head_rng.random()
    image, caption = ident(head_rng), sentence(head_rng, 8, 14)
    nav = _nav(head_rng, 36)
    footer = "".join(f'<a class="footer__link" href="/{w}/">{w.capitalize()}</a>'
                     for w in words(head_rng, 30))
    keywords = words(head_rng, 12)

    def page(version: int, head_room: int | None) -> str:
        updated = published + dt.timedelta(hours=3 * version)
        paragraphs = [list(p) for p in art.paragraphs]
        if version > 1:
            edit = random.Random(f"{seed}:{src.index}:edit:{version}")
            paragraphs[art.changed] = [sentence(edit) for _ in paragraphs[art.changed]]
        side = random.Random(f"{seed}:{src.index}:side:{version}")
        ld = {"@context": "https://schema.org", "@type": "NewsArticle",
              "headline": art.headline, "datePublished": published.isoformat(),
              "dateModified": updated.isoformat(),
              "author": [{"@type": "Person", "name": byline[3:]}],
              "publisher": {"@type": "Organization", "name": site},
              "description": " ".join(art.paragraphs[0]), "keywords": keywords}
        meta = "".join(f'<meta property="og:{k}" content="{html.escape(v)}">'
                       for k, v in (("title", art.headline), ("site_name", site),
                                    ("type", "article"),
                                    ("description", " ".join(art.paragraphs[0])[:200])))
        body_paragraphs = "\n".join(
            _paragraph(random.Random(f"{seed}:{src.index}:p{k}:{version if k == art.changed else 1}"
                                     ), p) for k, p in enumerate(paragraphs))
        article_html = (
            f'<article class="story" id="story-{src.slug}"><header class="story__header">'
            f'<h1 class="story__title">{html.escape(art.headline)}</h1><p class="byline">'
            f'{byline} · <time datetime="{updated.isoformat()}">Updated: '
            f'{updated:%B %d, %Y %H:%M}</time></p></header><figure class="media">'
            f'<img src="/img/{image}.jpg" alt="" width="1200" height="675">'
            f'<figcaption>{html.escape(caption)}</figcaption></figure>\n'
            f'{body_paragraphs}\n</article>')
        rails = (_rail(side, "Most read", 10, "most-read")
                 + _rail(side, "Latest", side.randint(8, 15), "latest")
                 + f'<div class="ad-slot" data-slot="{ident(side, 10)}"></div>')
        left = _rail(side, "Trending", side.randint(5, 8), "trending")
        if head_room is None:
            css = script = ""
            config = "{}"
        else:
            css = _cut(assets.css, int(head_room * 0.5))
            script = _cut(assets.script, int(head_room * 0.25))
            config = _config_json(random.Random(config_seed), assets, int(head_room * 0.25))
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{html.escape(art.headline)} | {site}</title>{meta}'
            f'<link rel="preload" href="/static/fonts/{site_no}.woff2" as="font">'
            f'<style>{css}</style>'
            f'<script type="application/ld+json">{json.dumps(ld)}</script>'
            f'<script>window.__CONFIG__={config};</script><script>{script}</script></head>\n'
            f'<body class="article-page"><a class="skip" href="#story-{src.slug}">Skip</a>'
            f'<header class="site-header"><div class="logo">{site}</div>{nav}'
            f'</header><div class="breaking">Breaking: {html.escape(headline(side))}</div>'
            f'<main class="layout"><aside class="left-rail">{left}</aside>\n{article_html}\n'
            f'<aside class="right-rail">{rails}</aside></main>'
            f'<footer class="site-footer">{footer}<p>© 2026 {site}</p></footer></body></html>\n')

    # the head is sized on version 1, so an edit leaves it as it was (the head is where pages
    # are big: inlined CSS, scripts and ad configuration)
    room = max(6_000, target - len(page(1, None).encode()))
    return page(version, room).encode(), art


# --- XLSX, JSON, RSS ---------------------------------------------------------------------------


def _list_rows(seed: int, src: Source, version: int) -> tuple[list[list[Any]], str]:
    rng = random.Random(f"{seed}:{src.index}:list")
    states = rng.sample(STATES, 8)
    rows = [[rng.choice(states), f"{rng.choice(LAST)} County {rng.choice(['Sheriff', 'Jail'])}"
             f" {ident(rng, 3).upper()}", rng.choice(["Jail Enforcement", "Task Force",
                                                       "Warrant Service"]),
             dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(2500))]
            for _ in range(rng.randint(150, 400))]
    watched = rows[0][0]
    if version > 1:  # another state's row changes: the watched state's count does not
        edit = random.Random(f"{seed}:{src.index}:edit:{version}")
        other = [r for r in rows if r[0] != watched]
        for row in edit.sample(other, min(3, len(other))):
            row[1] = f"{edit.choice(LAST)} Police Department {ident(edit, 3).upper()}"
    return rows, watched


def render_xlsx(seed: int, src: Source, version: int) -> tuple[bytes, dict[str, Any]]:
    import openpyxl  # claimwatch's own dependency; imported here so only xlsx generation pays

    rows, watched = _list_rows(seed, src, version)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([f"Participating agencies, list {src.slug} (generated for the benchmark)"])
    sheet.append([])
    sheet.append(["STATE", "LAW ENFORCEMENT AGENCY", "SUPPORT TYPE", "SIGNED"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    count = sum(r[0] == watched for r in rows)
    return out.getvalue(), {"table": {"where": {"STATE": watched}, "count": count}}


def render_json(seed: int, src: Source, version: int) -> tuple[bytes, dict[str, Any]]:
    rng = random.Random(f"{seed}:{src.index}:json")
    records = [{"id": ident(rng, 12), "state": rng.choice(STATES), "agency": headline(rng),
                "amount": rng.randint(1_000, 9_000_000), "notes": sentence(rng, 6, 16)}
               for _ in range(rng.randint(60, 200))]
    total = sum(r["amount"] for r in records)
    generated = dt.datetime(2026, 3, 1, 12) + dt.timedelta(hours=version)
    if version > 1:  # one record's notes and the build time change; the total does not
        edit = random.Random(f"{seed}:{src.index}:edit:{version}")
        edit.choice(records)["notes"] = sentence(edit, 6, 16)
    doc = {"meta": {"generated": generated.isoformat(), "source": src.slug, "version": "v2"},
           "data": {"summary": {"total": total, "records": len(records)}, "records": records}}
    body = json.dumps(doc, indent=1).encode()
    return body, {"json": {"path": "data.summary.total", "equals": total}}


def render_feed(seed: int, src: Source, version: int) -> tuple[bytes, dict[str, Any]]:
    rng = random.Random(f"{seed}:{src.index}:feed")
    site = SITES[src.index % len(SITES)]
    base = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    items = [(headline(rng), sentence(rng, 20, 40), base - dt.timedelta(hours=4 * k), k)
             for k in range(rng.randint(20, 30))]
    if version > 1:  # a new story on top (it matches no watched word), the oldest drops off
        edit = random.Random(f"{seed}:{src.index}:edit:{version}")
        items = [(headline(edit), sentence(edit, 20, 40), base + dt.timedelta(hours=1), -1),
                 *items[:-1]]
    entries = "".join(
        f"<item><title>{html.escape(t)}</title>"
        f"<link>http://{src.host}/{src.slug}/story-{k}</link>"
        f'<guid isPermaLink="false">{src.slug}-{k}</guid>'
        f"<pubDate>{when:%a, %d %b %Y %H:%M:%S} +0000</pubDate>"
        f"<description>{html.escape(f'<p>{d}</p>')}</description></item>\n"
        for t, d, when, k in items)
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{site} — {src.slug}</title><link>http://{src.host}/</link>"
            f"<description>Latest stories</description>"
            f"<lastBuildDate>{base + dt.timedelta(hours=version):%a, %d %b %Y %H:%M:%S} +0000"
            f"</lastBuildDate>\n{entries}</channel></rss>\n")
    return body.encode(), {"new_items": FEED_WATCH}


def render(seed: int, src: Source, version: int) -> bytes:
    """The source's body at `version`; fills in `src.evidence` and `src.title`."""
    if src.kind == "html":
        body, art = render_html(seed, src, version)
        src.evidence = [{"quote": q} for q in art.quotes]
        src.title = art.headline
        return body
    renderer = {"xlsx": render_xlsx, "json": render_json, "feed": render_feed}[src.kind]
    body, expectation = renderer(seed, src, version)
    src.evidence = [expectation]
    src.title = f"{src.kind} document {src.slug}"
    return body


def write(root: Path, src: Source, body: bytes, mtime: float | None = None) -> int:
    """Write the body in place (same path, same inode when it exists); return its size."""
    path = root / src.path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(body)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return len(body)


# --- configurations ----------------------------------------------------------------------------


def sources_yaml(sources: list[Source], port: int, per_factcheck: int = 10) -> dict[str, Any]:
    """claimwatch's sources.yaml: html with `select: article` and its quotes, xlsx with a table
    count, JSON with a path, feeds with `new_items`; one fact-check per `per_factcheck` sources."""
    config: dict[str, Any] = {
        "version": 1,
        "desk": {"name": "claimwatch benchmark", "contact": "bench@example.invalid"},
        "defaults": {"every": "1h", "timeout": "30s", "max_bytes": "20MB"},
        "sources": {},
        "factchecks": [],
    }
    for src in sources:
        entry: dict[str, Any] = {"url": src.url(port)}
        if src.kind == "html":
            entry["select"] = "article"
        config["sources"][src.slug] = entry
    for start in range(0, len(sources), per_factcheck):
        group = sources[start:start + per_factcheck]
        claims = []
        for src in group:
            for k, expectation in enumerate(src.evidence, 1):
                claims.append({"id": f"{src.slug}-c{k}",
                               "text": f"Claim {k} resting on {src.slug}: {src.title[:60]}",
                               "verdict": "Supported",
                               "evidence": [{"source": src.slug, **expectation}]})
        config["factchecks"].append({"id": f"fc-{start // per_factcheck:05d}",
                                     "title": f"Benchmark fact-check {start // per_factcheck}",
                                     "claims": claims})
    return config


def urlwatch_jobs(sources: list[Source], port: int) -> list[dict[str, Any]]:
    """urlwatch's equivalent: `css` on the article + `html2text` for pages; JSON reformatted;
    feeds as they are; workbooks (which urlwatch cannot read) by their sha1, as its docs
    suggest for binary files."""
    jobs = []
    for src in sources:
        job: dict[str, Any] = {"name": src.slug, "url": src.url(port)}
        if src.kind == "html":
            job["filter"] = [{"css": "article"}, "html2text"]
        elif src.kind == "json":
            job["filter"] = ["format-json"]
        elif src.kind == "xlsx":
            job["filter"] = ["sha1sum"]
        jobs.append(job)
    return jobs
