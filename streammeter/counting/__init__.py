"""The counting contract (docs/counting.md) applied to one normalized record."""
