"""Every benchmark and load generator, out of the domain apps: `manage.py bench_matching`
(`make bench`, docs/bench.md) and `manage.py bench_live` (`make bench-live`, docs/live.md).
They drive the real services, engine and database; nothing here is imported by the apps."""
