"""Domain vocabulary shared by every layer: tiers, times, catalog entries."""
