"""telemed: a teleconsultation queue for rural feldsher posts.

This module stays free of imports at load time so that `telemed serve` can monkey-patch for
eventlet before Flask, SQLAlchemy or anything else is imported (see telemed/__main__.py).
"""


def create_app(config=None):
    """Build the Flask application from `Settings` (or a dict of overrides); wiring only, no I/O."""
    from telemed.app import build_app

    return build_app(config)
