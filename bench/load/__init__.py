"""Load benchmark: a real server under Mux queries and event batches (see run.py)."""
