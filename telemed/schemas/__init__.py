"""Marshmallow schemas, one module per resource: what the API and the events accept and return.

Shared by the HTTP API, the Socket.IO handlers and the notifier, so a payload has one shape."""
