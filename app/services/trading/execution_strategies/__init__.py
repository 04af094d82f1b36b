"""Execution strategies (the spec's MarketExecution, LimitExecution, TWAPExecution, IcebergExecution) arrive with
issue 7; the exact slicing arithmetic they share is in `slicing`."""
