"""The language a request or a Socket.IO connection is answered in."""
from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_login import current_user

from telemed.models import User


def select_locale() -> str:
    """Flask-Babel's choice: the user's own language, then the browser's (`browser_locale`)."""
    if not has_request_context():
        return current_app.config["TELEMED"].default_locale
    user = current_user if current_user and current_user.is_authenticated else None
    return user_locale(user, browser_locale())


def browser_locale() -> str:
    """The language the browser asks for without a login: `?lang=` (chosen on the login page),
    then Accept-Language, then TELEMED_DEFAULT_LOCALE."""
    settings = current_app.config["TELEMED"]
    if request.args.get("lang") in settings.locales:
        return request.args["lang"]
    return request.accept_languages.best_match(settings.locales) or settings.default_locale


def user_locale(user: User | None, otherwise: str) -> str:
    """The user's own choice of language when this deployment offers it; `otherwise` if not."""
    if user is not None and user.locale in current_app.config["TELEMED"].locales:
        return user.locale
    return otherwise
