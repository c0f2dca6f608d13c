"""Parts of the content-safety checks (tidings.policy.content_safety): links, look-alike domains,
multilingual phishing cues, the spam lint and the health-information guard. Pure functions, no I/O."""
