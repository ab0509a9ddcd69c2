"""Beginning and ending a browser session, shared by the API and the login page.

Each login gets its own id, kept in the session cookie; its Socket.IO connections join the room
`login:<id>`, so logging out cuts exactly that browser's live connections and no other device's.
"""
from __future__ import annotations

import uuid

from flask import session
from flask_login import login_user, logout_user

from telemed.models import User
from telemed.realtime.notifier import notifier
from telemed.services import auth

LOGIN_KEY = "login_id"


def begin(user: User) -> None:
    """Log the user in and give this browser session its own id."""
    login_user(user)
    session[LOGIN_KEY] = uuid.uuid4().hex


def end(user: User, ip: str | None) -> None:
    """Log out, audit it, and close this browser session's live connections."""
    login_id = session.pop(LOGIN_KEY, None)
    auth.record_logout(user, ip=ip)
    logout_user()
    if login_id:
        notifier.session_ended(login_id)


def login_room() -> str | None:
    """The room of the current browser session's connections, if it has an id."""
    login_id = session.get(LOGIN_KEY)
    return f"login:{login_id}" if login_id else None
