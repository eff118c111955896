"""The admin port of a running rankd: a real Prometheus scraping it under traffic, the probes through start-up, a
refused reload and draining, and the configuration page.

Prometheus is Debian's package (Scripts/install-deps.sh --test installs it); each test starts its own on a free
127.0.0.1 port with its own storage folder and stops it.
"""

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import grpc
import pytest

from calls import CALL_TIMEOUT_S, context, known_item_ids, rank_request, recommend
from test_lifecycle import delay

RECOMMEND = "ranking.v1.RankingService/Recommend"
PROMETHEUS_WAIT_S = 90.0
HTTP_TIMEOUT_S = 10.0


def admin_get(server, path, method="GET"):
    """(status, body) of one admin request; HTTP errors are answers too."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.admin_port}{path}", method=method,
                                     data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric_value(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[-1])
    return None


def wait_metric(server, series, at_least=1, timeout_s=10):
    """The scrape text once `series` reaches `at_least`: each connection hands its call counts over on the I/O
    loop's tick (every 100 ms), so a call shows in /metrics a moment after it ends."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = admin_get(server, "/metrics")[1]
        value = metric_value(text, series)
        if (value is not None and value >= at_least) or time.monotonic() >= deadline:
            return text
        time.sleep(0.05)


def test_probes_and_pages_of_a_serving_rankd(rankd, ranking_stub, protos):
    assert admin_get(rankd, "/livez") == (200, "ok\n")
    status, body = admin_get(rankd, "/readyz")
    assert status == 200 and body.startswith("ready"), body
    recommend(ranking_stub, protos)
    assert admin_get(rankd, "/metrics")[0] == 200
    text = wait_metric(rankd, f'grpc_server_call_started_total{{grpc_method="{RECOMMEND}"}}')
    started = metric_value(text, f'grpc_server_call_started_total{{grpc_method="{RECOMMEND}"}}')
    assert started and started >= 1
    assert metric_value(text, "rankd_ready") == 1
    assert 'rankd_snapshot_info{snapshot_id="generated-demo-marketplace' in text
    assert "rankd_model_info{" in text
    assert 'rankd_stage_duration_seconds_bucket{surface="discovery",stage="score",le="0.025"}' in text
    status, body = admin_get(rankd, "/config")
    assert status == 200
    document = json.loads(body)
    assert document["ready"] is True
    assert document["serving"]["snapshot"].startswith("generated-demo-marketplace")
    assert admin_get(rankd, "/nope")[0] == 404
    assert admin_get(rankd, "/metrics", method="POST")[0] == 405


def test_a_method_the_server_does_not_serve_is_counted_as_other(rankd, channel):
    bogus = channel.unary_unary("/no.such.Service/Whatever" + str(time.monotonic_ns()))
    with pytest.raises(grpc.RpcError) as failure:
        bogus(b"", timeout=CALL_TIMEOUT_S)
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED
    text = wait_metric(rankd, 'grpc_server_call_started_total{grpc_method="other"}')
    assert "no.such.Service" not in text
    assert metric_value(text, 'grpc_server_call_started_total{grpc_method="other"}') >= 1


def test_not_ready_until_loaded_and_after_a_failed_load(bin_dir, servers, tmp_path):
    missing = tmp_path / "no-such-snapshot"
    server = servers.start_rankd(bin_dir, "--snapshot", str(missing), wait_serving=False)
    assert admin_get(server, "/livez")[0] == 200
    deadline = time.monotonic() + 60
    body = ""
    while time.monotonic() < deadline:
        status, body = admin_get(server, "/readyz")
        assert status == 503, body
        if "could not load" in body:
            break
        time.sleep(0.1)
    assert "could not load" in body, body
    assert metric_value(admin_get(server, "/metrics")[1], "rankd_ready") == 0


def test_readiness_goes_false_when_draining_starts_before_calls_finish(bin_dir, servers, protos):
    server = servers.start_rankd(bin_dir, "--test-hooks", "--grace-period", "20")
    assert admin_get(server, "/readyz")[0] == 200
    with grpc.insecure_channel(server.address) as ch:
        stub = protos.ranking_grpc.RankingServiceStub(ch)
        candidates = known_item_ids(stub, protos)
        call = stub.Rank.future(rank_request(protos, candidates), metadata=delay(3000), timeout=CALL_TIMEOUT_S)
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        status, body = admin_get(server, "/readyz")
        while status == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            status, body = admin_get(server, "/readyz")
        assert status == 503 and "draining" in body, body
        assert call.result(timeout=CALL_TIMEOUT_S).items
    assert server.wait_exit(CALL_TIMEOUT_S) == 0


@pytest.fixture
def prometheus(tmp_path):
    """Starts Debian's prometheus on a free port; yields (start function, base URL)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is missing: run Scripts/install-deps.sh --test (Debian package prometheus)")
    started = []

    def start(targets):
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: rankd\n    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n")
        log = open(tmp_path / "prometheus.log", "wb")
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        started.append((proc, log))
        return f"http://127.0.0.1:{port}"

    yield start
    for proc, log in started:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def query(base, expression):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as reply:
            document = json.loads(reply.read())
    except (urllib.error.URLError, ConnectionError):
        return []
    assert document["status"] == "success", document
    return document["data"]["result"]


def test_a_real_prometheus_scrapes_call_stage_and_variant_series_under_traffic(bin_dir, servers, protos,
                                                                                prometheus):
    # Prometheus starting beside a debug rankd takes CPU; admission control must not shed the traffic for it.
    server = servers.start_rankd(bin_dir, "--queue-budget-ms", "2000")
    base = prometheus([f"127.0.0.1:{server.admin_port}"])
    stop = threading.Event()
    failures = []

    def traffic():
        with grpc.insecure_channel(server.address) as ch:
            stub = protos.ranking_grpc.RankingServiceStub(ch)
            sent = 0
            while not stop.is_set() and sent < 20_000:
                try:
                    recommend(stub, protos)
                except grpc.RpcError as error:
                    failures.append(error.code())
                sent += 1
                time.sleep(0.01)

    worker = threading.Thread(target=traffic)
    worker.start()
    wanted = {
        "call duration rate": f'rate(grpc_server_call_duration_seconds_count{{grpc_method="{RECOMMEND}",'
                              f'grpc_status="OK"}}[5s]) > 0',
        "stage histograms": 'sum by (stage) (rate(rankd_stage_duration_seconds_count{surface="discovery"}[5s])) > 0',
        "variant counters": 'sum by (variant) (rate(rankd_answers_total{surface="discovery"}[5s])) > 0',
        "p99 from the histogram": f'histogram_quantile(0.99, sum by (le) (rate(grpc_server_call_duration_seconds_bucket'
                                  f'{{grpc_method="{RECOMMEND}"}}[5s]))) > 0',
    }
    found = {}
    try:
        deadline = time.monotonic() + PROMETHEUS_WAIT_S
        while time.monotonic() < deadline and len(found) < len(wanted):
            for name, expression in wanted.items():
                if name not in found:
                    result = query(base, expression)
                    if result:
                        found[name] = result
            time.sleep(1)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not failures, failures[:5]
    missing = sorted(set(wanted) - set(found))
    assert not missing, f"Prometheus has no series for {missing}"
    stages = {series["metric"]["stage"] for series in found["stage histograms"]}
    assert stages == {"candidates", "features", "score", "rerank"}
    variants = {series["metric"]["variant"] for series in found["variant counters"]}
    assert variants, found["variant counters"]
    up = query(base, 'up{job="rankd"}')
    assert up and up[0]["value"][1] == "1"


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_traceparent_round_trips_and_reaches_the_access_log(bin_dir, servers, protos):
    server = servers.start_rankd(bin_dir, "--access-log-sample-rate", "1")
    with grpc.insecure_channel(server.address) as ch:
        stub = protos.ranking_grpc.RankingServiceStub(ch)
        candidates = known_item_ids(stub, protos)
        offset = server.log_size()
        reply, call = stub.Rank.with_call(rank_request(protos, candidates), timeout=CALL_TIMEOUT_S,
                                          metadata=(("traceparent", TRACEPARENT), ("x-request-id", "req-42")))
        assert reply.items
        answered = dict(call.initial_metadata()).get("traceparent")
        assert answered is not None, call.initial_metadata()
        version, trace, span, flags = answered.split("-")
        assert (version, trace, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
        assert len(span) == 16 and span != "00f067aa0ba902b7" and span != "0" * 16
        # A malformed traceparent is ignored: no answer header, the call still works.
        reply, call = stub.Rank.with_call(rank_request(protos, candidates), timeout=CALL_TIMEOUT_S,
                                          metadata=(("traceparent", "00-XYZ-bad-01"),))
        assert reply.items
        assert "traceparent" not in dict(call.initial_metadata())

    def access_line(line):
        try:
            record = json.loads(line)
        except ValueError:
            return False
        return record.get("request_id") == "req-42" and record.get("message", "").startswith("call ")

    line = server.wait_for_log_line(access_line, start_offset=offset)
    assert line, server.log_tail()
    record = json.loads(line)
    assert record["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert record["grpc_status"] == "OK"
    assert record["method"] == "/ranking.v1.RankingService/Rank"
    assert float(record["duration_ms"]) > 0
    assert record["level"] == "info"


def test_every_log_line_is_one_json_object_and_nothing_is_logged_per_call_at_info(bin_dir, servers, protos):
    server = servers.start_rankd(bin_dir)
    offset = server.log_size()
    with grpc.insecure_channel(server.address) as ch:
        stub = protos.ranking_grpc.RankingServiceStub(ch)
        for _ in range(20):
            recommend(stub, protos)
    server.stop()
    lines = server.log_text().splitlines()
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record), line
    assert not [line for line in server.log_text()[offset:].splitlines() if "Recommend" in line]


def test_a_configuration_reload_over_the_admin_port_is_counted_and_a_refused_one_keeps_readiness(bin_dir, servers,
                                                                                                  tmp_path):
    config = tmp_path / "rankd.yaml"
    config.write_text("logging:\n  level: info\n")
    server = servers.start_rankd(bin_dir, "--config", str(config))
    assert admin_get(server, "/readyz")[0] == 200
    before = admin_get(server, "/metrics")[1]
    version = [line for line in before.splitlines() if line.startswith("rankd_config_info{")]
    assert len(version) == 1, version

    config.write_text("logging:\n  level: loud\n")
    status, body = admin_get(server, "/-/reload", method="POST")
    assert status == 422, body
    assert "logging.level" in body and ":2:" in body, body
    assert admin_get(server, "/readyz")[0] == 200
    text = admin_get(server, "/metrics")[1]
    assert metric_value(text, 'rankd_reloads_total{kind="config",result="refused"}') == 1
    assert metric_value(text, "rankd_ready") == 1

    config.write_text("logging:\n  level: debug\n")
    status, body = admin_get(server, "/-/reload", method="POST")
    assert status == 200, body
    text = admin_get(server, "/metrics")[1]
    assert metric_value(text, 'rankd_reloads_total{kind="config",result="ok"}') == 1
    after = [line for line in text.splitlines() if line.startswith("rankd_config_info{")]
    assert len(after) == 1 and after != version, (version, after)
    assert json.loads(admin_get(server, "/config")[1])["logging"]["level"] == "debug"
    assert admin_get(server, "/-/reload")[0] == 405


def test_without_a_configuration_file_the_reload_page_is_absent(rankd):
    assert admin_get(rankd, "/-/reload", method="POST")[0] == 404


def test_every_metric_the_alert_rules_use_is_one_rankd_exposes(rankd, ranking_stub, protos):
    """The rules in deploy/prometheus/ and the metrics rankd writes must not drift apart."""
    import pathlib
    import re
    recommend(ranking_stub, protos)
    text = wait_metric(rankd, f'grpc_server_call_duration_seconds_count{{grpc_method="{RECOMMEND}",grpc_status="OK"}}')
    exposed = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            exposed.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    rules = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
    used = set()
    for path in rules.glob("*.yml"):
        for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", path.read_text()):
            if ":" not in token and token.startswith(("grpc_server_", "rankd_", "process_")):
                used.add(token)
    assert used, "no metric names found in the rule files"
    # A histogram's family name (in comments, say) stands for its _bucket, _sum and _count series.
    missing = sorted(name for name in used - exposed if name + "_bucket" not in exposed)
    assert not missing, f"the alert rules use metrics rankd does not expose: {missing}"
