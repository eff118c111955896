"""`rankctl experiment report` on exposure and event logs written as rankd names them (exposures-*.jsonl and
events-*.jsonl, or length-delimited .pb files written here with protobuf's Python classes from proto/): the JSON
report, the HTML page as headless Chromium renders it, and the one-line errors."""

import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys

import pytest

BASE_TIME_MS = 1_780_000_000_000
PROTO_ROOT = pathlib.Path(__file__).resolve().parents[2] / "proto"


def rankctl(bin_dir, *args):
    return subprocess.run([str(pathlib.Path(bin_dir) / "rankctl"), *args], capture_output=True, text=True,
                          timeout=300)


def exposure(request_id, user, time_ms, variant, items, latency_micros):
    return {
        "request_id": request_id, "time_unix_ms": time_ms, "request_time_unix_ms": time_ms, "user_id": user,
        "session_id": "", "surface": "discovery", "method": "Recommend",
        "assignments": [{"layer": "ranking", "experiment": "new-ranker", "variant": variant, "planned_share": 0.5}],
        "model_version": "m1", "snapshot_id": "s1",
        "items": [{"item_id": item, "position": position, "score": 1.0, "model_score": 1.0, "sources": ["popular"],
                   "explored": False, "pinned": False, "section": "for_you"} for position, item in enumerate(items)],
        "latency_micros": latency_micros, "degraded_stages": [], "candidate_count": 100,
    }


def event(event_id, kind, user, item, request_id, position, time_ms):
    return {
        "received_unix_ms": time_ms, "event_id": event_id, "user_id": user, "session_id": "", "kind": kind,
        "item_id": item, "surface": "discovery", "request_id": request_id, "position": position,
        "timestamp_unix_ms": time_ms, "value": 0.0,
    }


def simulate(users=3000, seed=7, treatment_order_rate=0.5):
    """Simulated users split half and half; the treatment converts a clicked item more often (0.5 against 0.3)."""
    rng = random.Random(seed)
    exposures, events = [], []
    for n in range(users):
        user = f"u{n}"
        variant = "treatment" if rng.random() < 0.5 else "control"
        click_rate = 0.1 + 0.4 * rng.random()
        for r in range(2):
            request_id = f"{user}-r{r}"
            time_ms = BASE_TIME_MS + n * 10 + r * 600_000
            items = [f"v{(n + 7 * k) % 300}" for k in range(10)]
            exposures.append(exposure(request_id, user, time_ms, variant, items, 20_000 + rng.randrange(2_000)))
            if rng.random() < click_rate:
                position = min(9, int(rng.expovariate(0.4)))
                events.append(event(f"{request_id}-c", "click", user, items[position], request_id, position,
                                    time_ms + 3_000))
                order_rate = treatment_order_rate if variant == "treatment" else 0.3
                if rng.random() < order_rate:
                    # Without a request id: the report attributes it by item to this exposure.
                    events.append(event(f"{request_id}-o", "order", user, items[position], "", position,
                                        time_ms + 60_000))
    return exposures, events


def write_logs(folder, users=3000):
    """JSON Lines files as `rankd --log-format jsonl` names them; returns the record counts."""
    exposures, events = simulate(users)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "exposures-20260101T000000Z-000001.jsonl").write_text(
        "".join(json.dumps(record) + "\n" for record in exposures))
    (folder / "events-20260101T000000Z-000001.jsonl").write_text(
        "".join(json.dumps(record) + "\n" for record in events))
    return len(exposures), len(events)


# Runs in its own interpreter with the generated modules first on its path, so they never mix with the ranking.v1
# modules the shared fixtures generate.
PROTOBUF_WRITER = """
import json, sys
from ranking.exposure.v1 import exposure_pb2
from ranking.v1 import events_pb2

def delimited(message):
    body = message.SerializeToString()
    size, prefix = len(body), bytearray()
    while size >= 0x80:
        prefix.append((size & 0x7F) | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes(prefix) + body

records = json.load(open(sys.argv[1]))
with open(sys.argv[2], "wb") as out:
    for record in records["exposures"]:
        message = exposure_pb2.Exposure()
        for key in ("request_id", "time_unix_ms", "request_time_unix_ms", "user_id", "session_id", "surface",
                    "method", "model_version", "snapshot_id", "latency_micros", "candidate_count"):
            setattr(message, key, record[key])
        message.degraded_stages.extend(record["degraded_stages"])
        for assignment in record["assignments"]:
            message.assignments.add(**assignment)
        for item in record["items"]:
            message.items.add(**item)
        out.write(delimited(message))
with open(sys.argv[3], "wb") as out:
    for record in records["events"]:
        message = exposure_pb2.LoggedEvent(received_unix_ms=record["received_unix_ms"])
        fields = {key: value for key, value in record.items() if key not in ("received_unix_ms", "kind")}
        message.event.CopyFrom(events_pb2.Event(
            kind=events_pb2.EventKind.Value("EVENT_KIND_" + record["kind"].upper()), **fields))
        out.write(delimited(message))
"""


def write_protobuf_logs(folder, work):
    """Length-delimited protobuf files, as rankd writes by default, from protobuf's own Python classes."""
    from grpc_tools import protoc
    import grpc_tools

    generated = work / "generated-exposure"
    generated.mkdir(parents=True, exist_ok=True)
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    sources = [PROTO_ROOT / "ranking" / "v1" / "events.proto", PROTO_ROOT / "ranking" / "exposure" / "v1" /
               "exposure.proto"]
    assert protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={generated}",
                        *map(str, sources)]) == 0, "protoc failed on exposure.proto"
    exposures, events = simulate()
    (work / "records.json").write_text(json.dumps({"exposures": exposures, "events": events}))
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", PROTOBUF_WRITER, str(work / "records.json"),
         str(folder / "exposures-20260101T000000Z-000001.pb"), str(folder / "events-20260101T000000Z-000001.pb")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(generated)})
    assert done.returncode == 0, done.stderr[-2000:]


def test_json_report_ships_a_planted_lift_and_names_its_methods(bin_dir, tmp_path):
    exposures, events = write_logs(tmp_path / "logs")
    done = rankctl(bin_dir, "experiment", "report", "--exposures", str(tmp_path / "logs"), "--events",
                   str(tmp_path / "logs"), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["join"]["exposures"] == exposures
    assert report["join"]["events"] == events
    assert report["join"]["by_item"] > 0 and report["join"]["by_request_id"] > 0
    (experiment,) = report["experiments"]
    assert experiment["name"] == "new-ranker"
    assert experiment["control"] == "control"
    assert experiment["sample_ratio"]["flagged"] is False
    (comparison,) = experiment["comparisons"]
    assert comparison["variant"] == "treatment"
    methods = {metric["metric"]: metric["method"] for metric in comparison["metrics"]}
    assert methods == {"click_through": "delta", "conversion": "welch", "ndcg": "delta"}
    conversion = next(metric for metric in comparison["metrics"] if metric["metric"] == "conversion")
    assert conversion["absolute"]["low"] > 0, conversion
    assert [guardrail["status"] for guardrail in comparison["guardrails"]] == ["pass", "pass", "pass"]
    assert comparison["verdict"]["decision"] == "ship", comparison["verdict"]


def test_protobuf_logs_give_the_same_report_as_json_lines(bin_dir, tmp_path):
    write_logs(tmp_path / "jsonl")
    write_protobuf_logs(tmp_path / "pb", tmp_path)
    reports = []
    for folder in ("jsonl", "pb"):
        done = rankctl(bin_dir, "experiment", "report", "--exposures", str(tmp_path / folder), "--events",
                       str(tmp_path / folder), "--json")
        assert done.returncode == 0, done.stderr[-2000:]
        reports.append(json.loads(done.stdout))
    assert reports[1]["join"]["exposures"] == 6000
    assert reports[0] == reports[1]


def test_html_report_renders_interval_plots_and_the_verdict_in_chromium(bin_dir, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is missing: run Scripts/install-deps.sh --test (Debian package chromium)",
                    pytrace=False)
    write_logs(tmp_path / "logs")
    page = tmp_path / "report.html"
    done = rankctl(bin_dir, "experiment", "report", "--exposures", str(tmp_path / "logs"), "--events",
                   str(tmp_path / "logs"), "--html", str(page))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Verdict: ship" in done.stdout, done.stdout
    source = page.read_text()
    assert "<script" not in source and "http://" not in source.replace("http://www.w3.org/2000/svg", "")
    rendered = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    dom = rendered.stdout
    # One plot per metric (click-through, conversions, NDCG@10), each with the zero line and the treatment's row.
    assert len(re.findall(r"<svg\b", dom)) == 3, dom[:2000]
    assert len(re.findall(r"<circle\b", dom)) == 3
    assert len(re.findall(r'<line\b[^>]*class="zero"', dom)) == 3
    assert len(re.findall(r'<line\b[^>]*class="interval"', dom)) == 3
    assert re.search(r'Verdict for treatment: <span class="decision-ship">ship</span>', dom), dom[-3000:]
    assert "sample ratio" in dom.lower()
    screenshot = tmp_path / "report.png"
    shot = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={screenshot}", "--window-size=1280,2000",
         page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]


def test_errors_are_one_line_with_a_nonzero_exit(bin_dir, tmp_path):
    missing = tmp_path / "nowhere"
    done = rankctl(bin_dir, "experiment", "report", "--exposures", str(missing), "--events", str(missing))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"rankctl experiment report: no such folder: {missing} (the exposure log)"]

    (tmp_path / "empty").mkdir()
    done = rankctl(bin_dir, "experiment", "report", "--exposures", str(tmp_path / "empty"), "--events",
                   str(tmp_path / "empty"))
    assert done.returncode == 1
    assert "no exposure records in" in done.stderr and len(done.stderr.strip().splitlines()) == 1

    write_logs(tmp_path / "logs", users=50)
    done = rankctl(bin_dir, "experiment", "report", "--exposures", str(tmp_path / "logs"), "--events",
                   str(tmp_path / "logs"), "--experiment", "old-ranker")
    assert done.returncode == 1
    assert done.stderr.strip() == ("rankctl experiment report: no experiment named old-ranker in the exposure log; "
                                   "known: new-ranker")
