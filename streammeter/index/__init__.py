"""The index (counting.md 1): URL -> (asset, rendition, object kind, duration, bytes, live/VOD),
built from registered HLS/DASH manifests and per-environment URL patterns."""
