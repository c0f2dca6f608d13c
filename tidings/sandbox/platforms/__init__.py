"""Messaging-app platform twins, one module each (see `tidings/sandbox/platform.py` for the
contract): each exposes `create_twin(sandbox, *, clock=None) -> PlatformTwin`."""
