"""Beginning and ending a browser session, shared by the API and the login page.

Each login is a server-side row (services/logins.py) whose id the session cookie carries; it is
checked on every request and socket event. Its Socket.IO connections join the room
`login:<id>` and are recorded with it, so logging out cuts exactly that browser's live connections,
on whichever server process holds them, and no other device's.
"""
from __future__ import annotations

from flask import session
from flask.sessions import SecureCookieSessionInterface
from flask_login import login_user, logout_user

from telemed.models import User
from telemed.services import auth

LOGIN_KEY = "login_id"
# Where Flask-SocketIO (manage_session) keeps a connection's copy of the session, in the environ of
# the connection's handshake that each of its events runs with.
SOCKET_SESSION_KEY = "saved_session"
# Where Flask-Login keeps the logged-in user's id (its user loader is given this value).
USER_ID_KEY = "_user_id"


class CookieSessionOncePerSocket(SecureCookieSessionInterface):
    """The signed cookie session, read once per Socket.IO connection rather than once per event.

    Flask opens the session for every request context it pushes, and Flask-SocketIO pushes one per
    event, then swaps in the copy it saved when the connection began. The cookie of a connection
    cannot change, so checking its signature and decompressing it on every event was thrown away.
    The login it names is still checked against its row on every event (services/logins.py)."""

    def open_session(self, app, request):
        """The connection's saved session for a Socket.IO event; the cookie's otherwise."""
        saved = request.environ.get(SOCKET_SESSION_KEY)
        if saved is not None:
            return saved
        return super().open_session(app, request)


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


def cookie_login() -> tuple[str, int] | None:
    """The login and user the session cookie names, not yet checked against the login's row (no
    database read); None when it names none."""
    login_id, user_id = session.get(LOGIN_KEY), session.get(USER_ID_KEY)
    if not login_id or not str(user_id).isdigit():
        return None
    return login_id, int(user_id)
