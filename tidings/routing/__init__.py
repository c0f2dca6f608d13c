"""SMS route selection: price tables per route, live delivery statistics learned from receipts,
and the router that picks a connection per message (docs/subsystems/routing.md)."""
