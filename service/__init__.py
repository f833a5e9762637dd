"""Online grounding audit service: model runtime, mirroring, telemetry, HTTP API."""
