"""The Verification API v1 under `/verification/v1/` (signed requests, its own error format)."""
