"""Idempotency keys: a retried create (``Idempotency-Key``) answers as the first one did."""
