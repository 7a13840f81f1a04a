"""DASH MPD -> renditions and index objects (pure: no store).

The `mpegdash` package gives the object model; this module expands what it leaves to the
caller: BaseURL chains, SegmentTemplate identifiers, SegmentTimeline repeats, attribute
inheritance between Period / AdaptationSet / Representation, and period timing. See
docs/index.md for the approximations (SegmentBase, durations clipped to the period).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from mpegdash.nodes import MPEGDASH

from streammeter.index.common import (
    ManifestError,
    base_of,
    codec_classes,
    join_base,
    parse_range,
    resolve,
    unique,
    url_path,
)
from streammeter.index.entry import IndexObject, Rendition

#: Upper bound of segments one Representation may expand to (a guard against `r="1e9"`).
MAX_SEGMENTS = 1_000_000
TRICKMODE_SCHEME = "http://dashif.org/guidelines/trickmode"

_NUMBER = r"(\d+(?:[.,]\d+)?)"
_ISO_DURATION = re.compile(
    rf"^P(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?$"
)
_IDENTIFIER = re.compile(r"\$([^$]*)\$")
_IDENTIFIER_BODY = re.compile(r"^(RepresentationID|Number|Time|Bandwidth)(?:%0(\d+)([dxX]))?$")
_SEGMENT_FIELDS = (
    "timescale", "duration", "start_number", "end_number", "presentation_time_offset",
    "media", "initialization", "index", "segment_timelines", "initializations",
    "representation_indexes", "index_range", "segment_urls",
)  # fmt: skip


class DashManifest(NamedTuple):
    renditions: list[Rendition]
    objects: list[IndexObject]


def is_mpd(text: str) -> bool:
    head = text.lstrip("\ufeff \t\r\n")[:4096]
    if not head.startswith("<"):
        return False
    return "<MPD" in head or re.search(r"<\w+:MPD[\s>]", head) is not None


def iso_duration(value: str | None, where: str) -> Fraction | None:
    """ISO 8601 `PnDTnHnMn.nS` -> exact seconds (years and months have no fixed length)."""
    if value is None:
        return None
    text = value.strip()
    match = _ISO_DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ManifestError(f"{where}: {value!r} is not an ISO 8601 duration")
    years, months, weeks, days, hours, minutes, seconds = (
        Fraction(group.replace(",", ".")) if group else Fraction(0) for group in match.groups()
    )
    if years or months:
        raise ManifestError(f"{where}: {value!r} uses years or months, which have no fixed length")
    return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + seconds


def _fill(template: str, where: str, values: Mapping[str, Any]) -> str:
    """Expand `$RepresentationID$`, `$Number$`, `$Number%05d$`, `$Time$`, `$Bandwidth$`, `$$`."""

    def substitute(match: re.Match[str]) -> str:
        body = match.group(1)
        if body == "":
            return "$"
        parsed = _IDENTIFIER_BODY.match(body)
        if parsed is None:
            raise ManifestError(f"{where}: unknown template identifier ${body}$ in {template!r}")
        name, width, conversion = parsed.groups()
        value = values.get(name)
        if value is None:
            raise ManifestError(f"{where}: ${name}$ has no value here ({template!r})")
        if width is None:
            return str(value)
        if name == "RepresentationID":
            raise ManifestError(f"{where}: $RepresentationID$ takes no format ({template!r})")
        return format(int(value), f"0{int(width)}{conversion}")

    return _IDENTIFIER.sub(substitute, template)


def _load(text: str, where: str) -> MPEGDASH:
    try:
        dom = minidom.parseString(text.lstrip("\ufeff"))
    except ExpatError as exc:
        raise ManifestError(f"{where}: not well-formed XML: {exc}") from None
    root = dom.documentElement
    if (root.localName or root.tagName) != "MPD":
        raise ManifestError(f"{where}: the root element is <{root.tagName}>, not <MPD>")
    mpd = MPEGDASH()
    try:
        mpd.parse(root)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ManifestError(f"{where}: {_locate(dom, exc)}invalid value: {exc}") from None
    return mpd


def _locate(dom: minidom.Document, exc: Exception) -> str:
    """The element and attribute holding the value `exc` complains about, when findable."""
    match = re.search(r"'([^']*)'\s*$", str(exc))
    if match is None:
        return ""
    bad = match.group(1)
    for element in dom.getElementsByTagName("*"):
        for name, value in element.attributes.items():
            if value == bad:
                return f'<{element.tagName} {name}="{value}">: '
    return ""


def _timing(
    periods: Sequence[Any], total: Fraction | None, where: str
) -> list[tuple[Fraction | None, Fraction | None]]:
    """(start, duration) of each Period, from @start/@duration, the next Period's start,
    or MPD@mediaPresentationDuration; None where the MPD does not say (open live period)."""
    starts: list[Fraction | None] = []
    declared: list[Fraction | None] = []
    for number, period in enumerate(periods):
        label = f"{where}: Period {period.id or number + 1}"
        start = iso_duration(period.start, f"{label} @start")
        duration = iso_duration(period.duration, f"{label} @duration")
        if start is None:
            if number == 0:
                start = Fraction(0)
            elif starts[-1] is not None and declared[-1] is not None:
                start = starts[-1] + declared[-1]
        starts.append(start)
        declared.append(duration)
    timing: list[tuple[Fraction | None, Fraction | None]] = []
    for number, (start, duration) in enumerate(zip(starts, declared, strict=True)):
        if duration is None and start is not None:
            if number + 1 < len(starts):
                following = starts[number + 1]
                duration = following - start if following is not None else None
            elif total is not None:
                duration = total - start
        if duration is not None and duration < 0:
            duration = Fraction(0)
        timing.append((start, duration))
    return timing


def _content(adaptation: Any, representation: Any) -> str:
    """'video' (muxed A/V included), 'audio', 'text' or 'image'."""
    types = {(adaptation.content_type or "").lower()}
    types |= {(c.content_type or "").lower() for c in adaptation.content_components or []}
    mime = (representation.mime_type or adaptation.mime_type or "").lower()
    types.add(mime.split("/", 1)[0])
    classes = codec_classes(representation.codecs or adaptation.codecs)
    if "video" in types or "video" in classes:
        return "video"
    if "audio" in types or "audio" in classes:
        return "audio"
    if "text" in types or "text" in classes or "ttml" in mime or "vtt" in mime:
        return "text"
    if "image" in types:
        return "image"
    return "video"


def _trick_mode(*nodes: Any) -> bool:
    for node in nodes:
        for prop in (node.essential_properties or []) + (node.supplemental_properties or []):
            if (prop.scheme_id_uri or "").strip() == TRICKMODE_SCHEME:
                return True
    return False


def _base(base: str, base_urls: Sequence[Any] | None) -> str:
    """Apply the first BaseURL of a level (alternatives for other CDNs are ignored)."""
    if not base_urls:
        return base
    return join_base(base, base_urls[0].base_url_value)


def _segment_info(levels: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """The addressing mode of the innermost level that has one, merged over the levels."""
    mode = "none"
    for level in reversed(levels):
        for attr, name in (
            ("segment_templates", "template"), ("segment_lists", "list"),
            ("segment_bases", "base"),
        ):  # fmt: skip
            if getattr(level, attr, None):
                mode = name
                break
        if mode != "none":
            break
    if mode == "none":
        return mode, {}
    attr = {"template": "segment_templates", "list": "segment_lists", "base": "segment_bases"}[mode]
    merged: dict[str, Any] = {}
    for level in levels:
        nodes = getattr(level, attr, None) or []
        for node in nodes[:1]:
            for field in _SEGMENT_FIELDS:
                value = getattr(node, field, None)
                if value is not None:
                    merged[field] = value
    return mode, merged


def _timeline(
    timeline: Any, start_number: int, pto: int, timescale: int, period: Fraction | None,
    where: str,
) -> list[tuple[int, int, int]]:  # fmt: skip
    """(number, time, duration ticks) of each segment of a SegmentTimeline."""
    entries = timeline.Ss or []
    segments: list[tuple[int, int, int]] = []
    number, time = start_number, 0
    for position, entry in enumerate(entries):
        if entry.d is None or entry.d <= 0:
            raise ManifestError(f"{where}: SegmentTimeline <S> #{position + 1} has no positive @d")
        if entry.t is not None:
            time = entry.t
        repeat = entry.r or 0
        if repeat < 0:  # repeat until the next S@t, else until the period ends
            following = entries[position + 1].t if position + 1 < len(entries) else None
            end: Fraction | int | None = following
            if end is None and period is not None:
                end = pto + period * timescale
            repeat = max(math.ceil((end - time) / entry.d) - 1, 0) if end is not None else 0
        if len(segments) + repeat + 1 > MAX_SEGMENTS:
            raise ManifestError(f"{where}: more than {MAX_SEGMENTS} segments")
        for _ in range(repeat + 1):
            segments.append((number, time, entry.d))
            number += 1
            time += entry.d
    return segments


def _visible(time: int, ticks: int, pto: int, timescale: int, period: Fraction | None) -> Fraction:
    """Seconds of a segment inside its period (media past the period end is not presented)."""
    start = Fraction(time - pto, timescale)
    end = start + Fraction(ticks, timescale)
    if period is not None:
        end = min(end, period)
    return max(end - max(start, Fraction(0)), Fraction(0))


class _Rep(NamedTuple):
    asset_id: str
    rendition_id: str
    kind: str
    live: bool
    base: str
    values: dict[str, Any]
    period: Fraction | None
    dynamic: bool
    where: str
    sizes: Mapping[str, int]


def _file(base: str) -> str | None:
    return resolve(base, base)


def _url_object(rep: _Rep, node: Any, kind: str) -> IndexObject | None:
    """An Initialization / RepresentationIndex (sourceURL + range) as an object."""
    target = resolve(rep.base, node.source_url) if node.source_url else _file(rep.base)
    if target is None:
        return None
    if node.range:
        start, length = parse_range(node.range)
        return IndexObject(
            target, rep.asset_id, rep.rendition_id, kind, None, start, length, rep.live
        )
    return IndexObject(
        target, rep.asset_id, rep.rendition_id, kind, None, None, rep.sizes.get(target), rep.live
    )


def _template_objects(rep: _Rep, info: dict[str, Any]) -> list[IndexObject]:
    timescale = info.get("timescale") or 1
    pto = info.get("presentation_time_offset") or 0
    start_number = info.get("start_number")
    start_number = 1 if start_number is None else start_number
    objects: list[IndexObject] = []
    for attr, kind in (("initialization", "init"), ("index", "other")):
        if info.get(attr):
            target = resolve(rep.base, _fill(info[attr], rep.where, rep.values))
            if target is not None:
                objects.append(
                    IndexObject(
                        target,
                        rep.asset_id,
                        rep.rendition_id,
                        kind,
                        None,
                        None,
                        rep.sizes.get(target),
                        rep.live,
                    )
                )
    for attr, kind in (("initializations", "init"), ("representation_indexes", "other")):
        for node in (info.get(attr) or [])[:1]:
            objects.append(_url_object(rep, node, kind))
    media = info.get("media")
    if not media:
        return [obj for obj in objects if obj is not None]
    if info.get("segment_timelines"):
        segments = _timeline(
            info["segment_timelines"][0], start_number, pto, timescale, rep.period, rep.where
        )
    elif info.get("duration"):
        duration = info["duration"]
        end_number = info.get("end_number")
        if rep.period is not None:
            count = math.ceil(rep.period * timescale / duration)
            if end_number is not None:
                count = min(count, end_number - start_number + 1)
        elif end_number is not None:
            count = end_number - start_number + 1
        elif rep.dynamic:
            count = 0  # an open live period: URLs cannot be enumerated (use a URL pattern)
        else:
            raise ManifestError(
                f"{rep.where}: SegmentTemplate@duration without a known period "
                "duration (no Period@duration or MPD@mediaPresentationDuration)"
            )
        if count > MAX_SEGMENTS:
            raise ManifestError(f"{rep.where}: more than {MAX_SEGMENTS} segments")
        segments = [(start_number + i, pto + i * duration, duration) for i in range(max(count, 0))]
    else:
        raise ManifestError(
            f"{rep.where}: SegmentTemplate has neither @duration nor a SegmentTimeline"
        )
    for number, time, ticks in segments:
        values = {**rep.values, "Number": number, "Time": time}
        target = resolve(rep.base, _fill(media, rep.where, values))
        if target is None:
            continue
        objects.append(IndexObject(
            target, rep.asset_id, rep.rendition_id, rep.kind,
            _visible(time, ticks, pto, timescale, rep.period), None, rep.sizes.get(target),
            rep.live, number,
        ))  # fmt: skip
    return [obj for obj in objects if obj is not None]


def _list_objects(rep: _Rep, info: dict[str, Any]) -> list[IndexObject]:
    timescale = info.get("timescale") or 1
    pto = info.get("presentation_time_offset") or 0
    start_number = info.get("start_number")
    start_number = 1 if start_number is None else start_number
    urls = info.get("segment_urls") or []
    objects: list[IndexObject | None] = []
    for attr, kind in (("initializations", "init"), ("representation_indexes", "other")):
        for node in (info.get(attr) or [])[:1]:
            objects.append(_url_object(rep, node, kind))
    if info.get("segment_timelines"):
        timeline = _timeline(
            info["segment_timelines"][0], start_number, pto, timescale, rep.period, rep.where
        )
        if len(timeline) < len(urls):
            raise ManifestError(
                f"{rep.where}: SegmentList has {len(urls)} SegmentURLs but its "
                f"SegmentTimeline only {len(timeline)} segments"
            )
    elif info.get("duration"):
        duration = info["duration"]
        timeline = [(start_number + i, pto + i * duration, duration) for i in range(len(urls))]
    elif len(urls) == 1 and rep.period is not None:
        timeline = [(start_number, pto, int(rep.period * timescale))]
    elif urls:
        raise ManifestError(f"{rep.where}: SegmentList has neither @duration nor a SegmentTimeline")
    else:
        timeline = []
    for position, url in enumerate(urls):
        target = resolve(rep.base, url.media) if url.media else _file(rep.base)
        if target is None:
            continue
        number, time, ticks = timeline[position]
        if url.media_range:
            start, length = parse_range(url.media_range)
        else:
            start, length = None, rep.sizes.get(target)
        objects.append(IndexObject(
            target, rep.asset_id, rep.rendition_id, rep.kind,
            _visible(time, ticks, pto, timescale, rep.period), start, length, rep.live, number,
        ))  # fmt: skip
    return [obj for obj in objects if obj is not None]


def _base_objects(rep: _Rep, info: dict[str, Any]) -> list[IndexObject]:
    """SegmentBase (or no segment information): the whole file is one segment lasting the
    period; its init and `sidx` index ranges are their own bytes-only objects."""
    target = _file(rep.base)
    if target is None or target.endswith("/"):
        raise ManifestError(
            f"{rep.where}: no SegmentBase/SegmentList/SegmentTemplate and the "
            "BaseURL does not name a file"
        )
    objects: list[IndexObject | None] = []
    for node in (info.get("initializations") or [])[:1]:
        objects.append(_url_object(rep, node, "init"))
    if info.get("index_range"):
        start, length = parse_range(info["index_range"])
        objects.append(
            IndexObject(
                target, rep.asset_id, rep.rendition_id, "other", None, start, length, rep.live
            )
        )
    for node in (info.get("representation_indexes") or [])[:1]:
        objects.append(_url_object(rep, node, "other"))
    objects.append(
        IndexObject(
            target,
            rep.asset_id,
            rep.rendition_id,
            rep.kind,
            rep.period,
            None,
            rep.sizes.get(target),
            rep.live,
        )
    )
    return [obj for obj in objects if obj is not None]


def parse_mpd(
    text: str, url: str, asset_id: str, *, sizes: Mapping[str, int] | None = None
) -> DashManifest:
    """Renditions and objects of the MPD served at `url`.

    Rendition ids are `AdaptationSet@id/Representation@id` (the AdaptationSet's position in
    its Period when it has no id). Several periods each add their objects; a URL repeated
    in a later period (same path and byte range) keeps its first entry.
    """
    path = url_path(url)
    mpd = _load(text, path)
    dynamic = (mpd.type or "static").strip().lower() == "dynamic"
    total = iso_duration(mpd.media_presentation_duration, f"{path}: MPD@mediaPresentationDuration")
    periods = mpd.periods or []
    if not periods:
        raise ManifestError(f"{path}: the MPD has no <Period>")
    timing = _timing(periods, total, path)
    all_audio = not any(
        _content(adaptation, rep) == "video"
        for period in periods
        for adaptation in period.adaptation_sets or []
        for rep in adaptation.representations or []
    )
    mpd_base = _base(base_of(url), mpd.base_urls)
    renditions: dict[str, Rendition] = {}
    objects: list[IndexObject] = [IndexObject(path, asset_id, None, "manifest", live=dynamic)]
    sizes = sizes or {}
    for period_number, (period, (_, period_duration)) in enumerate(
        zip(periods, timing, strict=True)
    ):
        period_base = _base(mpd_base, period.base_urls)
        period_label = period.id or str(period_number + 1)
        for set_number, adaptation in enumerate(period.adaptation_sets or []):
            set_base = _base(period_base, adaptation.base_urls)
            set_key = str(adaptation.id) if adaptation.id is not None else str(set_number)
            for rep_number, representation in enumerate(adaptation.representations or []):
                rep_id = representation.id if representation.id is not None else f"r{rep_number}"
                rendition_id = f"{set_key}/{rep_id}"
                where = (
                    f"{path}: Period {period_label} / AdaptationSet {set_key} / "
                    f"Representation {rep_id}"
                )
                content = _content(adaptation, representation)
                trick = _trick_mode(adaptation, representation)
                if content in ("video", "audio"):
                    track = (
                        content if content == "video" else ("audio-only" if all_audio else "audio")
                    )
                    renditions.setdefault(rendition_id, Rendition(
                        rendition_id, track, representation.width or adaptation.width,
                        representation.height or adaptation.height, representation.bandwidth,
                        iframe=trick,
                    ))  # fmt: skip
                kind = (
                    "other"
                    if trick
                    else {"text": "subtitle", "image": "thumbnail"}.get(content, "segment")
                )
                rep = _Rep(
                    asset_id, rendition_id, kind, dynamic,
                    _base(set_base, representation.base_urls),
                    {"RepresentationID": rep_id, "Bandwidth": representation.bandwidth},
                    period_duration, dynamic, where, sizes,
                )  # fmt: skip
                mode, info = _segment_info((period, adaptation, representation))
                if mode == "template":
                    objects += _template_objects(rep, info)
                elif mode == "list":
                    objects += _list_objects(rep, info)
                else:
                    objects += _base_objects(rep, info)
    return DashManifest(list(renditions.values()), unique(objects))
