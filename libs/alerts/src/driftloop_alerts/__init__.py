"""Ops alerts to webhooks: signed (HMAC-SHA256), retried with backoff, recorded, never blocking."""
