"""Many concurrent streams over few connections with nghttp2's h2load, against grpc.health.v1.Health/Check."""

import re
import shutil
import subprocess

import pytest

import h2raw

REQUESTS = 20_000
CONNECTIONS = 4
STREAMS_PER_CONNECTION = 100
H2LOAD_TIMEOUT_S = 300


def parse_h2load(output):
    """The request and status-code counters of h2load's summary, by name."""
    requests = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                         r"(\d+) errored, (\d+) timeout", output, re.MULTILINE)
    codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output, re.MULTILINE)
    if not requests or not codes:
        raise AssertionError(f"h2load printed no summary:\n{output}")
    names = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    counts = dict(zip(names, map(int, requests.groups())))
    counts.update(zip(("2xx", "3xx", "4xx", "5xx"), map(int, codes.groups())))
    return counts


def test_h2load_many_concurrent_health_checks_all_succeed(rankd, tmp_path):
    h2load = shutil.which("h2load")
    if h2load is None:
        pytest.fail("h2load not found: install Debian's nghttp2-client (Scripts/install-deps.sh --test)")
    body = tmp_path / "health-check.grpc"
    body.write_bytes(h2raw.grpc_frame(b""))  # an empty HealthCheckRequest: service "" is the whole server
    argv = [h2load, "-n", str(REQUESTS), "-c", str(CONNECTIONS), "-m", str(STREAMS_PER_CONNECTION),
            "-d", str(body), "-H", "content-type: application/grpc", "-H", "te: trailers",
            f"http://{rankd.address}/grpc.health.v1.Health/Check"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=H2LOAD_TIMEOUT_S)
    assert run.returncode == 0, f"h2load exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    counts = parse_h2load(run.stdout)
    assert counts["succeeded"] == REQUESTS and counts["done"] == REQUESTS, counts
    assert counts["failed"] == 0 and counts["errored"] == 0 and counts["timeout"] == 0, counts
    assert counts["2xx"] == REQUESTS, counts
    # The server must still answer normal calls after the burst.
    response = h2raw.unary("127.0.0.1", rankd.port, "/grpc.health.v1.Health/Check", h2raw.grpc_frame(b""))
    assert response.grpc("grpc-status") == "0"
