"""Domain types and state machines. Nothing here does I/O."""
