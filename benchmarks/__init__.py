"""op_store's benchmark suite: ``python -m benchmarks [--quick] [--only NAME ...]``."""
