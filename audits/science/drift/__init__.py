"""Image-sensitivity drift detection, pure (no Redis, no framework; the online part is
``service.telemetry.drift``):

- ``cusum``: the Bernoulli CUSUM on ``flip_shuffled``, its state and status;
- ``design``: the alternative it watches for and its threshold, chosen on simulated streams;
- ``stratified``: the case-mix-aware (risk-adjusted) CUSUM with per-stratum baselines.
"""
