"""The line an in-process bench's result file opens with: which script, when, on which code and
under what load, so a figure can be traced and compared with its neighbours."""
from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path


def provenance(script: str, details: str, load_start, load_end) -> str:
    """`bench/<script>`, the time (UTC), the checkout's commit, `details`, the load averages."""
    commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    return (f"`bench/{script}`, {datetime.now(UTC).isoformat(timespec='seconds')} (UTC), code {commit}, "
            f"{details}; load average (1/5/15 min) at start {[round(x, 2) for x in load_start]}, "
            f"at end {[round(x, 2) for x in load_end]}.")
