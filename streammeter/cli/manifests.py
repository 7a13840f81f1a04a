"""`streammeter manifests` and `streammeter patterns`: build the index (docs/index.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from streammeter.model.times import US_PER_SECOND, iso_seconds

manifests_app = typer.Typer(
    help="Register HLS/DASH manifests: the index that maps URL paths to media seconds.",
    no_args_is_help=True,
)
patterns_app = typer.Typer(
    help="URL patterns: index objects by the shape of their URL (no manifest needed).",
    no_args_is_help=True,
)

# The same options as streammeter.cli.main (which imports this module, so they are repeated).
DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store file (default: $STREAMMETER_DB or ./streammeter.duckdb)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
EnvOption = Annotated[str, typer.Option("--environment", "-e", help="Environment id or name.")]


def _table(*columns: str) -> Table:
    """A table whose cells wrap instead of being cut (ids and regexes must stay whole)."""
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _when(seconds: int | None) -> str:
    return iso_seconds(seconds * US_PER_SECOND) if seconds else ""


@manifests_app.command("add")
def manifests_add(
    source: Annotated[
        Path,
        typer.Argument(
            help="A directory mirroring the served tree (with --url-prefix), or one manifest "
            "file (with --url).",
            exists=True,
        ),
    ],
    environment_ref: EnvOption,
    asset: Annotated[str, typer.Option("--asset", help="The asset these manifests package.")],
    url_prefix: Annotated[
        str | None,
        typer.Option("--url-prefix", help="URL path the directory is served at, e.g. /vod/ID/."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="URL path the file is served at, e.g. /vod/ID/master.m3u8."),
    ] = None,
    sizes: Annotated[
        Path | None,
        typer.Option(
            "--sizes",
            help="Whole-file sizes: lines `NAME<TAB>BYTES`, names relative to the URL prefix "
            "(the manifest's directory with --url).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Index an asset's HLS master + media playlists or DASH MPD at the paths they are served.

    Register a live playlist again to add its newer segments (older ones are kept).
    """
    from streammeter.cli.main import environment, fail, out, print_json, store_for
    from streammeter.index.common import ManifestError
    from streammeter.index.register import (
        read_sizes,
        register_file,
        register_tree,
        url_directory,
    )

    if source.is_dir():
        if url is not None or url_prefix is None:
            raise fail(f"{source} is a directory: give the path it is served at with --url-prefix")
    elif url is None:
        if url_prefix is None:
            raise fail("give the URL path the file is served at with --url")
        url = url_prefix.rstrip("/") + "/" + source.name
    try:
        known_sizes = read_sizes(sizes, url_prefix or url_directory(url or "/")) if sizes else {}
        with store_for(db) as store:
            env = environment(store, environment_ref)
            if source.is_dir():
                assert url_prefix is not None
                result = register_tree(
                    store, env.env_key, asset, url_prefix, source, sizes=known_sizes
                )
            else:
                assert url is not None
                result = register_file(store, env.env_key, asset, url, source, sizes=known_sizes)
    except (ManifestError, OSError) as exc:
        raise fail(f"nothing indexed: {exc}") from None
    if as_json:
        print_json(result.as_dict())
        return
    live = ", live" if result.live else ""
    out.print(
        f"Indexed asset {asset} from {len(result.files)} manifest(s): {result.renditions} "
        f"renditions, {result.objects} objects ({result.segments} segments, "
        f"{result.parts} parts{live}).",
        highlight=False,
    )
    if result.missing:
        out.print(
            f"{len(result.missing)} media playlist(s) the master references are not in "
            f"{source}; register each with --url when you have it: "
            + ", ".join(result.missing[:10])
            + (" ..." if len(result.missing) > 10 else ""),
            highlight=False,
        )


@manifests_app.command("list")
def manifests_list(
    environment_ref: EnvOption,
    asset: Annotated[
        str | None, typer.Option("--asset", help="Show this asset's renditions.")
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """What the index holds: per asset, or one asset's renditions."""
    from streammeter.cli.main import environment, fail, out, print_json, store_for

    with store_for(db) as store:
        env = environment(store, environment_ref)
        rows = store.index_summary(env.env_key, asset)
    if asset is not None and not rows:
        raise fail(f"nothing indexed for asset {asset} in {environment_ref}")
    if as_json:
        print_json(rows if asset is None else rows[0])
        return
    if not rows:
        out.print(
            "Nothing indexed yet. Register manifests: streammeter manifests add "
            "--environment ENV --asset ID --url-prefix /vod/ID/ DIR"
        )
        return
    if asset is None:
        table = _table("asset", "renditions", "objects", "segments", "parts", "live", "updated")
        for row in rows:
            table.add_row(
                row["asset_id"], str(row["renditions"]), str(row["objects"]),
                str(row["segments"]), str(row["parts"]), "yes" if row["live"] else "",
                _when(row["updated_at"]),
            )  # fmt: skip
        out.print(table)
        return
    table = _table("rendition", "track", "resolution", "bandwidth", "segments", "parts", "seconds")
    for detail in rows[0]["rendition_details"]:
        resolution = (
            f"{detail['width']}x{detail['height']}" if detail["width"] and detail["height"] else ""
        )
        track = (detail["track"] or "") + (" (i-frame)" if detail["iframe"] else "")
        table.add_row(
            detail["rendition_id"], track, resolution, str(detail["bandwidth"] or ""),
            str(detail["segments"]), str(detail["parts"]), f"{detail['seconds']:.6f}",
        )  # fmt: skip
    out.print(table)


@patterns_app.command("add")
def patterns_add(
    regex: Annotated[
        str,
        typer.Argument(
            help=r"Regex matching the whole URL path, with a named group asset_id or "
            r"playback_id, e.g. '/v/(?P<asset_id>\w+)/(?P<height>\d+)p/seg_(?P<segment>\d+)\.ts'"
        ),
    ],
    environment_ref: EnvOption,
    kind: Annotated[
        str | None, typer.Option(help="Object kind of every match (default: from the name).")
    ] = None,
    track: Annotated[str | None, typer.Option(help="video (default), audio or audio-only.")] = None,
    width: Annotated[int | None, typer.Option(help="Fixed width in pixels.")] = None,
    height: Annotated[int | None, typer.Option(help="Fixed height in pixels.")] = None,
    duration: Annotated[
        str | None, typer.Option(help="Fixed media duration in seconds, e.g. 6.006.")
    ] = None,
    rendition: Annotated[str | None, typer.Option(help="Fixed rendition id.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Matches are live objects.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Add a URL pattern to an environment (tried in the order they were added)."""
    from streammeter.cli.main import environment, fail, out, print_json, store_for
    from streammeter.index.patterns import PatternError

    attributes: dict[str, Any] = {
        "kind": kind, "track": track, "width": width, "height": height, "duration": duration,
        "rendition": rendition, "live": True if live else None,
    }  # fmt: skip
    with store_for(db) as store:
        env = environment(store, environment_ref)
        try:
            pattern_id = store.add_url_pattern(env.env_key, regex, attributes)
        except PatternError as exc:
            raise fail(str(exc)) from None
    if as_json:
        print_json({"id": pattern_id})
    else:
        out.print(f"Added URL pattern {pattern_id}.")


@patterns_app.command("list")
def patterns_list(
    environment_ref: EnvOption, as_json: JsonOption = False, db: DbOption = None
) -> None:
    """List an environment's URL patterns."""
    from streammeter.cli.main import environment, out, print_json, store_for

    with store_for(db) as store:
        env = environment(store, environment_ref)
        patterns = store.url_patterns(env.env_key)
    rows = [
        {"id": p.pattern_id, "regex": p.regex, "attributes": p.attributes,
         "created_at": _when(p.created_at)}
        for p in patterns
    ]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("No URL patterns. Add one: streammeter patterns add --environment ENV REGEX")
        return
    table = _table("id", "regex", "attributes", "created")
    for row in rows:
        attributes = ", ".join(f"{k}={v}" for k, v in sorted(row["attributes"].items()))
        table.add_row(str(row["id"]), row["regex"], attributes, row["created_at"])
    out.print(table)


@patterns_app.command("delete")
def patterns_delete(
    pattern_id: Annotated[int, typer.Argument(help="The pattern id.")],
    environment_ref: EnvOption,
    db: DbOption = None,
) -> None:
    """Delete a URL pattern."""
    from streammeter.cli.main import environment, fail, out, store_for

    with store_for(db) as store:
        env = environment(store, environment_ref)
        if not store.delete_url_pattern(env.env_key, pattern_id):
            raise fail(f"no URL pattern {pattern_id} in {environment_ref}")
    out.print(f"Deleted URL pattern {pattern_id}.")
