"""Importing this registers every API view on the blueprint."""
from telemed.api import admin, consultations, openapi, reference, session  # noqa: F401
from telemed.api.blueprint import bp

__all__ = ["bp"]
