"""Actions: `check_*` validates, `do_*` writes. The only code that changes state or enqueues."""
