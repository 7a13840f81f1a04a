"""`streammeter`: every command takes --db (or STREAMMETER_DB); see `streammeter --help`."""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streammeter.cli.copy import copy_command
from streammeter.cli.export import export as export_command
from streammeter.cli.manifests import manifests_app, patterns_app
from streammeter.cli.wowza import accounts_app, targets_app
from streammeter.config import Settings
from streammeter.model.times import US_PER_SECOND, iso_seconds, now_us
from streammeter.query.delivery_usage import widest_window
from streammeter.sources.catalog import CatalogFileError, read_assets
from streammeter.store import Store, StoreLocked, open_store
from streammeter.store.base import Environment, StoreFull, default_db

app = typer.Typer(
    help="Exact video delivery usage metering, with Mux-compatible APIs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
environments_app = typer.Typer(help="Create and list environments.", no_args_is_help=True)
tokens_app = typer.Typer(help="Create, list and revoke access tokens.", no_args_is_help=True)
assets_app = typer.Typer(help="Manage the asset catalog.", no_args_is_help=True)
receipts_app = typer.Typer(help="Import receipts and quarantined lines.", no_args_is_help=True)
app.add_typer(environments_app, name="environments")
app.add_typer(tokens_app, name="tokens")
app.add_typer(assets_app, name="assets")
app.add_typer(receipts_app, name="receipts")
app.add_typer(accounts_app, name="accounts")
app.add_typer(targets_app, name="targets")
app.add_typer(manifests_app, name="manifests")
app.add_typer(patterns_app, name="patterns")
app.command("export")(export_command)
app.command("copy")(copy_command)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store file (default: $STREAMMETER_DB or ./streammeter.duckdb)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Go through a running server (e.g. http://127.0.0.1:8000)."),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", help="TOKEN_ID:SECRET for --url (or $STREAMMETER_TOKEN)."),
]
EnvOption = Annotated[str, typer.Option("--environment", "-e", help="Environment id or name.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@contextmanager
def store_for(db: str | None) -> Iterator[Store]:
    try:
        store = open_store(db)
    except StoreLocked as exc:
        raise fail(str(exc), 2) from None
    try:
        yield store
    except StoreFull as exc:  # rolled back whole (docs/reliability.md)
        raise fail(str(exc)) from None
    finally:
        store.close()


def environment(store: Store, ref: str) -> Environment:
    try:
        env = store.get_environment(ref)
    except LookupError as exc:
        raise fail(str(exc)) from None
    if env is None:
        known = ", ".join(e.name for e in store.list_environments()) or "none yet"
        raise fail(
            f"no environment {ref!r} (known: {known}). "
            "Create one with: streammeter environments create NAME"
        )
    return env


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


# -- serve / demo ---------------------------------------------------------------------------
@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    access_log: Annotated[
        bool,
        typer.Option(help="Log one line per request (off for the highest request rates)."),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes. On a DuckDB file: the one that owns the store, behind N - 1 "
            "front processes that answer repeated Mux queries themselves and pass the rest on "
            "(docs/design/fronts.md). On ClickHouse: N equal processes.",
        ),
    ] = 1,
) -> None:
    """Run the HTTP service (Mux-compatible and native APIs) on the store."""
    import uvicorn

    from streammeter.api import create_app
    from streammeter.api.app import tune_gc
    from streammeter.api.owner import serve_with_fronts
    from streammeter.store.duckdb_store import DuckDBStore

    target = db or default_db()
    with store_for(db) as store:
        if not store.list_environments():
            err.print(
                "The store has no environments yet. In another terminal, stop this server or "
                "use --url; to start: streammeter environments create prod"
            )
        if workers == 1:
            tune_gc()
            uvicorn.run(
                create_app(store, Settings.from_env()),
                host=host, port=port, log_level="info", access_log=access_log,
            )  # fmt: skip
            return
        if isinstance(store, DuckDBStore):
            tune_gc()
            err.print(
                f"Serving http://{host}:{port} with {workers - 1} front process(es); this "
                f"process (pid {os.getpid()}) owns the store behind them."
            )
            serve_with_fronts(
                create_app(store, Settings.from_env()), store, host, port, workers - 1, access_log
            )
            return
    # Each worker process opens its own store from STREAMMETER_DB (no shared state).
    os.environ["STREAMMETER_DB"] = target
    uvicorn.run(
        "streammeter.api.app:app_from_env", factory=True, workers=workers,
        host=host, port=port, log_level="info", access_log=access_log,
    )  # fmt: skip


@app.command()
def demo(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Where to write the demo store (default: a temp dir)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    assets: Annotated[int, typer.Option(help="How many assets to generate.")] = 300,
    days: Annotated[int, typer.Option(help="Days of deliveries to generate.")] = 14,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Build the store and print the guide, then exit.")
    ] = False,
) -> None:
    """Fill a fresh store with a realistic sample and serve it: real numbers in a minute."""
    from streammeter.demo import build_demo, guide

    built = build_demo(db, assets=assets, days=days, seed=seed, progress=err)
    sys.stdout.write(guide(built, host, port))
    sys.stdout.flush()
    if no_serve:
        return
    import uvicorn

    from streammeter.api import create_app

    with store_for(built.db) as store:
        uvicorn.run(
            create_app(store, Settings.from_env()), host=host, port=port, log_level="warning"
        )


# -- environments and tokens ----------------------------------------------------------------
@environments_app.command("create")
def environments_create(
    name: Annotated[str, typer.Argument(help="A name for the environment, e.g. prod.")],
    account: Annotated[
        str | None, typer.Option(help="Account that owns it (created if new).")
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Create an environment (the unit a token sees)."""
    with store_for(db) as store:
        env = store.create_environment(name, account)
    if as_json:
        print_json({"id": env.environment_id, "name": env.name, "account": env.account_id})
    else:
        out.print(f"Created environment {env.name} with id {env.environment_id}.")
        out.print(f"Next: streammeter tokens create --environment {env.environment_id}")


@environments_app.command("list")
def environments_list(as_json: JsonOption = False, db: DbOption = None) -> None:
    """List environments."""
    with store_for(db) as store:
        envs = store.list_environments()
    if as_json:
        print_json(
            [{"id": e.environment_id, "name": e.name, "account": e.account_id} for e in envs]
        )
        return
    if not envs:
        out.print("No environments yet. Create one: streammeter environments create prod")
        return
    table = Table("id", "name", "account")
    for env in envs:
        table.add_row(env.environment_id, env.name, env.account_id)
    out.print(table)


@tokens_app.command("create")
def tokens_create(
    environment_ref: Annotated[
        str | None, typer.Option("--environment", "-e", help="Environment id or name.")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="read, ingest or admin; repeat for several (default read)."),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="Instead: a Wowza credential for this account (legacy wsc keys; --jwt: a JWT).",
        ),
    ] = None,
    as_jwt: Annotated[
        bool, typer.Option("--jwt", help="With --account: a JWT (Authorization: Bearer).")
    ] = False,
    expires_days: Annotated[
        int, typer.Option("--expires-days", help="With --jwt: days until it expires (0: never).")
    ] = 365,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Create an access token (its secret is shown once), or with --account a Wowza one."""
    from streammeter.api.auth import SCOPES

    if account is not None or as_jwt:
        from streammeter.cli.wowza import create_wowza_credential

        if environment_ref or scope:
            raise fail("--account makes a Wowza credential: drop --environment and --scope")
        create_wowza_credential(account, as_jwt, expires_days, as_json, db)
        return
    if not environment_ref:
        raise fail("--environment is required (or --account ACCOUNT [--jwt] for Wowza)")
    scopes = scope or ["read"]
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        raise fail(f"unknown scope(s) {', '.join(bad)}; use {', '.join(SCOPES)}")
    with store_for(db) as store:
        env = environment(store, environment_ref)
        token_id, secret = store.create_token(env.env_key, scopes)
    if as_json:
        print_json({"id": token_id, "secret": secret})
    else:
        out.print(f"Token id:     {token_id}\nToken secret: {secret}")
        out.print("The secret is shown only now. Send both as HTTP Basic (id:secret).")


@tokens_app.command("list")
def tokens_list(
    environment_ref: Annotated[
        str | None, typer.Option("--environment", "-e", help="Only this environment.")
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List tokens (never their secrets)."""
    with store_for(db) as store:
        env_key = environment(store, environment_ref).env_key if environment_ref else None
        tokens = store.list_tokens(env_key)
    rows = [
        {
            "id": t.token_id,
            "environment": t.environment_id,
            "scopes": sorted(t.scopes),
            "created_at": iso_seconds(t.created_at * US_PER_SECOND),
            "revoked": t.revoked_at is not None,
        }
        for t in tokens
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "environment", "scopes", "created", "revoked")
    for row in rows:
        table.add_row(
            row["id"], row["environment"], ",".join(row["scopes"]), row["created_at"],
            "yes" if row["revoked"] else "",
        )  # fmt: skip
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token id.")], db: DbOption = None
) -> None:
    """Revoke a token; it stops working at once."""
    with store_for(db) as store:
        if not store.revoke_token(token_id):
            raise fail(f"no active token {token_id}")
    out.print(f"Revoked {token_id}.")


# -- catalog and ingest ---------------------------------------------------------------------
@assets_app.command("import")
def assets_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="NDJSON or CSV with Mux asset field names.", exists=True, dir_okay=False
        ),
    ],
    environment_ref: Annotated[
        str | None, typer.Option("--environment", "-e", help="Environment id or name.")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    db: DbOption = None,
) -> None:
    """Upsert assets from a file (all or nothing: a bad line imports none)."""
    try:
        assets = read_assets(file)
    except CatalogFileError as exc:
        raise fail(f"{file} has invalid assets, nothing imported:\n{exc}") from None
    if url:
        from streammeter.cli.remote import Remote

        remote = Remote(url, token)
        rows = [a.model_dump(mode="json") for a in assets]
        response = remote.client.post("/v1/assets", json=rows)
        count = remote._check(response)["data"]["upserted"]
    else:
        if not environment_ref:
            raise fail("--environment is required (or use --url with a token)")
        with store_for(db) as store:
            count = store.upsert_assets(environment(store, environment_ref).env_key, assets)
    out.print(f"Upserted {count} assets.")


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files, directories (their files, sorted) and globs."""
    paths: list[Path] = []
    for item in inputs:
        matches = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        if not matches:
            raise fail(f"{item} matches no file")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                paths += sorted(
                    p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                )
            elif path.is_file():
                paths.append(path)
            else:
                raise fail(f"{match} is not a file or directory")
    return paths


@app.command()
def ingest(
    inputs: Annotated[
        list[str] | None, typer.Argument(help="Files, directories or globs.")
    ] = None,
    environment_ref: Annotated[
        str | None, typer.Option("--environment", "-e", help="Environment id or name.")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto (default), generic records (ndjson, csv, parquet) or an access log: "
            "cloudfront, cloudfront-realtime, cloudflare, fastly, akamai, nginx-combined, "
            "nginx-json.",
        ),
    ] = "auto",
    origin: Annotated[
        bool,
        typer.Option("--origin", help="The files are origin logs: their bytes are egress."),
    ] = False,
    fields: Annotated[
        str | None,
        typer.Option(help="cloudfront-realtime: the configured field list, in order."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    watch_dir: Annotated[
        Path | None,
        typer.Option(
            "--watch", help="Keep importing files as they land in this directory (Ctrl+C stops).",
            file_okay=False, exists=True,
        ),
    ] = None,
    interval: Annotated[float, typer.Option(help="--watch: seconds between scans.")] = 5.0,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    db: DbOption = None,
) -> None:
    """Import delivery records or access logs; each file is one transaction with a receipt."""
    from streammeter.ingest.importer import import_file

    if watch_dir is not None:
        _watch(watch_dir, environment_ref, fmt, origin, fields, interval, db)
        return
    if not inputs:
        raise fail("name files, directories or globs to import (or --watch DIR)")
    paths = expand_inputs(inputs)
    receipts = []
    if url:
        from streammeter.cli.remote import Remote

        remote = Remote(url, token)
        receipts = [
            remote.import_file(path, None if fmt == "auto" else fmt, origin, fields)
            for path in paths
        ]
    else:
        if not environment_ref:
            raise fail("--environment is required (or use --url with a token)")
        with store_for(db) as store:
            env = environment(store, environment_ref)
            for path in paths:
                with _progress(path, quiet) as progress:
                    try:
                        receipt = import_file(
                            store, env.env_key, path, fmt, progress, origin=origin,
                            options={"fields": fields} if fields else None,
                        )  # fmt: skip
                    except (ValueError, StoreFull) as exc:
                        raise fail(f"{path}: {exc}") from None
                receipts.append(dataclasses.asdict(receipt))
    if as_json:
        print_json(receipts)
        return
    for receipt in receipts:
        verb = "already imported" if receipt["already_imported"] else "imported"
        out.print(
            f"{receipt['name']}: {verb} as {receipt['receipt_id']}: {receipt['lines_read']} lines, "
            f"{receipt['accepted']} accepted, {receipt['duplicate']} duplicate, "
            f"{receipt['rejected']} rejected",
            highlight=False,
        )
        for note, number in receipt["notes"].items():
            out.print(f"  {number} x {note}", highlight=False)


def _watch(
    directory: Path, environment_ref: str | None, fmt: str, origin: bool,
    fields: str | None, interval: float, db: str | None,
) -> None:  # fmt: skip
    from streammeter.ingest.watch import watch

    if not environment_ref:
        raise fail("--environment is required with --watch")
    with store_for(db) as store:
        env = environment(store, environment_ref)
        err.print(f"Watching {directory} every {interval:g} s (Ctrl+C to stop)")

        def report(receipt: object) -> None:
            r = dataclasses.asdict(receipt)  # type: ignore[call-overload]
            out.print(
                f"{r['name']}: {r['receipt_id']}: {r['accepted']} accepted, "
                f"{r['duplicate']} duplicate, {r['rejected']} rejected", highlight=False,
            )  # fmt: skip

        try:
            watch(
                store, env.env_key, directory, interval=interval, on_receipt=report,
                on_error=lambda path, message: err.print(f"[red]{path}:[/red] {message}"),
                fmt=fmt, origin=origin, options={"fields": fields} if fields else None,
            )  # fmt: skip
        except KeyboardInterrupt:
            err.print("Stopped.")


@contextmanager
def _progress(path: Path, quiet: bool) -> Iterator[object]:
    """A progress bar (lines) on a terminal; nothing with --quiet or when not a TTY."""
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("lines  {task.fields[rate]}"), TimeRemainingColumn())  # fmt: skip
    started = time.monotonic()
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(path.name, total=None, rate="")

        def update(done: int, total: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            rate = f"{done / elapsed:,.0f} lines/s"
            bar.update(task, completed=done, total=total or None, rate=rate)

        yield update


# -- receipts -------------------------------------------------------------------------------
@receipts_app.command("list")
def receipts_list(
    environment_ref: Annotated[
        str | None, typer.Option("--environment", "-e", help="Only this environment.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List import receipts, newest first."""
    with store_for(db) as store:
        env_key = environment(store, environment_ref).env_key if environment_ref else None
        receipts = store.list_receipts(env_key, limit)
    if as_json:
        print_json([dataclasses.asdict(r) for r in receipts])
        return
    if not receipts:
        out.print("No imports yet. Import records: streammeter ingest --environment ENV FILE")
        return
    table = Table(
        "receipt", "environment", "source", "name", "lines", "accepted", "dup", "rejected"
    )
    for r in receipts:
        table.add_row(
            r.receipt_id, r.environment_id, r.source, r.name, str(r.lines_read), str(r.accepted),
            str(r.duplicate), str(r.rejected),
        )  # fmt: skip
    out.print(table)


@receipts_app.command("show")
def receipts_show(
    receipt_id: Annotated[str, typer.Argument(help="The receipt id.")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """A receipt with its counts, notes and quarantined lines."""
    with store_for(db) as store:
        receipt = store.get_receipt(receipt_id)
        if receipt is None:
            raise fail(f"no receipt {receipt_id}")
        quarantine = store.quarantined(receipt_id)
    body = dataclasses.asdict(receipt) | {"quarantine": quarantine}
    if as_json:
        print_json(body)
        return
    for key, value in dataclasses.asdict(receipt).items():
        if key not in ("notes", "already_imported"):
            out.print(f"{key:>18}: {value}", highlight=False)
    for note, number in receipt.notes.items():
        out.print(f"{'note':>18}: {number} x {note}", highlight=False)
    if quarantine:
        table = Table("line", "reason", "raw", title="Quarantined lines")
        for row in quarantine:
            table.add_row(str(row["line"]), row["reason"], row["raw"][:120])
        out.print(table)


# -- usage and maintenance ------------------------------------------------------------------
@app.command()
def usage(
    environment_ref: Annotated[
        str | None, typer.Option("--environment", "-e", help="Environment id or name.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Window start (epoch seconds or RFC 3339).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Window end (epoch seconds or RFC 3339).")
    ] = None,
    asset_id: Annotated[str | None, typer.Option(help="Only this asset.")] = None,
    live_stream_id: Annotated[
        str | None, typer.Option(help="Only this live stream's assets.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows per page.")] = 100,
    page: Annotated[int, typer.Option(help="Page, from 1.")] = 1,
    output: Annotated[str, typer.Option("--output", "-o", help="table, csv or json.")] = "table",
    url: UrlOption = None,
    token: TokenOption = None,
    db: DbOption = None,
) -> None:
    """Delivery usage per asset and tier: the Mux delivery-usage query, same rules."""
    from streammeter.model.times import InvalidTime, parse_instant
    from streammeter.query.delivery_usage import InvalidParameters, list_delivery_usage, parse_query

    params: list[tuple[str, str]] = [("page", str(page)), ("limit", str(limit))]
    try:
        for value in (start, end):
            if value is not None:
                params.append(("timeframe[]", str(parse_instant(value) // US_PER_SECOND)))
    except InvalidTime as exc:
        raise fail(str(exc)) from None
    params += [("asset_id", asset_id)] if asset_id else []
    params += [("live_stream_id", live_stream_id)] if live_stream_id else []
    if url:
        from streammeter.cli.remote import Remote

        body = Remote(url, token).delivery_usage(params)
    else:
        if not environment_ref:
            raise fail("--environment is required (or use --url with a token)")
        with store_for(db) as store:
            env = environment(store, environment_ref)
            try:
                query = parse_query(params, now_us() // US_PER_SECOND, Settings.from_env())
            except InvalidParameters as exc:
                raise fail("; ".join(exc.messages)) from None
            body = list_delivery_usage(store, env.env_key, query)
    _print_usage(body, output)


def _print_usage(body: dict, output: str) -> None:  # type: ignore[type-arg]
    tiers = ("tier_2160p", "tier_1440p", "tier_1080p", "tier_720p", "tier_audio_only")
    if output == "json":
        print_json(body)
        return
    rows = [
        [
            r["asset_id"],
            r["delivered_seconds"],
            *(r["delivered_seconds_by_resolution"].get(t, 0) for t in tiers),
        ]
        for r in body["data"]
    ]
    header = ["asset_id", "delivered_seconds", *tiers]
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
        return
    start, end = body["timeframe"]
    title = (
        f"{iso_seconds(start * US_PER_SECOND)} .. {iso_seconds(end * US_PER_SECOND)}: "
        f"{body['total_row_count']} assets (page {body['page']})"
    )
    if not rows:
        out.print(
            f"{title}\nNo delivered seconds in this window. Try --from/--to, or import "
            "records with: streammeter ingest --environment ENV FILE",
            highlight=False,
        )
        return
    short = ["asset_id", "seconds", "2160p", "1440p", "1080p", "720p", "audio-only"]
    table = Table(*short, title=title)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    out.print(table)


@app.command()
def rebuild(db: DbOption = None) -> None:
    """Recompute every rollup from the stored records (gives identical results)."""
    with store_for(db) as store:
        store.rebuild()
    out.print("Rebuilt all rollups from the stored records.")


@app.command()
def compact(db: DbOption = None) -> None:
    """Merge rollup deltas (one row per key) and move the Mux query's rolling window to the
    current hour; numbers do not change."""
    with store_for(db) as store:
        store.compact()
        now_s = now_us() // US_PER_SECOND
        store.set_rolling_window(*widest_window(now_s, Settings.from_env()))
    out.print("Compacted the rollups.")


@app.command()
def migrate(
    db: DbOption = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="ClickHouse: create local tables on every node of this cluster (remote_servers) "
            "and Distributed tables over them. Fixed when the schema is first created.",
        ),
    ] = None,
) -> None:
    """Create or upgrade the store's schema (for clickhouse:// stores, on every node), and
    finish the rollups of imports whose writer died after committing."""
    target = db or default_db()
    if not target.startswith("clickhouse://"):
        if cluster:
            raise fail("--cluster applies to clickhouse:// stores only")
        with store_for(target):
            pass  # the embedded store migrates when it opens
        out.print(f"The schema of {target} is up to date.")
        return
    from streammeter.store.clickhouse import ClickHouseStore

    try:
        store = ClickHouseStore(target, cluster=cluster)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        nodes = store.migrate(cluster)
        repaired = store.repair()
        where = f"cluster {store.cluster}" if store.cluster else "a single node"
        out.print(
            f"The schema of {store.url.redacted()} is up to date on {where} "
            f"({', '.join(nodes)}); {repaired} interrupted import(s) finished."
        )
    finally:
        store.close()
