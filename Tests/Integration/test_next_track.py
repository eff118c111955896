"""next_track over a real grpcio client: rankd --snapshot on a music snapshot written by `rankctl demo-data --domain
music` serves the generic surface (docs/ranking.md, "Generic surfaces"): no repeats within the session, at most two
tracks per artist, only tracks of the catalog, the snapshot id in headers, and every refusal with its status.
"""

import json
import subprocess

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from calls import CALL_TIMEOUT_S, context
from conftest import ServerFactory

SCALE = "0.02"  # 1000 tracks, 100 artists, 2000 listeners
TRACKS = 1000
SNAPSHOT_ID = "music-itest"
SESSIONS = [
    ("u1", ["t1", "t2", "t3"]),
    ("u7", ["t500"]),
    ("u42", ["t17", "t999", "t250", "t3", "t64"]),
    ("u1999", ["t1000", "t1"]),
    ("nobody", ["t10"]),  # a listener the snapshot does not have: answered without their history
]


@pytest.fixture(scope="module")
def music(bin_dir, tmp_path_factory, rankd_args):
    """A rankd serving the music demo snapshot, for the whole module."""
    root = tmp_path_factory.mktemp("music")
    made = subprocess.run(
        [str(bin_dir / "rankctl"), "demo-data", "--domain", "music", "--scale", SCALE, "--snapshot",
         str(root / "snapshot"), "--snapshot-id", SNAPSHOT_ID],
        capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    factory = ServerFactory(root, rankd_args)
    server = factory.start_rankd(bin_dir, "--snapshot", str(root / "snapshot"))
    yield server
    factory.stop_all()


@pytest.fixture(scope="module")
def music_stub(music, protos):
    with grpc.insecure_channel(music.address) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        yield protos.ranking_grpc.RankingServiceStub(channel)


def request(protos, user, surface, limit=20, **fields):
    message = protos.ranking.RecommendRequest(user_id=user, surface=surface, context=context(protos), limit=limit)
    for name, value in fields.items():
        if isinstance(value, (list, tuple)):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


def refusal(stub, message):
    with pytest.raises(grpc.RpcError) as raised:
        list(stub.Recommend(message, timeout=CALL_TIMEOUT_S))
    return raised.value


def test_next_track_answers_new_tracks_with_at_most_two_per_artist(music_stub, protos):
    for user, session in SESSIONS:
        call = music_stub.Recommend(
            request(protos, user, "next_track", context_item_ids=session, include_display=True),
            timeout=CALL_TIMEOUT_S)
        sections = list(call)
        assert dict(call.initial_metadata()).get("rankd-snapshot-id") == SNAPSHOT_ID
        assert [section.section for section in sections] == ["up_next"]
        items = sections[0].items
        ids = [item.item_id for item in items]
        assert len(ids) == 20, f"{user}: {len(ids)} tracks"
        assert len(set(ids)) == len(ids), f"{user}: a track came twice: {ids}"
        assert not set(ids) & set(session), f"{user}: repeats the session {session}: {ids}"
        for track in ids:
            assert track.startswith("t") and 1 <= int(track[1:]) <= TRACKS, f"{user}: {track} is not a track"
        artists = {}
        for item in items:
            artist = dict((field.name, field.value) for field in item.display).get("artist")
            assert artist, f"{user}: {item.item_id} shows no artist: {item.display}"
            artists[artist] = artists.get(artist, 0) + 1
        assert max(artists.values()) <= 2, f"{user}: artist cap broken: {artists}"
        scores = [item.score for item in items]
        assert scores == sorted(scores, reverse=True)


def test_health_names_the_music_snapshot(music):
    with grpc.insecure_channel(music.address) as channel:
        reply, call = health_pb2_grpc.HealthStub(channel).Check.with_call(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert dict(call.initial_metadata()).get("rankd-snapshot-id") == SNAPSHOT_ID


def test_next_track_refusals_say_what_is_needed(music_stub, protos):
    missing = refusal(music_stub, request(protos, "u1", "next_track"))
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "context_item_ids is required for surface next_track" in missing.details(), missing.details()

    unknown = refusal(music_stub, request(protos, "u1", "next_track",
                                          context_item_ids=["t1", "x1", "x2", "x3", "x4", "x5", "t99999"]))
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "6 of 7 are not tracks of the catalog" in unknown.details(), unknown.details()
    assert '"x1"' in unknown.details() and "and 1 more" in unknown.details(), unknown.details()

    too_many = refusal(music_stub, request(protos, "u1", "next_track", context_item_ids=["t1"] * 51))
    assert too_many.code() == grpc.StatusCode.INVALID_ARGUMENT

    venue = refusal(music_stub, request(protos, "u1", "next_track", context_item_ids=["t1"], venue_id="v1"))
    assert venue.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "takes no venue_id" in venue.details()


def test_a_marketplace_surface_is_unknown_on_a_music_snapshot(music_stub, protos):
    discovery = refusal(music_stub, request(protos, "u1", "discovery"))
    assert discovery.code() == grpc.StatusCode.NOT_FOUND
    assert 'unknown surface "discovery"; known surfaces: next_track' in discovery.details(), discovery.details()
    rank = protos.ranking.RankRequest(user_id="u1", surface="next_track", context=context(protos))
    rank.candidates.add(item_id="t1")
    with pytest.raises(grpc.RpcError) as raised:
        music_stub.Rank(rank, timeout=CALL_TIMEOUT_S)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "answers Recommend only" in raised.value.details()


def test_next_track_is_unknown_on_the_marketplace(ranking_stub, protos):
    refused = refusal(ranking_stub, request(protos, "u1", "next_track", context_item_ids=["i1"]))
    assert refused.code() == grpc.StatusCode.NOT_FOUND
    assert 'unknown surface "next_track"' in refused.details(), refused.details()


def test_eval_json_reports_next_track_against_popularity(bin_dir):
    done = subprocess.run(
        [str(bin_dir / "rankctl"), "eval", "--surface", "next_track", "--scale", SCALE, "--sessions", "40", "--json"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert [surface["surface"] for surface in document["surfaces"]] == ["next_track"]
    surface = document["surfaces"][0]
    assert surface["task"] == "next_track" and surface["recall_at"] == 50 and surface["sessions"] == 40
    rankers = surface["rankers"]
    assert [ranker["baseline"] for ranker in rankers] == [True, False, False, False]
    assert rankers[0]["name"] == "popularity in genre"
    assert rankers[2]["name"].startswith("rankd next_track") and rankers[2]["name"].endswith("without events")
    assert rankers[3]["name"].startswith("rankd next_track") and rankers[3]["name"].endswith("with events")
    for ranker in rankers:
        assert 0 <= ranker["ndcg_at_10"] <= 1 and 0 <= ranker["recall"] <= 1, ranker
        if rankers[0]["ndcg_at_10"] > 0:
            assert abs(ranker["ndcg_at_10_vs_popularity"] - ranker["ndcg_at_10"] / rankers[0]["ndcg_at_10"]) < 1e-9
    # The same sessions with and without their events, those with at least three events before the request.
    events = surface["events"]
    assert events["min_prior_events"] == 3 and 0 < events["sessions"] <= 40, events
    without, with_events = events["without_events"], events["with_events"]
    assert without["name"].endswith("without events") and with_events["name"].endswith("with events")
    for row in (events["popularity"], without, with_events):
        assert 0 <= row["ndcg_at_10"] <= 1 and 0 <= row["recall"] <= 1, row
    if without["ndcg_at_10"] > 0:
        assert abs(events["ndcg_at_10_with_vs_without"] - with_events["ndcg_at_10"] / without["ndcg_at_10"]) < 1e-9


def test_rankctl_recommends_next_track(bin_dir, music):
    done = subprocess.run(
        [str(bin_dir / "rankctl"), "recommend", "--target", music.address, "--user", "u1", "--surface", "next_track",
         "--session", "t5,t4,t3", "--limit", "5", "--json"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up_next" in done.stdout, done.stdout
    for track in ("t5", "t4", "t3"):
        assert f'"{track}"' not in done.stdout, done.stdout


def test_rank_load_next_track_requests_are_answered(music, bin_dir, tmp_path):
    """rank-load's next_track workload at the snapshot's scale: every drawn request is one the surface answers."""
    report = tmp_path / "load.json"
    done = subprocess.run(
        [str(bin_dir / "rank-load"), "--target", music.address, "--surface", "next_track", "--scale", SCALE,
         "--rate", "5", "--duration", "2s", "--warmup", "0s", "--pool-size", "10", "--request-time",
         "1714586400000", "--quiet", "--json", str(report),
         # A debug generator may lag; this test is about the requests, not the schedule.
         "--max-lag-p99", "1s", "--min-achieved", "0.5"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "workload: recommend, surface next_track" in done.stdout, done.stdout
    assert json.loads(report.read_text())["status_counts"] == {"OK": 10}, done.stdout


def test_rank_load_refuses_next_track_with_another_method(bin_dir):
    done = subprocess.run(
        [str(bin_dir / "rank-load"), "--target", "127.0.0.1:1", "--surface", "next_track", "--method", "rank",
         "--wait-serving", "60s"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "--surface next_track is the music demo's and answers Recommend only: use --method recommend" \
        in done.stderr, done.stderr


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "1e300"])
def test_rank_load_refuses_a_scale_out_of_range(bin_dir, scale):
    done = subprocess.run(
        [str(bin_dir / "rank-load"), "--target", "127.0.0.1:1", "--surface", "next_track", f"--scale={scale}"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "--scale must be positive and at most 1000" in done.stderr, done.stderr
