"""counting.md 4.5: a part and the whole segment of the same media time count once.

Per LL-HLS group — (asset, session, rendition, segment number) — the group earns
max(sum of whole-segment fetches, sum of part fetches). Each record earns the increase it
causes to its group's total, so totals do not depend on the order records arrive in, or on how
they are split over files. The stores supply the sums already stored for the groups a chunk
touches; the rule itself lives here, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from streammeter.counting.record import Counted, DeliveryRecord

#: (asset_id, session_id, rendition_id, media_sequence)
GroupKey = tuple[str, str, str, int]
Item = tuple[int, DeliveryRecord, Counted]


def group_key(record: DeliveryRecord) -> GroupKey:
    return (record.asset_id, record.session_id, record.rendition_id, record.media_sequence)  # type: ignore[return-value]


def grouped(items: Sequence[Item], accepted: Sequence[int]) -> list[int]:
    """The indexes of accepted records that belong to an LL-HLS group (they know their
    session, asset, rendition and segment number)."""
    return [
        i for i in accepted
        if items[i][1].session_id and items[i][1].media_sequence is not None
        and items[i][1].asset_id and items[i][1].rendition_id
    ]  # fmt: skip


def earn_once(
    items: Sequence[Item], indexes: Sequence[int], stored: Mapping[GroupKey, tuple[int, int]]
) -> dict[int, int]:
    """What each record of `indexes` earns, in order, given the (whole, parts) sums `stored`
    for its group by records counted before this chunk."""
    groups = {key: [int(whole), int(parts)] for key, (whole, parts) in stored.items()}
    earned: dict[int, int] = {}
    for i in indexes:
        record, counted = items[i][1], items[i][2]
        sums = groups.setdefault(group_key(record), [0, 0])
        before = max(sums)
        sums[0 if record.part_index is None else 1] += counted.earned_us
        earned[i] = max(sums) - before
    return earned
