"""`bench_api`: the REST API under load from a separate process, beside a bare DRF view."""
