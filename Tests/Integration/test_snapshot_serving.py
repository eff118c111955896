"""rankd --snapshot: serving a snapshot written by `rankctl demo-data`, and swapping it while clients call.

A good snapshot is swapped in on SIGHUP or when the `current` symlink is repointed, with zero failed calls; a
broken one is refused with a log line naming the problem, and the old one keeps serving.
"""

import json
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


TEAM_VENUES = """id,name,location,market,delivery_radius,opening_hours,cuisine,tags,price_level,rating
luigis-mitte,"Luigi's, Mitte","52.5200,13.4050",ber,3000,Europe/Berlin; mon-sun 11:00-23:00,pizza,pizza|italian,2,4.6
sushi-go,Sushi Go,"52.5210,13.4060",ber,2500,Europe/Berlin; mon-sun 11:00-23:00,sushi,sushi,3,4.2
far-away,Far Away Curry,"52.4000,13.2000",ber,1000,Europe/Berlin; mon-sun 11:00-23:00,indian,indian,2,4.9
"""
# Items interleaved across venues, as a warehouse export may write them.
TEAM_ITEMS = """{"id": "sku-100", "name": "Margherita", "venue": "luigis-mitte", "category": "main", "price": 9.5}
{"id": "sku-200", "name": "Salmon nigiri", "venue": "sushi-go", "category": "main", "price": 6.5}
{"id": "sku-101", "name": "Tiramisu", "venue": "luigis-mitte", "category": "dessert", "price": 5}
{"id": "sku-300", "name": "Korma", "venue": "far-away", "category": "main", "price": 12}
"""
TEAM_USERS = """id,home,market,orders,ordered_items
anna,"52.5230,13.4120",ber,luigis-mitte:order:2024-04-28T19:05:00Z,sku-100:order:2024-04-28T19:05:00Z
"""
# Wednesday 2024-05-01 18:00 in Berlin (summer time, UTC+2).
TEAM_TIME_MS = 1_714_579_200_000


def test_a_teams_own_ids_are_served_from_csv_to_answer(bin_dir, servers, protos, tmp_path):
    """docs/data.md end to end with a team's ids: CSV and JSON Lines tables → `rankctl snapshot build` → rankd
    --snapshot → Rank and Recommend in the team's ids, with names, drop reasons and the snapshot id."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "venue.csv").write_text(TEAM_VENUES)
    (inputs / "item.jsonl").write_text(TEAM_ITEMS)
    (inputs / "user.csv").write_text(TEAM_USERS)
    schema = pathlib.Path(__file__).resolve().parents[2] / "schemas" / "marketplace.json"
    built = subprocess.run([str(bin_dir / "rankctl"), "snapshot", "build", "--schema", str(schema), "--input",
                            str(inputs), "--out", str(tmp_path / "snap"), "--snapshot-id", "team-1"],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    server = servers.start_rankd(bin_dir, "--snapshot", str(tmp_path / "snap"))
    log = server.log_text()
    assert "serving: snapshot team-1" in log and "regrouped by venue" in log, log

    ranking = protos.ranking
    context = ranking.Context(request_time_unix_ms=TEAM_TIME_MS, request_id="team")
    with grpc.insecure_channel(server.address) as channel:
        stub = protos.ranking_grpc.RankingServiceStub(channel)
        request = ranking.RankRequest(user_id="anna", surface="discovery", context=context, include_display=True)
        for venue in ("sushi-go", "luigis-mitte", "far-away", "opened-yesterday"):
            request.candidates.add(item_id=venue)
        reply, call = stub.Rank.with_call(request, timeout=CALL_TIMEOUT_S)
        assert dict(call.initial_metadata()).get("rankd-snapshot-id") == "team-1"
        ranked = [item.item_id for item in reply.items]
        # Known venues that deliver are ranked under their own ids; one newer than the snapshot is ranked on what
        # the caller says; the one too far away is dropped with its reason.
        assert set(ranked) == {"sushi-go", "luigis-mitte", "opened-yesterday"}, reply
        assert {entry.reason: entry.count for entry in reply.dropped} == {"out_of_delivery_range": 1}
        names = {item.item_id: {field.name: field.value for field in item.display} for item in reply.items}
        assert names["luigis-mitte"]["name"] == "Luigi's, Mitte" and names["sushi-go"]["cuisine"] == "sushi"

        menu = ranking.RecommendRequest(user_id="anna", surface="venue_items", context=context,
                                        venue_id="luigis-mitte")
        items = [item for section in stub.Recommend(menu, timeout=CALL_TIMEOUT_S) for item in section.items]
        assert {item.item_id for item in items} == {"sku-100", "sku-101"}
        assert all(item.venue_id == "luigis-mitte" for item in items)


# A team in New York with its own cuisines: nothing of it is in the demo.
NYC_VENUES = """id,name,location,market,delivery_radius,opening_hours,cuisine,tags,price_level,rating
ramen-ya,Ramen Ya,"40.7306,-73.9866",nyc,3000,America/New_York; mon-sun 11:00-23:00,ramen,ramen,2,4.5
taco-stand,Taco Stand,"40.7312,-73.9890",nyc,3000,America/New_York; mon-sun 11:00-23:00,tacos,tacos|bagels,1,4.1
bagel-bar,Bagel Bar,"40.7290,-73.9850",nyc,3000,America/New_York; mon-sun 06:00-15:00,bagels,bagels,1,4.3
"""
NYC_ITEMS = """id,name,venue,category,price
shoyu,Shoyu ramen,ramen-ya,bowl,14
al-pastor,Al pastor,taco-stand,plate,4
everything,Everything bagel,bagel-bar,bagel,3
"""
NYC_USERS = """id,home,market,orders,ordered_items
ny-1,"40.7300,-73.9870",nyc,ramen-ya:order:2024-04-28T23:05:00Z,shoyu:order:2024-04-28T23:05:00Z
"""
# Wednesday 2024-05-01 21:30 in New York (EDT, UTC-4): 03:30 on Thursday in Berlin, when nothing would be open.
NYC_TIME_MS = 1_714_613_400_000


def test_a_teams_own_market_and_cuisines_are_served(bin_dir, servers, protos, tmp_path):
    """A market and cuisines the demo has never heard of: the schema declares the team's cuisines and menu
    sections, the loader takes the market, its time zone and its centre from the venues, and Recommend over gRPC
    answers in New York's local time, with the team's cuisines as category pages."""
    schema = json.loads((pathlib.Path(__file__).resolve().parents[2] / "schemas" / "marketplace.json").read_text())
    for kind in schema["kinds"]:
        for attribute in kind["attributes"]:
            if (kind["name"], attribute["name"]) in (("venue", "cuisine"), ("venue", "tags")):
                attribute["values"] = ["ramen", "tacos", "bagels"]
            if (kind["name"], attribute["name"]) == ("item", "category"):
                attribute["values"] = ["bowl", "plate", "bagel"]
            if attribute["name"] == "cuisine_affinity":
                attribute["dimension"] = 3
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "venue.csv").write_text(NYC_VENUES)
    (inputs / "item.csv").write_text(NYC_ITEMS)
    (inputs / "user.csv").write_text(NYC_USERS)
    built = subprocess.run([str(bin_dir / "rankctl"), "snapshot", "build", "--schema", str(tmp_path / "schema.json"),
                            "--input", str(inputs), "--out", str(tmp_path / "snap"), "--snapshot-id", "nyc-1"],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    server = servers.start_rankd(bin_dir, "--snapshot", str(tmp_path / "snap"))
    assert "serving: snapshot nyc-1" in server.log_text(), server.log_text()

    ranking = protos.ranking
    evening = ranking.Context(request_time_unix_ms=NYC_TIME_MS, request_id="nyc")
    with grpc.insecure_channel(server.address) as channel:
        stub = protos.ranking_grpc.RankingServiceStub(channel)

        def answered(request):
            return [item.item_id for section in stub.Recommend(request, timeout=CALL_TIMEOUT_S)
                    for item in section.items]

        # At 21:30 local the two evening venues are open and the bagel bar (06:00-15:00) is not.
        found = answered(ranking.RecommendRequest(user_id="ny-1", surface="discovery", context=evening, limit=10))
        assert set(found) == {"ramen-ya", "taco-stand"}, found
        # The team's cuisines are category pages: tacos is the taco stand's primary cuisine.
        page = answered(ranking.RecommendRequest(user_id="ny-1", surface="category", context=evening, limit=10,
                                                 category="tacos"))
        assert page == ["taco-stand"], page
        # A cuisine of the demo is not this catalog's: refused, naming the catalog's own.
        with pytest.raises(grpc.RpcError) as refused:
            answered(ranking.RecommendRequest(user_id="ny-1", surface="category", context=evening, category="pizza"))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "one of: ramen, tacos, bagels" in refused.value.details(), refused.value.details()
