"""Alert convergence from outside (issue 10): the real CLI against a real broker and Alertmanager.

    python -m bench.alerts --kafka 127.0.0.1:9092 --input events.jsonl [--scenarios quiet,up,down,back]

Scenarios, each on its own topic prefix (and its own Alertmanager):
- ``quiet``: `mfgsync run --exit-at-end` without alert channels (the baseline time);
- ``up``: the same with Alertmanager and a webhook receiver attached; compares the active
  MaterialShortage alerts and the receiver's latest state per signal with the open shortages at
  or above HIGH on `signals.shortages` (stale = shown but not open or another severity;
  missing = open but not shown);
- ``down``: both channels on a closed port: time, log lines about alerting, ALERT dead letters;
- ``back``: the service follows the topics with both channels down, reads the whole input,
  then Alertmanager starts on the configured port and the receiver answers: seconds until
  both show exactly the open shortages.
Prints one JSON document; ``*_ratio`` is the baseline's time over the scenario's (throughput).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mfgsync.connectors.kafka import read_topic  # a plain consumer
from tests.services import alertmanager, free_port

KAFKA = ""
INPUT = Path()
WHAT: list[str] = []
MFGSYNC = [sys.executable, "-m", "mfgsync.flows.cli"]
RANK = {"WARNING": 1, "HIGH": 2, "CRITICAL": 3}


class Receiver:
    """Webhook receiver keeping the latest state per signal id; ``up`` toggles 200/503."""

    def __init__(self) -> None:
        self.up = True
        self.latest: dict[str, tuple[str, str]] = {}
        self.requests = 0
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                me.requests += 1
                code = 200 if me.up else 503
                if me.up:
                    record = json.loads(body)
                    if self.headers["X-Mfgsync-Alert-Status"] == "firing":
                        me.latest[record["signal_id"]] = (record["severity"], record["state"])
                    else:
                        me.latest.pop(record["signal_id"], None)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def env_for(prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFGSYNC_")}
    env.update(
        MFGSYNC_KAFKA_BOOTSTRAP=KAFKA,
        MFGSYNC_VALUE_FORMAT="json",
        MFGSYNC_TOPIC_PREFIX=prefix,
        MFGSYNC_CONSUMER_GROUP=f"g-{prefix}",
        MFGSYNC_TODAY="2026-03-02",
        MFGSYNC_METRICS_PORT="0",
    )
    env.update({f"MFGSYNC_{k.upper()}": v for k, v in extra.items()})
    return env


def setup(prefix: str) -> None:
    env = env_for(prefix)
    for args in (["topics", "create"], ["produce", "--input", str(INPUT)]):
        done = subprocess.run(MFGSYNC + args, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]


def truth(prefix: str) -> dict[tuple[str, str], str]:
    """Open shortages at or above HIGH on the changelog: (plant, item) -> severity."""
    latest = {}
    for key, value in read_topic({"bootstrap.servers": KAFKA}, prefix + "signals.shortages", timeout_s=120):
        latest[key] = json.loads(value) if value else None
    return {
        (r["plant"], r["item"]): r["severity"]
        for r in latest.values()
        if r and r["state"] != "RESOLVED" and RANK[r["severity"]] >= RANK["HIGH"]
    }


def truth_by_id(prefix: str) -> dict[str, str]:
    latest = {}
    for key, value in read_topic({"bootstrap.servers": KAFKA}, prefix + "signals.shortages", timeout_s=120):
        latest[key] = json.loads(value) if value else None
    return {
        r["signal_id"]: r["severity"]
        for r in latest.values()
        if r and r["state"] != "RESOLVED" and RANK[r["severity"]] >= RANK["HIGH"]
    }


def active(am: str) -> dict[tuple[str, str], str]:
    with urllib.request.urlopen(f"{am}/api/v2/alerts?active=true", timeout=10) as response:
        alerts = json.load(response)
    return {
        (a["labels"]["plant"], a["labels"]["item"]): a["labels"]["severity"]
        for a in alerts
        if a["labels"]["alertname"] == "MaterialShortage"
    }


def compare(name: str, want: dict, got: dict) -> dict:
    stale = {k for k in got if k not in want or got[k] != want[k]}
    missing = {k for k in want if k not in got or got[k] != want[k]}
    return {
        f"{name}_expected": len(want),
        f"{name}_shown": len(got),
        f"{name}_stale": len(stale),
        f"{name}_missing": len(missing),
    }


def run_to_end(prefix: str, **extra: str) -> tuple[float, list[str]]:
    started = time.monotonic()
    done = subprocess.run(
        [*MFGSYNC, "run", "--exit-at-end"],
        env=env_for(prefix, **extra),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    return elapsed, done.stderr.splitlines()


def dlq_alert_letters(prefix: str) -> int:
    return sum(
        1
        for _, v in read_topic({"bootstrap.servers": KAFKA}, prefix + "sync.dlq", timeout_s=120)
        if v and json.loads(v)["error"].startswith("ALERT")
    )


def main() -> None:
    global KAFKA, INPUT, WHAT
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kafka", required=True, help="bootstrap address of a running broker")
    parser.add_argument("--input", required=True, type=Path, help="JSON Lines events")
    parser.add_argument("--scenarios", default="quiet,up,down,back")
    args = parser.parse_args()
    KAFKA, INPUT, WHAT = args.kafka, args.input, args.scenarios.split(",")
    results: dict[str, object] = {"input": str(INPUT)}
    tmp = Path(tempfile.mkdtemp(prefix="mfgsync-alerts-"))
    with contextlib.ExitStack() as stack:
        if "quiet" in WHAT:
            prefix = f"q{uuid.uuid4().hex[:6]}."
            setup(prefix)
            results["quiet_s"], _ = run_to_end(prefix)
        if "up" in WHAT:
            prefix = f"u{uuid.uuid4().hex[:6]}."
            setup(prefix)
            am = stack.enter_context(alertmanager(tmp / "am-up"))
            hook = Receiver()
            seconds, lines = run_to_end(prefix, alertmanager_url=am, webhook_url=hook.url)
            results["up_s"] = seconds
            results.update(compare("am", truth(prefix), active(am)))
            want = truth_by_id(prefix)
            results.update(compare("webhook", want, {k: v[0] for k, v in hook.latest.items()}))
            results["webhook_requests"] = hook.requests
            results["up_log_lines"] = len(lines)
        if "down" in WHAT:
            prefix = f"d{uuid.uuid4().hex[:6]}."
            setup(prefix)
            dead = free_port()
            seconds, lines = run_to_end(
                prefix,
                alertmanager_url=f"http://127.0.0.1:{dead}",
                webhook_url=f"http://127.0.0.1:{dead}/hook",
                alert_drain_s="2",
            )
            results["down_s"] = seconds
            results["down_log_lines"] = len(lines)
            results["down_alert_log_lines"] = sum("alert_dispatch" in line for line in lines)
            results["down_dlq_alert_letters"] = dlq_alert_letters(prefix)
        if "back" in WHAT:
            prefix = f"b{uuid.uuid4().hex[:6]}."
            setup(prefix)
            port = free_port()
            hook = Receiver()
            hook.up = False
            metrics = free_port()
            proc = subprocess.Popen(
                [*MFGSYNC, "run"],
                env=env_for(
                    prefix,
                    alertmanager_url=f"http://127.0.0.1:{port}",
                    webhook_url=hook.url,
                    metrics_port=str(metrics),
                ),
                stdout=subprocess.DEVNULL,
                stderr=open(tmp / "back.err", "w"),
                start_new_session=True,
            )
            try:
                total = sum(1 for line in INPUT.open() if line.strip())
                deadline = time.monotonic() + 900
                while time.monotonic() < deadline:
                    time.sleep(2)
                    with contextlib.suppress(OSError, ValueError):
                        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/status", timeout=5) as r:
                            events = json.load(r)["events"]
                        if sum(events.values()) >= total - 50:
                            break
                time.sleep(35)  # the sequencer's wait for the last gaps (wait_s 30 s)
                am = stack.enter_context(alertmanager(tmp / "am-back", port=port))
                hook.up = True
                came_back = time.monotonic()
                want, want_ids = truth(prefix), truth_by_id(prefix)
                while time.monotonic() - came_back < 120:
                    got = active(am)
                    hooked = {k: v[0] for k, v in hook.latest.items()}
                    if got == want and hooked == want_ids:
                        break
                    time.sleep(1)
                results["back_converged_s"] = round(time.monotonic() - came_back, 1)
                results.update(compare("back_am", want, active(am)))
                results.update(compare("back_webhook", want_ids, {k: v[0] for k, v in hook.latest.items()}))
                results["back_webhook_requests"] = hook.requests
            finally:
                os.killpg(proc.pid, 15)
                proc.wait(60)
            errs = (tmp / "back.err").read_text().splitlines()
            results["back_alert_log_lines"] = [
                json.loads(e)["message"][:160] for e in errs if "alert_dispatch" in e
            ]
    if "quiet_s" in results:
        for k in ("up_s", "down_s"):
            if k in results:
                results[k.replace("_s", "_ratio")] = round(results["quiet_s"] / results[k], 3)
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
