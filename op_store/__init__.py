"""op_store: exactly-once delivery for Django-hosted RPC and HTTP endpoints."""

__version__ = "0.1.0.dev0"
