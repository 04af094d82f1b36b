"""The trading core (DESIGN.md §4–7). Built piece by piece: the order state machine and the position arithmetic
are here; OrderManager, TradeExecutor, OrderTracker, PositionManager, ExecutionRiskControl and TradeRecorder follow."""
