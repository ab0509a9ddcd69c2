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
def test_fuzzing_the_api_finds_no_server_errors(live_server, district):
    admin = live_server.session("admin_z")
    command = [
        SCHEMATHESIS, "run", f"{live_server.url}/api/v1/openapi.json",
        "--checks", "not_a_server_error,status_code_conformance,response_schema_conformance",
        "--max-examples", "12", "--seed", "2026", "--workers", "1", "--request-timeout", "20",
        "-H", f"Cookie: {admin.cookie_header()}", "-H", f"X-CSRFToken: {admin.csrf_token}",
        # Logging out or in as someone else would end the fuzzing session itself.
        "--exclude-path", "/api/v1/session",
        "--suppress-health-check", "all",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout.lower(), report
