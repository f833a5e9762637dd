"""Load tests (locust scenarios) and the ratio benchmark (`grounding-audit bench`)."""
