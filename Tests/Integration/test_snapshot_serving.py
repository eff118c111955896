"""rankd --snapshot: serving a snapshot written by `rankctl demo-data`, and swapping it while clients call.

A good snapshot is swapped in on SIGHUP or when the `current` symlink is repointed, with zero failed calls; a
broken one is refused with a log line naming the problem, and the old one keeps serving.
"""

import os
import pathlib
import shutil
import signal
import subprocess
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from calls import CALL_TIMEOUT_S, SURFACE, USER, context, recommend

SCALE = "0.05"
SWAP_WAIT_S = 120.0
# Loading a snapshot beside the serving one takes CPU; on a small test machine admission control would shed calls
# that queue behind it (RESOURCE_EXHAUSTED, a different defence, tested elsewhere), so the queue budget is generous.
PATIENT = ("--queue-budget-ms", "2000")


@pytest.fixture(scope="module")
def snapshots(bin_dir, tmp_path_factory):
    """Two good demo snapshots (seeds 42 and 43) and a broken copy of the second (one byte of item.pb flipped)."""
    root = tmp_path_factory.mktemp("snapshots")
    for name, seed in (("snap-a", 42), ("snap-b", 43)):
        result = subprocess.run(
            [str(bin_dir / "rankctl"), "demo-data", "--domain", "marketplace", "--scale", SCALE, "--seed", str(seed),
             "--snapshot", str(root / name), "--snapshot-id", name],
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert f"wrote snapshot {name}" in result.stdout
        validated = subprocess.run([str(bin_dir / "rankctl"), "snapshot", "validate", str(root / name)],
                                   capture_output=True, text=True, timeout=300)
        assert validated.returncode == 0, validated.stdout + validated.stderr
    shutil.copytree(root / "snap-b", root / "snap-broken")
    items = root / "snap-broken" / "item.pb"
    data = bytearray(items.read_bytes())
    data[len(data) // 2] ^= 0xFF
    items.write_bytes(bytes(data))
    return root


def point(link, target):
    """Repoints a symlink atomically, as deploy tools publish: a new link renamed over the old one."""
    temporary = link.with_name(link.name + ".new")
    if temporary.is_symlink():
        temporary.unlink()
    os.symlink(target.name, temporary)
    os.replace(temporary, link)


def item_ids(sections):
    return [item.item_id for section in sections for item in section.items]


class Traffic:
    """Recommend calls in a loop on one channel until stopped; counts every call and every failure."""

    def __init__(self, address, protos):
        self.channel = grpc.insecure_channel(address)
        self.stub = protos.ranking_grpc.RankingServiceStub(self.channel)
        self.protos = protos
        self.calls = 0
        self.failures = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                sections = recommend(self.stub, self.protos, limit=5)
                if not item_ids(sections):
                    self.failures.append("empty answer")
            except grpc.RpcError as error:
                self.failures.append(f"{error.code()}: {error.details()}")
            self.calls += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=CALL_TIMEOUT_S + 5)
        self.channel.close()


def served_snapshot_ids(bin_dir, address, stub, protos):
    """The snapshot id as each caller sees it: Recommend's and Rank's response headers, health's Check answer and
    `rankctl health`."""
    request = protos.ranking.RecommendRequest(user_id=USER, surface=SURFACE, context=context(protos), limit=3)
    call = stub.Recommend(request, timeout=CALL_TIMEOUT_S)
    sections = list(call)
    ids = {"recommend": dict(call.initial_metadata()).get("rankd-snapshot-id")}
    rank = protos.ranking.RankRequest(user_id=USER, surface=SURFACE, context=context(protos))
    for item_id in item_ids(sections)[:3]:
        rank.candidates.add(item_id=item_id)
    _, call = stub.Rank.with_call(rank, timeout=CALL_TIMEOUT_S)
    ids["rank"] = dict(call.initial_metadata()).get("rankd-snapshot-id")
    with grpc.insecure_channel(address) as channel:
        _, call = health_pb2_grpc.HealthStub(channel).Check.with_call(health_pb2.HealthCheckRequest(), timeout=5)
        ids["health"] = dict(call.initial_metadata()).get("rankd-snapshot-id")
    done = subprocess.run([str(bin_dir / "rankctl"), "health", "--target", address], capture_output=True, text=True,
                          timeout=60)
    ids["rankctl"] = done.stdout.strip()
    return ids


def assert_serving(bin_dir, address, stub, protos, snapshot_id):
    ids = served_snapshot_ids(bin_dir, address, stub, protos)
    assert ids == {"recommend": snapshot_id, "rank": snapshot_id, "health": snapshot_id,
                   "rankctl": f"SERVING (snapshot {snapshot_id})"}, ids


def wait_log(server, text, offset):
    line = server.wait_for_log_line(lambda line: text in line, timeout_s=SWAP_WAIT_S, start_offset=offset)
    assert line is not None, f"no log line with {text!r}; log tail: {server.log_tail()}"
    return line


def test_sighup_refuses_a_broken_snapshot_and_swaps_in_a_good_one_with_zero_failed_calls(
        bin_dir, servers, snapshots, protos, tmp_path):
    link = snapshots / "current-sighup"
    point(link, snapshots / "snap-a")
    server = servers.start_rankd(bin_dir, "--snapshot", str(link), "--snapshot-poll-interval", "0", *PATIENT)
    assert "serving: snapshot snap-a" in server.log_text()
    with grpc.insecure_channel(server.address) as channel:
        stub = protos.ranking_grpc.RankingServiceStub(channel)
        first = item_ids(recommend(stub, protos, limit=5))
        assert first
        assert_serving(bin_dir, server.address, stub, protos, "snap-a")

        with Traffic(server.address, protos) as traffic:
            offset = server.log_size()
            point(link, snapshots / "snap-broken")
            server.send_signal(signal.SIGHUP)
            refused = wait_log(server, "SIGHUP: refused", offset)
            assert "snap-broken" in refused
            assert "checksum_mismatch" in server.log_text()[offset:]
            assert item_ids(recommend(stub, protos, limit=5)) == first
            assert_serving(bin_dir, server.address, stub, protos, "snap-a")

            offset = server.log_size()
            point(link, snapshots / "snap-b")
            server.send_signal(signal.SIGHUP)
            wait_log(server, "SIGHUP: now serving snapshot snap-b", offset)
            time.sleep(0.5)
        assert traffic.calls > 0
        assert traffic.failures == []
        assert item_ids(recommend(stub, protos, limit=5)) != first
        assert_serving(bin_dir, server.address, stub, protos, "snap-b")


def test_a_repointed_current_symlink_is_picked_up_and_a_broken_target_refused(bin_dir, servers, snapshots, protos):
    link = snapshots / "current-poll"
    point(link, snapshots / "snap-a")
    server = servers.start_rankd(bin_dir, "--snapshot", str(link), *PATIENT)
    with grpc.insecure_channel(server.address) as channel:
        stub = protos.ranking_grpc.RankingServiceStub(channel)
        first = item_ids(recommend(stub, protos, limit=5))
        with Traffic(server.address, protos) as traffic:
            offset = server.log_size()
            point(link, snapshots / "snap-broken")
            wait_log(server, "refused", offset)
            assert item_ids(recommend(stub, protos, limit=5)) == first

            offset = server.log_size()
            point(link, snapshots / "snap-b")
            wait_log(server, "now serving snapshot snap-b", offset)
        assert traffic.failures == []
        assert item_ids(recommend(stub, protos, limit=5)) != first


def test_rankd_does_not_serve_a_broken_snapshot_at_start(bin_dir, servers, snapshots):
    server = servers.start_rankd(bin_dir, "--snapshot", str(snapshots / "snap-broken"), wait_serving=False)
    line = server.wait_for_log_line(lambda line: "staying NOT_SERVING" in line, timeout_s=SWAP_WAIT_S)
    assert line is not None, server.log_tail()
    assert "checksum_mismatch" in server.log_text()
