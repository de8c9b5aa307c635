"""claimwatch: watch the sources a fact-check cites and flag the claims whose evidence changed.

The stages live one per module (config, fetch, extract/, evaluate, diff, check); `api` is the
library surface the CLI (and later a web UI) calls. See docs/architecture.md.
"""

__version__ = "0.1.0"
