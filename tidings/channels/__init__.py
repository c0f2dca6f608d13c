"""Channel connectors, one folder each, and the contract they share (`base`)."""
