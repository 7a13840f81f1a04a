"""Register manifests with the store: a packager's output tree, one file, or uploaded text.

A master registered alone records its renditions and a placeholder for each media playlist;
a media playlist registered later (by its URL) links to its rendition through that path, and
a newer snapshot of a live playlist adds its new segments to the ones already indexed.
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from streammeter.index import dash, hls
from streammeter.index.common import (
    MANIFEST_EXTENSIONS,
    ManifestError,
    PlaylistRef,
    extension,
    url_path,
)
from streammeter.index.entry import IndexObject, Rendition
from streammeter.store.base import Store

MAX_MANIFEST_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class Indexed:
    """What parsing produced, before it is stored."""

    renditions: list[Rendition] = field(default_factory=list)
    objects: list[IndexObject] = field(default_factory=list)
    playlists: list[PlaylistRef] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # URL paths of the manifests read
    formats: list[str] = field(default_factory=list)  # hls-master | hls-media | dash
    missing: list[str] = field(default_factory=list)  # referenced, not found in the tree


@dataclass(slots=True)
class RegisterResult:
    asset_id: str
    files: list[str]
    formats: list[str]
    renditions: int
    objects: int
    segments: int
    parts: int
    live: bool
    missing: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def manifest_format(text: str, path: str) -> str:
    """'hls-master', 'hls-media' or 'dash'; ManifestError for anything else."""
    if hls.is_hls(text):
        return "hls-master" if hls.is_master(text) else "hls-media"
    if dash.is_mpd(text):
        return "dash"
    raise ManifestError(f"{path}: line 1: neither an HLS playlist (#EXTM3U) nor a DASH MPD (<MPD>)")


def _prefix(url_prefix: str) -> str:
    """A URL prefix as an encoded absolute path ending with '/'."""
    path = url_path(url_prefix)
    return quote(path if path.endswith("/") else path + "/")


def directory_sizes(directory: Path, url_prefix: str) -> dict[str, int]:
    """Byte size of every file under `directory`, by the URL path it is served at."""
    prefix = url_path(_prefix(url_prefix))
    return {
        prefix + file.relative_to(directory).as_posix(): file.stat().st_size
        for file in sorted(directory.rglob("*"))
        if file.is_file()
    }


def read_sizes(file: Path, url_prefix: str) -> dict[str, int]:
    """A `name<TAB>bytes` (or comma-separated) list of file sizes, names relative to
    `url_prefix` (or absolute paths); a header line and blank sizes are skipped."""
    prefix = url_path(_prefix(url_prefix))
    sizes: dict[str, int] = {}
    text = file.read_text(encoding="utf-8-sig")
    dialect = "excel-tab" if "\t" in text else "excel"
    for row in csv.reader(text.splitlines(), dialect):
        if len(row) < 2 or not row[1].strip().isdigit():
            continue
        name = row[0].strip()
        sizes[name if name.startswith("/") else prefix + name] = int(row[1].strip())
    return sizes


def _read(file: Path, path: str) -> str:
    if file.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path}: larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def index_tree(
    asset_id: str,
    url_prefix: str,
    directory: Path,
    *,
    sizes: Mapping[str, int] | None = None,
) -> Indexed:
    """Parse every manifest under `directory` (served at `url_prefix`): masters first, then
    each media playlist with the rendition and role its master gives it, then MPDs."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ManifestError(f"{directory} is not a directory")
    prefix = _prefix(url_prefix)
    all_sizes = {**directory_sizes(directory, url_prefix), **(sizes or {})}
    texts: dict[str, str] = {}  # encoded URL -> text
    for file in sorted(directory.rglob("*")):
        if file.is_file() and extension(file.name) in MANIFEST_EXTENSIONS:
            url = prefix + quote(file.relative_to(directory).as_posix())
            texts[url] = _read(file, url_path(url))
    if not texts:
        raise ManifestError(f"{directory}: no .m3u8 or .mpd file")
    formats = {url: manifest_format(text, url_path(url)) for url, text in texts.items()}

    result = Indexed(files=[url_path(url) for url in texts])
    renditions: dict[str, Rendition] = {}
    refs: dict[str, PlaylistRef] = {}
    master_objects: list[IndexObject] = []
    masters: list[str] = []
    for url, text in texts.items():
        if formats[url] != "hls-master":
            continue
        master = hls.parse_master(text, url, asset_id)
        masters.append(url_path(url))
        for rendition in master.renditions:
            renditions.setdefault(rendition.rendition_id, rendition)
        for path, ref in master.playlists.items():
            refs.setdefault(path, ref)
        master_objects += master.objects

    media_objects: list[IndexObject] = []
    any_live = False
    for url, text in texts.items():
        if formats[url] != "hls-media":
            continue
        ref = refs.get(url_path(url))
        rendition: Rendition | str | None = None
        if ref is not None:
            rendition = renditions.get(ref.rendition_id, ref.rendition_id)
        objects = hls.parse_media(
            text, url, rendition, asset_id, role=ref.role if ref else None, sizes=all_sizes
        )
        any_live = any_live or objects[0].live
        media_objects += objects

    dash_objects: list[IndexObject] = []
    for url, text in texts.items():
        if formats[url] == "dash":
            manifest = dash.parse_mpd(text, url, asset_id, sizes=all_sizes)
            for rendition in manifest.renditions:
                renditions.setdefault(rendition.rendition_id, rendition)
            dash_objects += manifest.objects

    if any_live:  # the masters of live media playlists are live objects too
        master_objects = [
            replace(obj, live=True) if obj.path in masters and obj.rendition_id is None else obj
            for obj in master_objects
        ]
    # a media playlist's own objects win over its master's placeholder
    result.objects = media_objects + dash_objects + master_objects
    result.renditions = list(renditions.values())
    result.playlists = list(refs.values())
    result.formats = [formats[url] for url in texts]
    parsed = {url_path(url) for url, fmt in formats.items() if fmt == "hls-media"}
    result.missing = sorted(path for path in refs if path not in parsed)
    return result


def index_text(
    store: Store | None,
    env_key: int,
    asset_id: str,
    url: str,
    text: str,
    *,
    sizes: Mapping[str, int] | None = None,
) -> Indexed:
    """Parse one manifest served at `url`. A media playlist takes the rendition and role a
    registered master gave its path (looked up in `store` when one is given)."""
    path = url_path(url)
    fmt = manifest_format(text, path)
    result = Indexed(files=[path], formats=[fmt])
    if fmt == "hls-master":
        master = hls.parse_master(text, url, asset_id)
        result.renditions = master.renditions
        result.playlists = list(master.playlists.values())
        result.objects = master.objects
        if store is not None:  # keep what registered media playlists say about themselves
            known = store.lookup_index(env_key, list(master.playlists))
            result.objects = [
                obj
                for obj in master.objects
                if not (obj.kind == "manifest" and obj.rendition_id and obj.path in known)
            ]
    elif fmt == "hls-media":
        rendition: Rendition | str | None = None
        role = None
        if store is not None:
            ref = store.playlist_refs(env_key, [path]).get(path)
            if ref is not None:
                role = ref[1].role
                rendition = ref[1].rendition_id
                found = store.rendition_map(env_key, [(asset_id, ref[1].rendition_id)])
                rendition = found.get((asset_id, ref[1].rendition_id), rendition)
        result.objects = hls.parse_media(text, url, rendition, asset_id, role=role, sizes=sizes)
    else:
        manifest = dash.parse_mpd(text, url, asset_id, sizes=sizes)
        result.renditions, result.objects = manifest.renditions, manifest.objects
    return result


def _store(store: Store, env_key: int, asset_id: str, indexed: Indexed) -> RegisterResult:
    if not asset_id or not asset_id.strip():
        raise ManifestError("an asset id is required")
    if indexed.missing:  # keep what media playlists registered earlier say about themselves
        known = store.lookup_index(env_key, indexed.missing)
        indexed.objects = [
            obj
            for obj in indexed.objects
            if not (obj.kind == "manifest" and obj.rendition_id and obj.path in known)
        ]
    written = store.register_index(
        env_key, asset_id, indexed.renditions, indexed.objects, playlists=indexed.playlists
    )
    kinds = [obj.kind for obj in indexed.objects]
    return RegisterResult(
        asset_id=asset_id,
        files=indexed.files,
        formats=indexed.formats,
        renditions=len(indexed.renditions),
        objects=written,
        segments=kinds.count("segment"),
        parts=kinds.count("part"),
        live=any(obj.live for obj in indexed.objects),
        missing=indexed.missing,
    )


def register_tree(
    store: Store,
    env_key: int,
    asset_id: str,
    url_prefix: str,
    directory: Path | str,
    *,
    sizes: Mapping[str, int] | None = None,
) -> RegisterResult:
    """Index every manifest under `directory`, a mirror of the tree served at `url_prefix`
    (as a packager writes it). Files present there also give whole-file segment sizes."""
    indexed = index_tree(asset_id, url_prefix, Path(directory), sizes=sizes)
    return _store(store, env_key, asset_id, indexed)


def register_text(
    store: Store,
    env_key: int,
    asset_id: str,
    url: str,
    text: str,
    *,
    sizes: Mapping[str, int] | None = None,
) -> RegisterResult:
    """Index one manifest (HLS master, HLS media playlist or DASH MPD) served at `url`."""
    indexed = index_text(store, env_key, asset_id, url, text, sizes=sizes)
    return _store(store, env_key, asset_id, indexed)


def register_file(
    store: Store,
    env_key: int,
    asset_id: str,
    url: str,
    file: Path | str,
    *,
    sizes: Mapping[str, int] | None = None,
) -> RegisterResult:
    """Index the manifest in `file`, served at `url`."""
    text = _read(Path(file), url_path(url))
    return register_text(store, env_key, asset_id, url, text, sizes=sizes)


def url_directory(url: str) -> str:
    """The directory part of a URL path (for sizes listed relative to a manifest)."""
    return posixpath.dirname(url_path(url)) + "/"
