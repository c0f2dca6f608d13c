"""Voice calls placed on behalf of other subsystems (flash calls and callouts for verification)."""
