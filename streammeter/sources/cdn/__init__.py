"""CDN and origin access logs: each format's parser yields `EdgeRequest`s (or reasons)."""
