"""Reliability suite: faults injected into a real distributed UAI, with figures (``python -m reliability``)."""
