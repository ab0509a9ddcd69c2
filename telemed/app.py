"""Application assembly: extensions, blueprints, error handlers and commands."""
from __future__ import annotations

from flask import Flask, session
from werkzeug.middleware.proxy_fix import ProxyFix

from telemed.config import REPOSITORY_ROOT, Settings
from telemed.db import configure_engine
from telemed.errorhandlers import guard_request_bodies, register_error_handlers
from telemed.extensions import babel, compress, csrf, db, limiter, login_manager, migrate, socketio, talisman
from telemed.locales import select_locale
from telemed.realtime.manager import client_manager
from telemed.sessions import CookieSessionOncePerSocket
from telemed.web.assets import (
    ASSETS_KEY,
    AssetStore,
    asset_data_uri,
    asset_url,
    compress_answer,
    document_headers_only,
)

# No inline script or style, nothing from elsewhere, and no page may frame ours (the claim and close
# buttons must not be clickjacked). Socket.IO connects to the same origin ('self' covers ws/wss).
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def build_app(config: Settings | dict | None = None) -> Flask:
    """Create the app; `config` is Settings, or keyword overrides for Settings.from_env."""
    settings = config if isinstance(config, Settings) else Settings.from_env(**(config or {}))
    app = Flask(
        "telemed",
        instance_path=str(settings.instance_path),
        template_folder=str(REPOSITORY_ROOT / "templates"),
        static_folder=None,  # telemed.web.assets serves only the files the pages use
    )
    app.config.from_mapping(settings.flask_config())
    app.json.ensure_ascii = False  # Russian and Kazakh as UTF-8: a third of the bytes of \u escapes
    if settings.trusted_proxies:
        # Behind nginx the client's address and scheme are in the proxies' X-Forwarded-* headers;
        # trusted only from as many hops as are configured, so a client cannot forge its address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,
                                x_proto=settings.trusted_proxies)

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(REPOSITORY_ROOT / "migrations"), render_as_batch=True,
                     compare_type=True)
    guard_request_bodies(app)  # before CSRFProtect's own check reads the body
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    login_manager.init_app(app)
    app.session_interface = CookieSessionOncePerSocket()
    # Registered before Talisman so that it runs after it (Flask runs these in reverse order).
    app.after_request(document_headers_only)
    talisman.init_app(
        app,
        # HTTPS is nginx's to enforce (it terminates TLS); in production the cookies are Secure
        # and HSTS is sent on every HTTPS answer.
        force_https=False,
        strict_transport_security=settings.production,
        session_cookie_secure=settings.production,
        frame_options="DENY",
        referrer_policy="same-origin",
        content_security_policy=CONTENT_SECURITY_POLICY,
    )
    compress.init_app(app)
    app.after_request(compress_answer)
    app.extensions[ASSETS_KEY] = AssetStore(REPOSITORY_ROOT / "static")
    app.add_template_global(asset_url)
    app.add_template_global(asset_data_uri)
    login_manager.login_view = "web.login"
    login_manager.login_message = None
    socketio.init_app(
        app,
        async_mode=settings.async_mode,
        # python-socketio's manager with each connection's rooms indexed (realtime/manager.py).
        client_manager=client_manager(settings.message_queue),
        cors_allowed_origins=settings.allowed_origins or None,
        manage_session=True,
        # A connection's events run one after another in the green thread reading it, not one new
        # green thread each: a client flooding events queues behind itself (and is cut off by the
        # rate limit) instead of putting a thousand handlers ahead of everybody else.
        async_handlers=False,
        ping_interval=10,
        ping_timeout=20,
    )

    from telemed.api.common import DatabaseIntConverter
    from telemed.api.routes import bp as api_bp
    from telemed.cli import register_commands
    from telemed.realtime import handlers  # noqa: F401  (registers the Socket.IO handlers)
    from telemed.realtime.notifier import notifier
    from telemed.web import bp as web_bp

    notifier.init_app(app)
    app.url_map.converters["int"] = DatabaseIntConverter  # before any route is added
    app.register_blueprint(api_bp)
    app.register_blueprint(web_bp)
    register_error_handlers(app)
    register_commands(app)
    return app


@login_manager.user_loader
def _load_user(user_id: str):
    from telemed.services import logins
    from telemed.sessions import LOGIN_KEY

    return logins.user_of(session.get(LOGIN_KEY), int(user_id))
