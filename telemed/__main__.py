"""The `telemed` console script. For `serve` under eventlet, monkey-patch before anything else."""
import os
import sys


def _prepare_eventlet() -> None:
    import eventlet

    eventlet.monkey_patch()
    url = os.environ.get("TELEMED_DATABASE_URL", "")
    if url.startswith(("postgresql", "postgres:")):
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()


def main() -> None:
    """Run a telemed command (`telemed --help` lists them)."""
    if "serve" in sys.argv[1:2] and os.environ.get("TELEMED_ASYNC_MODE", "eventlet") == "eventlet":
        _prepare_eventlet()
    from telemed.cli import cli

    cli(prog_name="telemed")


if __name__ == "__main__":
    main()
