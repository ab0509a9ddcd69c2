"""The Flask extensions, created unbound here and bound in `create_app`."""
from flask import current_app
from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for every telemed model."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
socketio = SocketIO()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
talisman = Talisman()
compress = Compress()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def login_rate_limit() -> str:
    """Login attempts allowed per client address (TELEMED_LOGIN_RATE_LIMIT)."""
    return current_app.config["TELEMED"].login_rate_limit


def login_account_rate_limit() -> str:
    """Failed logins allowed per account, from any address (TELEMED_LOGIN_ACCOUNT_RATE_LIMIT)."""
    return current_app.config["TELEMED"].login_account_rate_limit


def login_account_key() -> str:
    """The account a login attempt names, from the JSON body or the login form."""
    from flask import request

    body = request.get_json(silent=True) if request.is_json else None
    name = body.get("username") if isinstance(body, dict) else request.form.get("username")
    return f"account:{str(name or '').strip().lower()[:80]}"


def failed_login(response) -> bool:
    """Only refused logins count against an account (a person may log in on several devices)."""
    return response.status_code == 401


def write_rate_limit() -> str:
    """Requests and chat messages one user may send over HTTP (TELEMED_WRITE_RATE_LIMIT)."""
    return current_app.config["TELEMED"].write_rate_limit


def user_rate_key() -> str:
    """Count per logged-in user: posts behind one village NAT share an address, not an account."""
    from flask_login import current_user

    return f"user:{current_user.get_id()}" if current_user.is_authenticated else get_remote_address()
