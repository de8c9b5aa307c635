"""Secrets in sources.yaml: `${NAME}` is read from the environment. In a source's URL it stays
written as `${NAME}` everywhere claimwatch keeps or shows it (rows, audit events, alerts,
reports, logs, errors) and is expanded only to make the request; whatever comes back (final
URLs, headers, error lines, a body that echoes the key) is redacted to `${NAME}` again before it
is stored. Alert channels' URLs are masked by `alerts.channels` in the same spirit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote

from pipeline.fetch import Attempt, FetchResult

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MIN_SECRET = 4  # a shorter value would be found all over ordinary text


def expand(text: str, env: Mapping[str, str] = os.environ) -> str:
    """`text` with each `${NAME}` replaced by its value (left as written when it is not set:
    validation reports that)."""
    return PLACEHOLDER.sub(lambda m: env.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True)
class Redactor:
    """Puts `${NAME}` back wherever a secret's value shows up, as written or URL-quoted."""

    pairs: tuple[tuple[str, str], ...] = ()  # (value, "${NAME}"), longest value first

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def __call__(self, text: str) -> str:
        for value, placeholder in self.pairs:
            text = text.replace(value, placeholder)
        return text

    def body(self, data: bytes) -> bytes:
        for value, placeholder in self.pairs:
            data = data.replace(value.encode(), placeholder.encode())
        return data

    def result(self, result: FetchResult) -> FetchResult:
        """A fetch's result as it may be stored: URLs, headers, errors and body redacted."""
        if not self:
            return result
        return replace(
            result, url=self(result.url), final_url=self(result.final_url),
            headers={k: self(v) for k, v in result.headers.items()},
            body=self.body(result.body) if result.body is not None else None,
            error=self(result.error) if result.error else result.error,
            attempts=tuple(self.attempt(a) for a in result.attempts))

    def attempt(self, attempt: Attempt) -> Attempt:
        return replace(attempt, url=self(attempt.url),
                       final_url=self(attempt.final_url) if attempt.final_url else None,
                       error=self(attempt.error) if attempt.error else None)


def redactor(template: str, env: Mapping[str, str] = os.environ) -> Redactor:
    """What to hide of `template`'s expansion: each `${NAME}`'s value, and its URL-quoted form."""
    pairs: dict[str, str] = {}
    for name in PLACEHOLDER.findall(template):
        value = env.get(name)
        if value is None or len(value) < MIN_SECRET:
            continue
        for form in (value, quote(value, safe=""), quote(value, safe="/")):
            pairs[form] = f"${{{name}}}"
    return Redactor(tuple(sorted(pairs.items(), key=lambda p: -len(p[0]))))
