"""Log in, who am I, log out."""
from flask import jsonify, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from telemed import sessions
from telemed.api.blueprint import bp
from telemed.api.common import accepts, json_body, roles_required
from telemed.extensions import (
    csrf,
    failed_login,
    limiter,
    login_account_key,
    login_account_rate_limit,
    login_rate_limit,
)
from telemed.schemas.session import LoginSchema
from telemed.services import auth
from telemed.services.representation import user_payload


def _session_payload():
    return jsonify({"user": user_payload(current_user), "csrf_token": generate_csrf()})


@bp.post("/session")
@accepts(body=LoginSchema)
@csrf.exempt  # JSON-only (a cross-site form cannot send it without a CORS preflight) and no session yet
# The same two counters as the login form's: per address and, for failures, per account.
@limiter.shared_limit(login_rate_limit, scope="login-address")
@limiter.shared_limit(login_account_rate_limit, scope="login-account", key_func=login_account_key,
                      deduct_when=failed_login)
def log_in():
    """Log in with a username and password; answers the user and a CSRF token."""
    data = json_body()
    user, login_id = auth.authenticate(data["username"], data["password"], ip=request.remote_addr)
    sessions.begin(user, login_id)
    return _session_payload()


@bp.get("/session")
@roles_required()
def who_am_i():
    """The logged-in user and a fresh CSRF token."""
    return _session_payload()


@bp.delete("/session")
@roles_required()
def log_out():
    """End the session."""
    sessions.end(current_user, request.remote_addr)
    return "", 204
