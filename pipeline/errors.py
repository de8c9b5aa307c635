"""The error tree. The CLI maps these to exit codes in one place (`cli.main`), the web layer to
HTTP statuses (problem+json); both show the same one-line message.

    ClaimwatchError            anything claimwatch reports as one clear line
    ├── ConfigError            sources.yaml is wrong (exit 2); carries every problem found
    ├── UsageError             bad input to the library (exit 2, HTTP 400); `field` names it
    │   ├── NotFound           it names a flag, claim, source or snapshot that does not exist
    │   └── Conflict           the state moved meanwhile (a flag reviewed by someone else)
    ├── NotWritable            claimwatch may not write a file it would edit; carries the diff
    ├── Unauthorized           wrong credentials, or too many failed logins (HTTP 401)
    ├── Forbidden              the account's role does not allow it (HTTP 403)
    ├── FetchError             the network side of one source failed (recorded, not raised to users)
    ├── ExtractError           a document could not be read as its kind (recorded as `error`)
    └── AlertError             a channel refused an alert (recorded, retried; secrets redacted)

Library messages name fields (`reviewer`, `verdict`), never command-line flags: the CLI maps a
field to its flag (`--by`), a web form to its input.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception as one line: its message's first, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
    """The caller asked for something inconsistent; `field` is the input at fault, if one is."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class NotFound(UsageError):
    """The caller named something that does not exist (or no longer does)."""


class Conflict(UsageError):
    """What the caller acted on changed meanwhile, e.g. the flag was reviewed by someone else."""


class NotWritable(ClaimwatchError):
    """A file claimwatch would edit (sources.yaml) cannot be written: permissions, a read-only
    mount. Not a UsageError: the caller's request was fine, the deployment refuses it, so the
    message says so and carries the unified `diff` for an editor to apply by hand."""

    def __init__(self, path: object, reason: str, diff: str) -> None:
        self.path, self.reason, self.diff = path, reason, diff
        super().__init__(f"cannot write {path}: {reason}; make this edit by hand:\n{diff}")


class Unauthorized(ClaimwatchError):
    """Credentials that are wrong, or refused for now (`retry_after` seconds)."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class Forbidden(ClaimwatchError):
    """The account may not do this (its role does not allow it)."""


class FetchError(ClaimwatchError):
    """Fetching a source failed; the message is what gets recorded."""


class ExtractError(ClaimwatchError):
    """A fetched document could not be read as the kind it claims to be."""


class AlertError(ClaimwatchError):
    """An alert channel could not take a message; the message is safe to record and print."""
