"""The desk's commands: `claimwatch serve` (the web desk) and `claimwatch users` (accounts and
API tokens). Thin, like `pipeline/cli.py`: options in, `pipeline.api` called, records printed.
"""

from __future__ import annotations

import json
import sys

import click

from pipeline.vocab import Role, iso


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (0.0.0.0: every interface; put HTTPS in front).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="The port to listen on (0: any free port, which is printed).")
@click.option("--secure-cookies/--no-secure-cookies", default=None,
              help="Mark session cookies Secure (default: when --host is not loopback).")
@click.pass_obj
def serve(obj: dict[str, str], host: str, port: int, secure_cookies: bool | None) -> None:
    """Serve the review desk (web pages and the REST API) on the same database and sources."""
    from desk.server import serve as run_server

    run_server(sources=obj["sources"], db_url=obj["db"], host=host, port=port,
               secure_cookies=secure_cookies)


@click.group()
def users() -> None:
    """Desk accounts: viewer (reads), checker (+ marks seen, comments), editor (+ reviews, check
    now, retires sources), admin (+ accounts and API tokens)."""


def _password(from_stdin: bool, name: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt(f"password for {name}", hide_input=True,
                            confirmation_prompt=True))


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--display-name", help="The name reviews and 'seen by' show (default: NAME).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def users_add(obj: dict[str, str], name: str, role: str, display_name: str | None,
              password_stdin: bool) -> None:
    """Add an account (the password is prompted for, or read with --password-stdin)."""
    from pipeline import api
    password = _password(password_stdin, name)
    with api.opened(obj["db"], create=True) as store:  # a desk's first step may be this
        account = api.add_user(store, name, role, password, display_name=display_name)
    click.echo(f"added {account.name} ({account.role})")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def users_list(obj: dict[str, str], as_json: bool) -> None:
    """Every account, its role and whether it is active."""
    from pipeline import api
    with api.opened(obj["db"], create=False) as store:
        found = api.users(store)
    if as_json:
        click.echo(json.dumps({"users": [a.to_json() for a in found]}, indent=2))
        return
    for a in found:
        click.echo(f"{a.name:<20} {a.role:<8} {'active' if a.active else 'disabled':<9} "
                   f"{a.display_name} (last login {iso(a.last_login_at) or 'never'})")
    if not found:
        click.echo("no accounts: add one with 'claimwatch users add NAME --role admin'")


@users.command("disable")
@click.argument("name")
@click.pass_obj
def users_disable(obj: dict[str, str], name: str) -> None:
    """Disable an account: its sessions end and its API tokens are revoked."""
    from pipeline import api
    with api.opened(obj["db"], create=False) as store:
        api.set_user_active(store, name, False)
    click.echo(f"disabled {name}")


@users.command("enable")
@click.argument("name")
@click.pass_obj
def users_enable(obj: dict[str, str], name: str) -> None:
    """Enable a disabled account again (its old tokens stay revoked)."""
    from pipeline import api
    with api.opened(obj["db"], create=False) as store:
        api.set_user_active(store, name, True)
    click.echo(f"enabled {name}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice([r.value for r in Role]))
@click.pass_obj
def users_set_role(obj: dict[str, str], name: str, role: str) -> None:
    """Change an account's role."""
    from pipeline import api
    with api.opened(obj["db"], create=False) as store:
        api.set_user_role(store, name, role)
    click.echo(f"{name} is now {role}")


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def users_password(obj: dict[str, str], name: str, password_stdin: bool) -> None:
    """Set a new password (every session of the account ends)."""
    from pipeline import api
    password = _password(password_stdin, name)
    with api.opened(obj["db"], create=False) as store:
        api.set_user_password(store, name, password)
    click.echo(f"new password set for {name}")


@users.command("token")
@click.argument("name")
@click.option("--label", default="API token", show_default=True, help="What it is for.")
@click.pass_obj
def users_token(obj: dict[str, str], name: str, label: str) -> None:
    """Issue a REST API token for the account; it is printed once and stored only as a hash."""
    from pipeline import api
    with api.opened(obj["db"], create=False) as store:
        token, record = api.issue_token(store, name, label)
    click.echo(token)
    click.echo(f"token {record.id} ({record.prefix}…) for {name}: send it as "
               "'Authorization: Bearer TOKEN'; it is not shown again", err=True)


@users.command("tokens")
@click.argument("name", required=False)
@click.pass_obj
def users_tokens(obj: dict[str, str], name: str | None) -> None:
    """List API tokens (never the tokens themselves)."""
    from pipeline import api
    with api.opened(obj["db"], create=False) as store:
        found = api.tokens(store, name)
    for t in found:
        state = f"revoked {iso(t.revoked_at)}" if t.revoked_at else \
            f"last used {iso(t.last_used_at) or 'never'}"
        click.echo(f"{t.id:>4} {t.prefix}… {t.account:<20} {t.label} ({state})")


@users.command("revoke-token")
@click.argument("token_id", type=int)
@click.pass_obj
def users_revoke_token(obj: dict[str, str], token_id: int) -> None:
    """Revoke an API token by its number (see 'users tokens')."""
    from pipeline import api
    with api.opened(obj["db"], create=False) as store:
        api.revoke_token(store, token_id)
    click.echo(f"revoked token {token_id}")


