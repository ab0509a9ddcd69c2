"""Beginning and ending a browser session, shared by the API and the login page.

Each login is a server-side row (services/logins.py) whose id the session cookie carries; it is
checked on every request and socket event. Its Socket.IO connections join the room
`login:<id>` and are recorded with it, so logging out cuts exactly that browser's live connections,
on whichever server process holds them, and no other device's.
"""
from __future__ import annotations

from flask import session
from flask_login import login_user, logout_user

from telemed.models import User
from telemed.services import auth

LOGIN_KEY = "login_id"


def begin(user: User, login_id: str) -> None:
    """Log the user in; the cookie carries the id of their server-side login."""
    session.clear()  # nothing of an earlier session (its CSRF token included) carries over
    login_user(user)
    session[LOGIN_KEY] = login_id


def end(user: User, ip: str | None) -> None:
    """Log out, audit it, and close this browser session's live connections on every process."""
    login_id = session.pop(LOGIN_KEY, None)
    auth.record_logout(user, login_id, ip=ip)
    logout_user()


def current_login_id() -> str | None:
    """The id of the current browser session's login, if it has one."""
    return session.get(LOGIN_KEY)
