"""HLS master and media playlists -> renditions and index objects (pure: no store).

Parsing is done by the `m3u8` package; this module resolves URIs to the paths a CDN logs,
decides tracks, and turns segments, parts, maps and keys into `IndexObject`s. See
docs/index.md for every decision and approximation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import m3u8

from streammeter.index.common import (
    ManifestError,
    PlaylistRef,
    audio_only_codecs,
    base_of,
    codec_classes,
    exact_seconds,
    kind_from_extension,
    parse_byterange,
    resolve,
    unique,
    url_path,
)
from streammeter.index.entry import IndexObject, Rendition

_MASTER_TAGS = re.compile(
    r"^#EXT-X-(STREAM-INF|I-FRAME-STREAM-INF|IMAGE-STREAM-INF|MEDIA|SESSION-KEY|SESSION-DATA)"
    r"[:\s]",
    re.MULTILINE,
)


class MasterPlaylist(NamedTuple):
    """What a master (multivariant) playlist declares."""

    renditions: list[Rendition]
    #: every media playlist it references, by rendition id (= the media playlist's path)
    playlists: dict[str, PlaylistRef]
    #: the master itself, a placeholder `manifest` object per media playlist, session keys
    objects: list[IndexObject]


def is_hls(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n").startswith("#EXTM3U")


def is_master(text: str) -> bool:
    """A master playlist (variants / renditions) rather than a media playlist."""
    return _MASTER_TAGS.search(text) is not None


def _load(text: str, where: str) -> m3u8.M3U8:
    if not is_hls(text):
        raise ManifestError(f"{where}: line 1: not an HLS playlist (it must start with #EXTM3U)")
    last: list[Any] = [1, ""]

    def track(line: str, lineno: int, data: object, state: object) -> bool:
        last[0], last[1] = lineno, line
        return False  # let m3u8 parse the tag as usual

    try:
        return m3u8.M3U8(text.lstrip("\ufeff"), custom_tags_parser=track)
    except Exception as exc:  # m3u8 raises ValueError, IndexError, ParseError...
        raise ManifestError(f"{where}: line {last[0]} ({last[1][:80]}): {exc}") from None


def _resolution(info: Any) -> tuple[int | None, int | None]:
    resolution = getattr(info, "resolution", None)
    if not resolution:
        return None, None
    return int(resolution[0]), int(resolution[1])


def parse_master(text: str, url: str, asset_id: str = "") -> MasterPlaylist:
    """Renditions and media-playlist references of the master playlist served at `url`.

    Its objects: the master itself (rendition None), one placeholder `manifest` object per
    media playlist it references (so requests for them map to the asset even before the
    playlist is registered), and `#EXT-X-SESSION-KEY` keys.

    Tracks: a variant with RESOLUTION, a video codec, or a VIDEO group is 'video' (muxed
    A/V included); a variant whose CODECS lists only audio codecs is 'audio-only'; an
    `#EXT-X-MEDIA:TYPE=AUDIO` rendition is 'audio' (demuxed beside video), or 'audio-only'
    when every variant of the master is audio-only. A path listed both as an audio-only
    variant and as the audio of video variants is 'audio': bytes only. Variants
    repeated under several audio groups are one rendition (the first declaration's
    BANDWIDTH). I-frame variants are renditions with iframe=True.
    """
    path = url_path(url)
    base = base_of(url)
    playlist = _load(text, path)
    if not playlist.is_variant:
        raise ManifestError(f"{path}: this is a media playlist, not a master playlist")

    renditions: dict[str, Rendition] = {}
    refs: dict[str, PlaylistRef] = {}

    def add(rendition: Rendition, role: str = "media") -> None:
        renditions.setdefault(rendition.rendition_id, rendition)
        refs.setdefault(
            rendition.rendition_id,
            PlaylistRef(rendition.rendition_id, rendition.rendition_id, role),
        )

    variants: list[tuple[str, Any]] = []
    for variant in playlist.playlists:
        target = resolve(base, variant.uri)
        if target is not None:
            variants.append((target, variant.stream_info))
    all_audio = bool(variants) and all(_variant_track(info) == "audio-only" for _, info in variants)
    first_by_video_group: dict[str, Any] = {}
    for target, info in variants:
        width, height = _resolution(info)
        add(Rendition(target, _variant_track(info), width, height, info.bandwidth))
        if info.video:
            first_by_video_group.setdefault(info.video.strip('"'), info)

    for media in playlist.media:
        target = resolve(base, media.uri)
        if target is None:
            continue  # no URI: carried inside the variant (or CLOSED-CAPTIONS)
        kind = (media.type or "").upper()
        if kind == "AUDIO":
            shared = renditions.get(target)
            if shared is not None and shared.track == "audio-only" and not all_audio:
                # Also the audio of video variants: a request cannot tell which playback it
                # serves, so it earns bytes only and no second is counted twice (4.4).
                renditions[target] = Rendition(target, "audio", bandwidth=shared.bandwidth)
            add(Rendition(target, "audio-only" if all_audio else "audio"))
        elif kind == "VIDEO":
            info = first_by_video_group.get((media.group_id or "").strip('"'))
            width, height = _resolution(info)
            add(Rendition(target, "video", width, height, getattr(info, "bandwidth", None)))
        elif kind == "SUBTITLES":
            refs.setdefault(target, PlaylistRef(target, target, "subtitle"))

    for variant in playlist.iframe_playlists:
        target = resolve(base, variant.uri)
        if target is None:
            continue
        info = variant.iframe_stream_info
        width, height = _resolution(info)
        add(Rendition(target, "video", width, height, info.bandwidth, iframe=True), "iframe")

    for image in getattr(playlist, "image_playlists", None) or []:
        target = resolve(base, image.uri)
        if target is not None:
            refs.setdefault(target, PlaylistRef(target, target, "thumbnail"))

    objects = [IndexObject(path, asset_id, None, "manifest")]
    objects += [
        IndexObject(ref.path, asset_id, ref.rendition_id, "manifest") for ref in refs.values()
    ]
    for key in playlist.session_keys or []:
        target = resolve(base, getattr(key, "uri", None))
        if target is not None and (key.method or "").upper() != "NONE":
            objects.append(IndexObject(target, asset_id, None, "key"))
    return MasterPlaylist(list(renditions.values()), refs, unique(objects))


def _variant_track(info: Any) -> str:
    if getattr(info, "resolution", None) or getattr(info, "video", None):
        return "video"
    if "video" in codec_classes(info.codecs):
        return "video"
    return "audio-only" if audio_only_codecs(info.codecs) else "video"


def _line_numbers(text: str) -> tuple[list[int], list[int]]:
    """Line numbers of segment URI lines and of #EXT-X-PART tags, in order."""
    segments, parts = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("#"):
            segments.append(number)
        elif line.startswith("#EXT-X-PART:"):
            parts.append(number)
    return segments, parts


def parse_media(
    text: str,
    url: str,
    rendition: Rendition | str | None,
    asset_id: str,
    *,
    role: str | None = None,
    sizes: Mapping[str, int] | None = None,
) -> list[IndexObject]:
    """Index objects of the media playlist served at `url`.

    `rendition` (a Rendition or its id) defaults to the playlist's own path, which is also
    the id a master gives it, so playlists and masters link whatever order they come in.
    `role` is what the master said of it ('iframe', 'subtitle', 'thumbnail'); without it
    `#EXT-X-I-FRAMES-ONLY` / `#EXT-X-IMAGES-ONLY` and file extensions decide. `sizes` maps
    paths to whole-file byte sizes when known. No `#EXT-X-ENDLIST` means live.
    """
    path = url_path(url)
    base = base_of(url)
    playlist = _load(text, path)
    if playlist.is_variant:
        raise ManifestError(f"{path}: this is a master playlist, not a media playlist")
    if isinstance(rendition, Rendition):
        rendition_id = rendition.rendition_id
        iframe = rendition.iframe
    else:
        rendition_id = rendition or path
        iframe = False
    iframe = iframe or role == "iframe" or bool(playlist.is_i_frames_only)
    if iframe:
        media_kind = "other"  # trick play: bytes only (counting.md 4), duration kept
    elif role == "thumbnail" or getattr(playlist, "is_images_only", False):
        media_kind = "thumbnail"
    elif role == "subtitle":
        media_kind = "subtitle"
    else:
        media_kind = ""  # by extension, 'segment' by default
    # live: no #EXT-X-ENDLIST (an EVENT playlist still growing counts as live), unless the
    # playlist declares itself VOD
    live = not playlist.is_endlist and (playlist.playlist_type or "").upper() != "VOD"
    sizes = sizes or {}
    segment_lines, part_lines = _line_numbers(text)

    def whole(target: str) -> int | None:
        return sizes.get(target)

    objects = [IndexObject(path, asset_id, rendition_id, "manifest", live=live)]
    for section in playlist.segment_map or []:
        target = resolve(base, section.uri)
        if target is None:
            continue
        if section.byterange:
            length, offset = parse_byterange(section.byterange)
            objects.append(
                IndexObject(target, asset_id, rendition_id, "init", None, offset or 0, length, live)
            )
        else:
            objects.append(
                IndexObject(target, asset_id, rendition_id, "init", None, None, whole(target), live)
            )
    for key in playlist.keys or []:
        target = resolve(base, getattr(key, "uri", None))
        if target is not None and (key.method or "").upper() != "NONE":
            objects.append(IndexObject(target, asset_id, rendition_id, "key", live=live))

    first_number = playlist.media_sequence or 0
    previous_segment: tuple[str, int] | None = None
    previous_part: tuple[str, int] | None = None
    part_counter = 0
    segment_counter = 0
    for position, segment in enumerate(playlist.segments):
        number = first_number + position
        for part_index, part in enumerate(segment.parts or []):
            line = part_lines[part_counter] if part_counter < len(part_lines) else 0
            part_counter += 1
            target = resolve(base, part.uri)
            if target is None:
                continue
            start, length, previous_part = _range(
                part.byterange, target, previous_part, f"{path}: line {line} ({part.uri})"
            )
            objects.append(IndexObject(
                target, asset_id, rendition_id, "other" if iframe else "part",
                exact_seconds(part.duration), start,
                length if start is not None else whole(target), live, number, part_index,
            ))  # fmt: skip
        if segment.uri is None:
            continue  # parts of a segment not complete yet (LL-HLS live edge)
        line = segment_lines[segment_counter] if segment_counter < len(segment_lines) else 0
        segment_counter += 1
        target = resolve(base, segment.uri)
        if target is None:
            continue
        start, length, previous_segment = _range(
            segment.byterange, target, previous_segment, f"{path}: line {line} ({segment.uri})"
        )
        kind = media_kind or kind_from_extension(target)
        if kind == "manifest":
            kind = "segment"
        objects.append(IndexObject(
            target, asset_id, rendition_id, kind, exact_seconds(segment.duration), start,
            length if start is not None else whole(target), live, number,
        ))  # fmt: skip
    return unique(objects)


def _range(
    byterange: str | None, target: str, previous: tuple[str, int] | None, where: str
) -> tuple[int | None, int | None, tuple[str, int] | None]:
    """(byte_start, byte_length, new previous) for an optional `len[@off]` byte range."""
    if not byterange:
        return None, None, None
    try:
        length, offset = parse_byterange(byterange)
    except ManifestError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    if offset is None:
        if previous is None or previous[0] != target:
            raise ManifestError(
                f"{where}: byte range {byterange} has no offset, and the previous one is not "
                "a range of the same file"
            )
        offset = previous[1]
    return offset, length, (target, offset + length)
