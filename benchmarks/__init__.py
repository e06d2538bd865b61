"""Benchmarks: figures printed by ``python -m benchmarks`` (never timed assertions in tests). See RESULTS.md."""
