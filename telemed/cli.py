"""Commands: `telemed db upgrade`, `demo-data`, `serve`, `create-user`."""
from __future__ import annotations

import logging

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from marshmallow import ValidationError

from telemed.errors import ValidationFailed
from telemed.models.vocabulary import PROFESSIONS, ROLES, SPECIALTIES
from telemed.schemas.common import flatten_errors
from telemed.schemas.staff import UserCreateSchema


def _create_app(*_args, **_kwargs) -> Flask:
    from telemed import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False)
def cli() -> None:
    """telemed: teleconsultations between village posts and doctors."""


def register_commands(app: Flask) -> None:
    """Attach the telemed commands to `flask --app telemed` as well."""
    for command in (demo_data, serve, create_user):
        app.cli.add_command(command)


@click.command("demo-data")
@click.option("--force", is_flag=True, help="Load even if the database already has users.")
@with_appcontext
def demo_data(force: bool) -> None:
    """Load the demo district (Tselinograd District) and print the demo logins."""
    from telemed.services.demo import DEMO_LOGINS, load_demo_district

    loaded = load_demo_district(force=force)
    if not loaded:
        click.echo("The database already has users; demo data not loaded (use --force to add anyway).")
        return
    click.echo(f"Loaded {loaded.facilities} facilities and {loaded.staff} active staff.")
    click.echo("Demo logins:")
    for username, password, what in DEMO_LOGINS:
        click.echo(f"  {username:<15} {password:<15} {what}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Serve HTTP and Socket.IO with the configured async mode (eventlet by default)."""
    from telemed.concurrency import server_options
    from telemed.extensions import socketio
    from telemed.realtime import sweeper

    app = current_app._get_current_object()
    app.logger.setLevel(logging.INFO)  # the server says when it is ready, and when its index is
    settings = app.config["TELEMED"]
    _raise_open_files_limit(settings.max_connections + 256)
    options = server_options(socketio.async_mode, settings.max_connections, settings.read_timeout_s,
                             settings.header_deadline_s)
    sweeper.start(app)
    socketio.start_background_task(_build_icd10_index, app)
    _settle_heap()
    app.logger.info("telemed serving on http://%s:%s (%s)", host, port, socketio.async_mode)
    # One line per request, written on the event loop, only when asked for: behind nginx its own
    # access log has every request already (docs/configuration.md).
    socketio.run(app, host=host, port=port, use_reloader=False, log_output=settings.access_log,
                 allow_unsafe_werkzeug=True, **options)


def _build_icd10_index(app) -> None:
    """The ICD-10 index, built while the server starts (off the loop) rather than in a doctor's
    first search."""
    from time import monotonic

    from telemed.concurrency import run_blocking
    from telemed.services.clinical_codes import warm_icd10_index

    started = monotonic()
    run_blocking(warm_icd10_index)
    _settle_heap()
    app.logger.info("ICD-10 index built in %.1f s", monotonic() - started)


# Net allocations between two collections of the youngest generation (CPython's default is 700).
# A fan-out to 200 doctors builds thousands of objects that live only until their packets are
# written; collected every 700 they were still in use, so they moved up into the older generations
# and brought on full passes over every live connection's objects. In bench b with 2,200 clients
# (bench/results/session15/README.md): the collector's time fell from 143-165 to 83-98 ms and its
# longest pause from 23-29 ms (full passes) to 9-16 ms.
YOUNG_COLLECTION_THRESHOLD = 3_000
# Collections of the youngest generation between two of the middle one (CPython's default is 10).
# Each middle collection moves what is still alive into the oldest generation, and once that has
# grown by a quarter CPython walks all of it, the objects of every open connection included. At 30
# creations a second with 2,200 clients, packets still queued for 200 doctors were moved up so
# often that a full pass of 110-230 ms came every ten seconds or so (bench/results/session16/):
# one pause the size of scenario d's whole budget. At 50, what a fan-out allocates is dead before
# its middle collection; the middle ones take longer (up to 60-80 ms, against 21-57 ms), and no
# full pass over 5 ms ran during bench b or d.
MIDDLE_COLLECTION_THRESHOLD = 50


def _settle_heap() -> None:
    """Take what start-up built out of the garbage collector's full passes, and let short-lived
    objects die young.

    The application, its catalogues and the ICD-10 index are some 170,000 objects that live as long
    as the process, and CPython's oldest generation walks every one of them on each full pass (about
    50 ms here), a pause that lands on whatever request or fan-out is running. Frozen once built,
    they are never walked again; what requests allocate is collected as before, the youngest
    generation after YOUNG_COLLECTION_THRESHOLD allocations, the middle one after
    MIDDLE_COLLECTION_THRESHOLD of those."""
    import gc

    gc.collect()
    gc.freeze()
    oldest = gc.get_threshold()[2]
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, MIDDLE_COLLECTION_THRESHOLD, oldest)


def _raise_open_files_limit(wanted: int) -> None:
    """Each connection is a file descriptor: lift the soft limit (often 1,024) toward the hard one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@click.command("create-user")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--profession", type=click.Choice(PROFESSIONS), required=True)
@click.option("--facility-id", type=int, default=None)
@click.option("--specialty", "specialties", multiple=True, type=click.Choice(SPECIALTIES))
@click.password_option()
@with_appcontext
def create_user(username, full_name, role, profession, facility_id, specialties, password) -> None:
    """Create a staff account, for example the first admin on a real install."""
    from telemed.services.staff import create_user as create

    raw = dict(username=username, full_name=full_name, role=role, profession=profession,
               facility_id=facility_id, specialties=list(specialties), password=password)
    try:
        data = UserCreateSchema().load(raw)
        user = create(data)
    except ValidationError as exc:
        raise click.ClickException(_describe(flatten_errors(exc.messages))) from exc
    except ValidationFailed as exc:
        raise click.ClickException(f"{exc.message} {_describe(exc.fields)}") from exc
    click.echo(f"Created {user.role} {user.username} (id {user.id}).")


def _describe(fields: dict) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
