"""The embedded demo: a real local cluster (Redis, workers, beat, traffic)."""
