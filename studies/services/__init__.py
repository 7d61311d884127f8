"""Business logic of the studies app: every function is a transaction that logs its events."""
