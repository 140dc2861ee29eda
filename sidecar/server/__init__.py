"""The HTTP service: Flask app factory, proxy, metrics, gunicorn runner."""
from .app import create_app

__all__ = ["create_app"]
