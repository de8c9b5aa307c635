"""The error tree. The CLI maps these to exit codes in one place (`cli.main`).

    ClaimwatchError            anything claimwatch reports as one clear line
    ├── ConfigError            sources.yaml is wrong (exit 2); carries every problem found
    ├── UsageError             bad command-line input: unknown source, flag, snapshot (exit 2)
    ├── FetchError             the network side of one source failed (recorded, not raised to users)
    ├── ExtractError           a document could not be read as its kind (recorded as `error`)
    └── AlertError             a channel refused an alert (recorded, retried; secrets redacted)
"""

from __future__ import annotations


class ClaimwatchError(Exception):
    """Base of everything claimwatch reports as one clear line."""

    exit_code = 1


class ConfigError(ClaimwatchError):
    """sources.yaml is invalid; `problems` holds every `FILE:LINE: message` found."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class UsageError(ClaimwatchError):
    """The command line names something that does not exist or is inconsistent."""

    exit_code = 2


class FetchError(ClaimwatchError):
    """Fetching a source failed; the message is what gets recorded."""


class ExtractError(ClaimwatchError):
    """A fetched document could not be read as the kind it claims to be."""


class AlertError(ClaimwatchError):
    """An alert channel could not take a message; the message is safe to record and print."""
