"""Schemathesis fuzzes the live API from its own OpenAPI description: no 5xx, and every response
documented (status codes) and shaped as described (error bodies)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


@pytest.mark.skipif(not shutil.which(SCHEMATHESIS), reason="schemathesis is not installed")
@pytest.mark.parametrize("username", ["admin_z", "feldsher_a"])
def test_fuzzing_the_api_finds_nothing(live_server, district, username):
    caller = live_server.session(username)
    command = [
        SCHEMATHESIS, "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
        "run", f"{live_server.url}/api/v1/openapi.json",
        "--checks", "all",
        "--max-examples", "12", "--seed", "2026", "--workers", "1", "--request-timeout", "20",
        "-H", f"Cookie: {caller.cookie_header()}", "-H", f"X-CSRFToken: {caller.csrf_token}",
        # Logging out or in as someone else would end the fuzzing session itself.
        "--exclude-path", "/api/v1/session",
        "--suppress-health-check", "all",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout.lower(), report
