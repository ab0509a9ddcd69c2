"""The JSON API under /api/v1: thin views that parse, call one service, and shape the answer.

`telemed.api.routes.bp` is the blueprint with every view registered.
"""
