"""Commands for the Wowza-compatible usage API: accounts (billing anchors), delivery targets,
and the Wowza credentials `streammeter tokens create --account ...` issues."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from streammeter.store.base import DeliveryTarget

accounts_app = typer.Typer(
    help="Accounts (the unit a Wowza token sees) and their billing dates.", no_args_is_help=True
)
targets_app = typer.Typer(
    help="Delivery (stream) targets of an environment: who pulls from origin.",
    no_args_is_help=True,
)

_DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store file (default: $STREAMMETER_DB or ./streammeter.duckdb)."),
]
_JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _today() -> date:
    from streammeter.model.times import US_PER_SECOND, now_us

    return datetime.fromtimestamp(now_us() // US_PER_SECOND, UTC).date()


def create_wowza_credential(
    account_id: str | None,
    as_jwt: bool,
    expires_days: int,
    as_json: bool,
    db: str | None,
) -> None:
    """`tokens create --account A [--jwt]`: a JWT, or a legacy wsc key pair (v1.8 only)."""
    from streammeter.api.wowza_auth import issue_jwt
    from streammeter.cli.main import fail, out, print_json, store_for
    from streammeter.model.times import US_PER_SECOND, iso_seconds, now_us

    if not account_id:
        raise fail("--jwt needs --account ACCOUNT (the account whose usage the token reads)")
    if expires_days < 0:
        raise fail("--expires-days must be 0 (never) or more")
    with store_for(db) as store:
        if store.get_account(account_id) is None:
            known = ", ".join(a.account_id for a in store.list_accounts()) or "none yet"
            raise fail(
                f"no account {account_id!r} (known: {known}). Accounts own environments: "
                f"streammeter environments create NAME --account {account_id}"
            )
        if as_jwt:
            now_s = now_us() // US_PER_SECOND
            token, claims = issue_jwt(
                store, account_id, now_s=now_s,
                expires_in_s=expires_days * 86_400 if expires_days else None,
            )  # fmt: skip
        else:
            key = store.create_legacy_key(account_id)
    if as_jwt:
        expires = iso_seconds(claims["exp"] * US_PER_SECOND) if "exp" in claims else None
        if as_json:
            print_json({"account": account_id, "jwt": token, "expires_at": expires})
            return
        out.print(f"JWT for account {account_id} (expires {expires or 'never'}):", highlight=False)
        out.print(token, highlight=False, soft_wrap=True)
        out.print("Send it as: Authorization: Bearer <JWT> to /api/v2.0/usage/account")
        return
    if as_json:
        print_json(
            {"account": account_id, "wsc-api-key": key.api_key, "wsc-access-key": key.access_key}
        )
        return
    out.print(f"wsc-api-key:    {key.api_key}\nwsc-access-key: {key.access_key}", highlight=False)
    out.print(
        "Legacy Streaming Cloud keys (accepted on /api/v1.8 only, as headers or HMAC). "
        "The api key is shown only now."
    )


# -- accounts -------------------------------------------------------------------------------
@accounts_app.command("list")
def accounts_list(as_json: _JsonOption = False, db: _DbOption = None) -> None:
    """List accounts with their environments and billing dates."""
    from streammeter.cli.main import out, print_json, store_for
    from streammeter.query.wowza import last_bill_date

    with store_for(db) as store:
        accounts = store.list_accounts()
    today = _today()
    rows = [
        {
            "account": a.account_id,
            "environments": list(a.environment_ids),
            "bill_anchor": a.bill_anchor,
            "bill_cycle_months": a.bill_cycle_months,
            "last_bill_date": last_bill_date(a.bill_anchor, a.bill_cycle_months, today).isoformat(),
        }
        for a in accounts
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No accounts yet. Create one: streammeter environments create prod --account A")
        return
    table = Table("account", "environments", "bill anchor", "cycle (months)", "last bill date")
    for row in rows:
        table.add_row(
            row["account"], ", ".join(row["environments"]), row["bill_anchor"] or "(1st)",
            str(row["bill_cycle_months"]), row["last_bill_date"],
        )  # fmt: skip
    out.print(table)


@accounts_app.command("set-bill-date")
def accounts_set_bill_date(
    account_id: Annotated[str, typer.Argument(help="The account.")],
    day: Annotated[str, typer.Argument(help="A date the account was billed (YYYY-MM-DD).")],
    cycle_months: Annotated[
        int,
        typer.Option(
            "--cycle-months",
            help="Bills recur every N months from that date (0: last_bill_date is that date).",
        ),
    ] = 1,
    db: _DbOption = None,
) -> None:
    """Set the billing anchor behind Wowza's `last_bill_date` and default `from`."""
    from streammeter.cli.main import fail, out, store_for
    from streammeter.query.wowza import last_bill_date
    from streammeter.store.base import NotFound

    try:
        date.fromisoformat(day)
    except ValueError:
        raise fail(f"{day!r} is not a date; use YYYY-MM-DD") from None
    if cycle_months < 0:
        raise fail("--cycle-months must be 0 or more")
    with store_for(db) as store:
        try:
            store.set_bill_anchor(account_id, day, cycle_months)
        except NotFound:
            raise fail(f"no account {account_id!r}; see: streammeter accounts list") from None
    last = last_bill_date(day, cycle_months, _today()).isoformat()
    out.print(f"Account {account_id}: billed from {day}; last_bill_date is now {last}.")


# -- delivery targets -----------------------------------------------------------------------
@targets_app.command("add")
def targets_add(
    environment_ref: Annotated[str, typer.Option("--environment", "-e", help="Environment.")],
    target_id: Annotated[str, typer.Argument(help="The target id (stream target id).")],
    name: Annotated[str | None, typer.Option(help="A descriptive name (default: the id).")] = None,
    primary: Annotated[
        bool, typer.Option("--primary", help="The environment's primary target (one at most).")
    ] = False,
    host: Annotated[
        list[str] | None,
        typer.Option("--host", help="Host it pulls with (exact, or *.example.com); repeatable."),
    ] = None,
    cidr: Annotated[
        list[str] | None,
        typer.Option("--cidr", help="Client IP range it pulls from (CIDR); repeatable."),
    ] = None,
    user_agent: Annotated[
        list[str] | None,
        typer.Option("--user-agent", help="User-Agent substring (any case); repeatable."),
    ] = None,
    as_json: _JsonOption = False,
    db: _DbOption = None,
) -> None:
    """Add (or replace) a delivery target; origin pulls it matches are its egress."""
    from streammeter.cli.main import environment, fail, out, print_json, store_for
    from streammeter.ingest.targets import parse_cidr

    for rule in cidr or []:
        try:
            parse_cidr(rule)
        except ValueError as exc:
            raise fail(f"--cidr {rule}: {exc}") from None
    with store_for(db) as store:
        env = environment(store, environment_ref)
        target = store.add_delivery_target(
            DeliveryTarget(
                env.env_key, target_id, name or target_id, primary, tuple(host or ()),
                tuple(cidr or ()), tuple(user_agent or ()),
            )
        )  # fmt: skip
    if as_json:
        print_json(_target_json(target, env.environment_id))
        return
    role = "primary" if target.primary else "additional"
    out.print(f"Target {target.target_id} ({role}) added to {env.name}.", highlight=False)


def _target_json(target: DeliveryTarget, environment_id: str) -> dict[str, Any]:
    return {
        "environment": environment_id,
        "id": target.target_id,
        "name": target.name,
        "primary": target.primary,
        "hosts": list(target.hosts),
        "cidrs": list(target.cidrs),
        "user_agents": list(target.user_agents),
    }


@targets_app.command("list")
def targets_list(
    environment_ref: Annotated[str, typer.Option("--environment", "-e", help="Environment.")],
    as_json: _JsonOption = False,
    db: _DbOption = None,
) -> None:
    """List an environment's delivery targets (primary first)."""
    from streammeter.cli.main import environment, out, print_json, store_for

    with store_for(db) as store:
        env = environment(store, environment_ref)
        targets = store.delivery_targets(env.env_key)
    rows = [_target_json(t, env.environment_id) for t in targets]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(
            "No targets: every origin pull is primary egress. Add one: streammeter targets add "
            f"--environment {env.name} TARGET_ID --primary"
        )
        return
    table = Table("id", "name", "primary", "hosts", "cidrs", "user agents")
    for row in rows:
        table.add_row(
            str(row["id"]), str(row["name"]), "yes" if row["primary"] else "",
            ", ".join(row["hosts"]), ", ".join(row["cidrs"]), ", ".join(row["user_agents"]),
        )  # fmt: skip
    out.print(table)
