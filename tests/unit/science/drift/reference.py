"""The reference case documented in ``audits.science.drift.design`` and ``docs/drift.md``."""

P0, P1 = 0.45, 0.30
REF_H = 6.5248
REF_DELAY_MEAN = 123.1
REF_DELAY_P90 = 200
