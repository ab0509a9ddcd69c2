"""Settings from the environment: the languages offered and the default, checked at start-up."""
import pytest

from telemed.config import ConfigurationError, Settings


def test_russian_is_the_default_and_all_three_languages_are_offered(tmp_path, monkeypatch):
    monkeypatch.delenv("TELEMED_LOCALES", raising=False)
    monkeypatch.delenv("TELEMED_DEFAULT_LOCALE", raising=False)
    settings = Settings.from_env(instance_path=tmp_path, database_url="sqlite://", secret_key="k")
    assert (settings.locales, settings.default_locale) == (("ru", "kk", "en"), "ru")


@pytest.mark.parametrize("locales, default, problem", [
    ("ru,de", None, "TELEMED_LOCALES"),
    ("", "fr", "TELEMED_DEFAULT_LOCALE"),
    ("kk,en", "ru", "TELEMED_DEFAULT_LOCALE"),
])
def test_a_language_telemed_has_no_catalogue_for_stops_the_start(tmp_path, monkeypatch, locales, default,
                                                                  problem):
    monkeypatch.setenv("TELEMED_LOCALES", locales)
    if default:
        monkeypatch.setenv("TELEMED_DEFAULT_LOCALE", default)
    with pytest.raises(ConfigurationError, match=problem):
        Settings.from_env(instance_path=tmp_path, database_url="sqlite://", secret_key="k")


def test_the_default_follows_the_offered_languages(tmp_path, monkeypatch):
    monkeypatch.setenv("TELEMED_LOCALES", "kk,en")
    monkeypatch.delenv("TELEMED_DEFAULT_LOCALE", raising=False)
    assert Settings.from_env(instance_path=tmp_path, database_url="sqlite://",
                             secret_key="k").default_locale == "kk"


@pytest.mark.parametrize("url", ["kombu:amqp://guest@localhost//", "zmq+tcp://127.0.0.1:5555", "localhost:6379"])
def test_a_message_queue_other_than_redis_stops_the_start(tmp_path, monkeypatch, url):
    monkeypatch.setenv("TELEMED_MESSAGE_QUEUE", url)
    with pytest.raises(ConfigurationError, match="TELEMED_MESSAGE_QUEUE must be a redis"):
        Settings.from_env(instance_path=tmp_path, database_url="sqlite://", secret_key="k")


def test_a_redis_message_queue_is_taken(tmp_path, monkeypatch):
    monkeypatch.setenv("TELEMED_MESSAGE_QUEUE", "rediss://:secret@redis.internal:6380/2")
    assert Settings.from_env(instance_path=tmp_path, database_url="sqlite://",
                             secret_key="k").message_queue == "rediss://:secret@redis.internal:6380/2"


@pytest.mark.parametrize("raw, expected", [(None, False), ("", False), ("1", True), ("true", True),
                                           ("0", False), ("off", False)])
def test_the_access_log_is_off_unless_asked_for(tmp_path, monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("TELEMED_ACCESS_LOG", raising=False)
    else:
        monkeypatch.setenv("TELEMED_ACCESS_LOG", raw)
    assert Settings.from_env(instance_path=tmp_path, database_url="sqlite://",
                             secret_key="k").access_log is expected


def test_an_access_log_setting_that_is_not_a_flag_stops_the_start(tmp_path, monkeypatch):
    monkeypatch.setenv("TELEMED_ACCESS_LOG", "verbose")
    with pytest.raises(ConfigurationError, match="TELEMED_ACCESS_LOG must be 1 or 0"):
        Settings.from_env(instance_path=tmp_path, database_url="sqlite://", secret_key="k")


def test_a_burst_past_the_database_pool_waits_for_a_pooled_connection(tmp_path, monkeypatch):
    """No overflow connections: a request past the pool waits, first come first served, for one
    that is given back, and no connection is opened and closed for the burst."""
    import threading

    import sqlalchemy as sa

    monkeypatch.setenv("TELEMED_DATABASE_POOL_SIZE", "2")
    settings = Settings.from_env(instance_path=tmp_path, database_url=f"sqlite:///{tmp_path / 'pool.db'}",
                                 secret_key="k")
    options = dict(settings.flask_config()["SQLALCHEMY_ENGINE_OPTIONS"], pool_timeout=5)
    engine = sa.create_engine(settings.database_url, **options)
    opened = []
    sa.event.listen(engine, "connect", lambda *_: opened.append(1))
    held = [engine.connect() for _ in range(2)]
    third_got_one = threading.Event()

    def third_request():
        with engine.connect():
            third_got_one.set()

    waiting = threading.Thread(target=third_request)
    waiting.start()
    assert not third_got_one.wait(0.3)  # the pool is in use: it waits
    held.pop().close()
    assert third_got_one.wait(5)
    waiting.join()
    held.pop().close()
    assert len(opened) == 2
    engine.dispose()
