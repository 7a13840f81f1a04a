"""Shared vocabulary of the manifest parsers: URL resolution, byte ranges, codecs, kinds."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from fractions import Fraction
from typing import NamedTuple
from urllib.parse import unquote, urljoin, urlsplit

from streammeter.index.entry import IndexObject

KINDS = ("segment", "part", "init", "manifest", "key", "subtitle", "thumbnail", "other")
TRACKS = ("video", "audio", "audio-only")
#: What a media playlist referenced by a master carries (decides its objects' kind).
ROLES = ("media", "iframe", "subtitle", "thumbnail")

MANIFEST_EXTENSIONS = frozenset({".m3u8", ".m3u", ".mpd"})
SUBTITLE_EXTENSIONS = frozenset({".vtt", ".webvtt", ".srt", ".ttml", ".dfxp"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bif"})
KEY_EXTENSIONS = frozenset({".key"})

_VIDEO_CODECS = frozenset({
    "avc1", "avc2", "avc3", "avc4", "hvc1", "hev1", "dvh1", "dvhe", "dva1", "dvav", "dav1",
    "av01", "vp08", "vp09", "vp8", "vp9", "mp4v", "vvc1", "vvi1", "evc1", "mjpg", "theora",
})  # fmt: skip
_AUDIO_CODECS = frozenset({
    "mp4a", "ac-3", "ec-3", "ac-4", "opus", "flac", "alac", "mp3", ".mp3", "mha1", "mha2",
    "mhm1", "mhm2", "dtsc", "dtse", "dtsh", "dtsl", "dtsx", "dtsy", "ipcm", "fpcm", "vorbis",
    "samr", "sawb",
})  # fmt: skip
_TEXT_CODECS = frozenset({"wvtt", "stpp", "tx3g", "c608", "c708", "evte"})


class ManifestError(ValueError):
    """A manifest that cannot be indexed; the message names the file and the line or element."""


class PlaylistRef(NamedTuple):
    """A media playlist a master playlist references: its path, rendition and role."""

    path: str
    rendition_id: str
    role: str  # one of ROLES


def url_path(url: str) -> str:
    """The path a CDN logs for `url` (a path or an absolute URL): no query, percent-decoded."""
    text = url.strip()
    if not text:
        raise ManifestError("the URL path is empty")
    parts = urlsplit(text)
    if parts.scheme and parts.scheme.lower() not in ("http", "https"):
        raise ManifestError(f"{url!r} is not an http(s) URL or an absolute path")
    path = parts.path if (parts.scheme or parts.netloc) else text.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        path = "/" + path
    return unquote(path)


def base_of(url: str) -> str:
    """`url` as a base for joining: the raw (still encoded) path without query or fragment."""
    parts = urlsplit(url.strip())
    path = parts.path if (parts.scheme or parts.netloc) else url.strip().split("?", 1)[0]
    return path if path.startswith("/") else "/" + path


def resolve(base: str, uri: str | None) -> str | None:
    """The CDN path of `uri` as referenced from the document served at `base`.

    Relative URIs are joined to `base` (RFC 3986, like a player does); absolute http(s) URLs
    keep only their path; query strings (session tokens such as `?wowzasessionid=`) and
    fragments are dropped and the path is percent-decoded. URIs that no CDN serves (`data:`,
    `skd:` FairPlay keys, other schemes) give None.
    """
    if uri is None:
        return None
    text = uri.strip()
    if not text:
        return None
    scheme = urlsplit(text).scheme.lower()
    if scheme and scheme not in ("http", "https"):
        return None
    path = urlsplit(urljoin(base, text)).path
    if not path:
        return None
    return unquote(path if path.startswith("/") else "/" + path)


def join_base(base: str, uri: str | None) -> str:
    """Join a DASH BaseURL (kept encoded, so further joins work) onto `base`."""
    if uri is None or not uri.strip():
        return base
    joined = urljoin(base, uri.strip())
    parts = urlsplit(joined)
    if parts.scheme or parts.netloc:
        return parts.path or "/"
    return joined.split("?", 1)[0]


def extension(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def kind_from_extension(path: str, default: str = "segment") -> str:
    """Object kind guessed from the file name (manifest knowledge comes first)."""
    ext = extension(path)
    if ext in MANIFEST_EXTENSIONS:
        return "manifest"
    if ext in SUBTITLE_EXTENSIONS:
        return "subtitle"
    if ext in IMAGE_EXTENSIONS:
        return "thumbnail"
    if ext in KEY_EXTENSIONS:
        return "key"
    return default


def parse_byterange(value: str) -> tuple[int, int | None]:
    """HLS `length[@offset]` -> (length, offset or None)."""
    length_text, _, offset_text = value.strip().strip('"').partition("@")
    try:
        length = int(length_text)
        offset = int(offset_text) if offset_text else None
    except ValueError:
        raise ManifestError(f"byte range {value!r} is not LENGTH[@OFFSET]") from None
    if length < 0 or (offset is not None and offset < 0):
        raise ManifestError(f"byte range {value!r} is negative")
    return length, offset


def parse_range(value: str) -> tuple[int, int]:
    """DASH `first-last` (inclusive) -> (start, length)."""
    first_text, sep, last_text = value.strip().partition("-")
    try:
        first, last = int(first_text), int(last_text)
    except ValueError:
        raise ManifestError(f"byte range {value!r} is not FIRST-LAST") from None
    if not sep or first < 0 or last < first:
        raise ManifestError(f"byte range {value!r} is not FIRST-LAST with FIRST <= LAST")
    return first, last - first + 1


def exact_seconds(value: float | int | str | None) -> Fraction | None:
    """A duration as an exact Fraction of the decimal the manifest wrote.

    The `m3u8` package hands durations over as floats; `repr` gives back the shortest decimal
    that reads as the same float, which is the decimal written in the playlist for any value
    of up to 15 significant digits (EXTINF values have far fewer).
    """
    if value is None:
        return None
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


def codec_classes(codecs: str | None) -> set[str]:
    """{'video', 'audio', 'text', 'unknown'} present in an RFC 6381 CODECS list."""
    classes: set[str] = set()
    for codec in (codecs or "").replace('"', "").split(","):
        name = codec.strip().lower()
        if not name:
            continue
        base = name.split(".", 1)[0]
        if base in _VIDEO_CODECS:
            classes.add("video")
        elif base in _AUDIO_CODECS or name in _AUDIO_CODECS:
            classes.add("audio")
        elif base in _TEXT_CODECS:
            classes.add("text")
        else:
            classes.add("unknown")
    return classes


def audio_only_codecs(codecs: str | None) -> bool:
    """True when CODECS names audio and nothing that could be video (e.g. `mp4a.40.5`)."""
    classes = codec_classes(codecs)
    return "audio" in classes and not classes & {"video", "unknown"}


def unique(objects: Iterable[IndexObject]) -> list[IndexObject]:
    """One object per (path, byte_start): the first one wins."""
    seen: dict[tuple[str, int | None], IndexObject] = {}
    for obj in objects:
        seen.setdefault((obj.path, obj.byte_start), obj)
    return list(seen.values())
