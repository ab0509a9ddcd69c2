"""The village post's page on a cheap phone and a weak line: issue 10's budget, measured in Chromium.

A 360x740 phone context (Russian), the line throttled through the DevTools protocol, a cold cache:
log in as a feldsher from the login page and reach `/post`. Reported per line profile:
- bytes transferred from opening the login page until `/post` has loaded (every response's
  encoded size, headers included), with the same run's baseline: the same pages fetched without
  compression (`Accept-Encoding: identity`), what a server that does not compress sends;
- time from tapping *Log in* until the request form can be sent (the form works before its script,
  so: `/post` parsed and the send button shown), and until the page is live (socket connected);
- on a warm reload of `/post`, how many static files still went to the network.

Usage: .venv/bin/python bench/post_page_bench.py [--code DIR] [--out DIR] [--rounds N]
Needs Debian's Chromium at /usr/bin/chromium and the browser libraries (`make browser-libs`).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PROFILES = [("250 kbit/s, 300 ms", 250, 300), ("50 kbit/s, 800 ms", 50, 800)]
BUDGET = {"bytes": 35 * 1024, "usable_s": {250: 3.0, 50: 8.0}, "warm_static_requests": 0}
USERNAME, PASSWORD = "feldsher1", "demo-feldsher"  # from `telemed demo-data`


class Traffic:
    """What one page fetched, from the DevTools protocol's Network events."""

    def __init__(self, cdp):
        self.requests: dict[str, dict] = {}
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._received)
        cdp.on("Network.requestServedFromCache", self._from_memory)
        cdp.on("Network.loadingFinished", self._finished)
        # A websocket's bytes are no HTTP response's: its handshake and each frame it receives.
        cdp.on("Network.webSocketHandshakeResponseReceived", self._socket_opened)
        cdp.on("Network.webSocketFrameReceived", self._socket_frame)

    def _sent(self, event):
        self.requests.setdefault(event["requestId"], {"url": event["request"]["url"]})

    def _received(self, event):
        entry = self.requests.setdefault(event["requestId"], {"url": event["response"]["url"]})
        entry["from_cache"] = entry.get("from_cache") or event["response"].get("fromDiskCache", False)
        entry["encoding"] = {k.lower(): v for k, v in event["response"]["headers"].items()}.get(
            "content-encoding", "")

    def _from_memory(self, event):
        self.requests.setdefault(event["requestId"], {})["from_cache"] = True

    def _finished(self, event):
        self.requests.setdefault(event["requestId"], {})["bytes"] = event["encodedDataLength"]

    def _socket_opened(self, event):
        response = event["response"]
        size = len(response.get("headersText") or "") or sum(
            len(k) + len(v) + 4 for k, v in response["headers"].items()) + 40  # + the status line
        self.requests[f"ws-open-{event['requestId']}"] = {"url": "websocket handshake", "bytes": size}

    def _socket_frame(self, event):
        payload = len(event["response"]["payloadData"].encode())
        header = 2 if payload < 126 else 4 if payload < 65536 else 10  # a server's frames are unmasked
        key = f"ws-frame-{len(self.requests)}"
        self.requests[key] = {"url": "websocket frame", "bytes": payload + header}

    def reset(self):
        self.requests.clear()

    def total_bytes(self) -> int:
        return int(sum(r.get("bytes", 0) for r in self.requests.values()))

    def static_from_network(self) -> int:
        return sum(1 for r in self.requests.values()
                   if "/static/" in r.get("url", "") and not r.get("from_cache"))

    def encodings(self) -> set[str]:
        return {r.get("encoding", "") for r in self.requests.values() if "/static/" in r.get("url", "")}


def visit(browser, server_url: str, kbit: int, latency_ms: int, identity: bool) -> dict:
    """One cold visit (login, then /post) and one warm reload, on a fresh phone context."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, locale="ru-RU")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
    if identity:
        cdp.send("Network.setExtraHTTPHeaders", {"headers": {"Accept-Encoding": "identity"}})
    traffic = Traffic(cdp)
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": latency_ms,
        "downloadThroughput": kbit * 1000 / 8, "uploadThroughput": kbit * 1000 / 8})
    page.set_default_timeout(120_000)
    page.goto(f"{server_url}/login", wait_until="load")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    tapped = time.monotonic()
    page.click("button[type=submit]", no_wait_after=True)
    # The form works before its scripts: usable once the page is shown with its send button.
    page.wait_for_url("**/post", wait_until="commit")
    page.wait_for_selector("#new-request button[type=submit]", state="visible")
    usable_s = time.monotonic() - tapped
    page.wait_for_selector("#connection[data-state=online]")
    live_s = time.monotonic() - tapped
    page.wait_for_load_state("load")
    cold_bytes, encodings = traffic.total_bytes(), traffic.encodings()
    traffic.reset()
    page.reload(wait_until="load")
    page.wait_for_selector("#connection[data-state=online]")
    warm_static = traffic.static_from_network()
    context.close()
    return {"bytes": cold_bytes, "usable_s": usable_s, "live_s": live_s,
            "warm_static_requests": warm_static, "static_encodings": sorted(encodings)}


def median(runs: list[dict], key: str):
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", default=None, help="telemed source tree to measure (default: this checkout)")
    parser.add_argument("--out", default=str(h.BENCH / "results"))
    parser.add_argument("--rounds", type=int, default=3, help="cold visits per profile and variant")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    code = h.Code(args.code)
    run_dir = Path(tempfile.mkdtemp(prefix="post-page-bench-"))
    instance, log = run_dir / "instance", run_dir / "telemed.log"
    database_url = h.fresh_database("sqlite", "post_page", run_dir)
    h.migrate(code, database_url, instance, log)
    with open(log, "ab") as out:
        subprocess.run([str(h.BIN / "telemed"), "demo-data"], check=True, stdout=out,
                       stderr=subprocess.STDOUT, env=h.telemed_env(code, database_url, instance))
    started, load_start = datetime.now(timezone.utc), h.loadavg()
    server = h.TelemedServer(code, database_url, instance, log).start()
    results = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            for label, kbit, latency in PROFILES:
                load0 = h.loadavg()
                runs = {variant: [visit(browser, server.url, kbit, latency, identity=variant == "baseline")
                                  for _ in range(args.rounds)]
                        for variant in ("telemed", "baseline")}
                results.append({"profile": label, "kbit": kbit, "latency_ms": latency, "runs": runs,
                                "load": [load0[0], h.loadavg()[0]]})
                print(f"{label}: {json.dumps({v: runs[v][0] for v in runs})}", flush=True)
            browser.close()
    finally:
        server.stop()
    write(Path(args.out), code, started, load_start, results)


def write(out: Path, code: h.Code, started, load_start, results: list[dict]) -> None:
    """bench/results/post-page.{json,md}: medians per profile, the budget, the baseline's ratio."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        tel, base = r["runs"]["telemed"], r["runs"]["baseline"]
        kib, base_kib = median(tel, "bytes") / 1024, median(base, "bytes") / 1024
        usable, live = median(tel, "usable_s"), median(tel, "live_s")
        warm = max(x["warm_static_requests"] for x in tel)
        load = f"{r['load'][0]} → {r['load'][1]}"
        rows += [
            (r["profile"], "bytes, login + /post, cold (KiB)", f"{kib:.1f}", f"{base_kib:.1f}",
             f"{kib / base_kib:.2f}", "<= 35 KiB", "pass" if kib * 1024 <= BUDGET["bytes"] else "**FAIL**", load),
            (r["profile"], "tap *Log in* → form can be sent (s)", f"{usable:.2f}",
             f"{median(base, 'usable_s'):.2f}", f"{usable / median(base, 'usable_s'):.2f}",
             f"<= {BUDGET['usable_s'][r['kbit']]:.0f} s",
             "pass" if usable <= BUDGET["usable_s"][r["kbit"]] else "**FAIL**", load),
            (r["profile"], "tap *Log in* → page live (s)", f"{live:.2f}", f"{median(base, 'live_s'):.2f}",
             f"{live / median(base, 'live_s'):.2f}", "", "", load),
            (r["profile"], "warm reload: static files fetched (worst of the rounds)", str(warm),
             str(max(x["warm_static_requests"] for x in base)), "", "0",
             "pass" if warm == BUDGET["warm_static_requests"] else "**FAIL**", load),
        ]
    payload = {"started": started.isoformat(), "code": code.describe(), "machine": {
        "cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "load_start": load_start, "load_end": h.loadavg(), "results": results}
    (out / "post-page.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    commit = payload["code"].get("commit", "?")[:10]
    lines = [
        "# The post's page on a phone and a weak line", "",
        f"`bench/post_page_bench.py`, started {started.isoformat(timespec='seconds')} (UTC); code {commit}; "
        f"Chromium {CHROMIUM}, 360x740 phone context in Russian, DevTools network throttling, cold cache, "
        f"median of {len(results[0]['runs']['telemed'])} visits each. Load average (1/5/15 min) at start "
        f"{load_start}, at end {payload['load_end']}.", "",
        "Baseline: the same visits in the same run with `Accept-Encoding: identity`, i.e. what a "
        "server that does not compress sends (static encodings seen: telemed "
        f"{results[0]['runs']['telemed'][0]['static_encodings']}, baseline "
        f"{results[0]['runs']['baseline'][0]['static_encodings']}).", "",
        "| line | what | telemed | baseline | ratio | budget | result | load (1 min) |",
        "|---|---|---|---|---|---|---|---|",
    ] + ["| " + " | ".join(row) + " |" for row in rows]
    (out / "post-page.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
