"""The exposure and event logs of a real rankd, read back with the Python protobuf classes of
proto/ranking/exposure/v1/exposure.proto: one record per answer, holding exactly what the answer showed; one per stored
event; a request id made for a call that sent none; a full queue counted, not waited for; the Redis Stream copy."""

import json
import pathlib
import signal
import subprocess
import uuid

import grpc
import pytest

from calls import CALL_TIMEOUT_S, dinner_time_ms
from conftest import free_port
from servers import RedisProcess
from test_operations import admin_get


def read_delimited(path, message_type):
    """Length-delimited records: a varint size, then the message."""
    data = pathlib.Path(path).read_bytes()
    records, at = [], 0
    while at < len(data):
        size, shift = 0, 0
        while True:
            byte = data[at]
            at += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        message = message_type()
        message.ParseFromString(data[at:at + size])
        records.append(message)
        at += size
    return records


def read_log(folder, prefix, message_type):
    records = []
    for path in sorted(pathlib.Path(folder).glob(f"{prefix}-*.pb")):
        records += read_delimited(path, message_type)
    return records


def redis_integer(port, *args):
    """One command's integer reply, over RESP."""
    import socket
    command = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(command.encode())
        reply = connection.recv(64).decode()
    assert reply.startswith(":"), reply
    return int(reply[1:].strip())


def stop(server):
    """SIGTERM, and wait: rankd writes what its logs hold before it exits."""
    server.send_signal(signal.SIGTERM)
    assert server.wait_exit() == 0, server.log_tail()


def context(protos, request_id="", session_id=""):
    return protos.ranking.Context(request_time_unix_ms=dinner_time_ms(), request_id=request_id, session_id=session_id)


def test_every_answer_and_stored_event_is_logged_as_it_was_sent(servers, bin_dir, protos, tmp_path):
    folder = tmp_path / "logs"
    server = servers.start_rankd(bin_dir, "--exposure-log", str(folder), "--event-log", str(folder))
    channel = grpc.insecure_channel(server.address)
    ranking = protos.ranking_grpc.RankingServiceStub(channel)
    events = protos.events_grpc.EventServiceStub(channel)

    sections = list(ranking.Recommend(protos.ranking.RecommendRequest(
        user_id="u1", surface="discovery", context=context(protos, "req-recommend", "s1"), limit=8),
        timeout=CALL_TIMEOUT_S))
    ranked, call = ranking.Rank.with_call(protos.ranking.RankRequest(
        user_id="u2", surface="discovery", context=context(protos),
        candidates=[protos.ranking.Candidate(item_id=f"v{i}") for i in range(1, 30)], limit=5),
        timeout=CALL_TIMEOUT_S)
    made_id = dict(call.initial_metadata()).get("rankd-request-id", "")
    assert made_id.startswith("rankd-") and len(made_id) == 22, call.initial_metadata()
    # A refused call shows nothing and logs nothing.
    with pytest.raises(grpc.RpcError):
        ranking.Rank(protos.ranking.RankRequest(user_id="", surface="discovery"), timeout=CALL_TIMEOUT_S)

    kind = protos.events.EventKind.Value
    first = sections[0].items[0].item_id
    click = protos.events.Event(event_id=str(uuid.uuid4()), user_id="u1", session_id="s1", item_id=first,
                                kind=kind("EVENT_KIND_CLICK"), surface="discovery", request_id="req-recommend",
                                position=0)
    refused = protos.events.Event(event_id="", user_id="u1", item_id=first, kind=kind("EVENT_KIND_CLICK"))
    answer = events.Track(protos.events.TrackRequest(events=[click, refused]), timeout=CALL_TIMEOUT_S)
    assert answer.accepted == 1
    assert events.Track(protos.events.TrackRequest(events=[click]), timeout=CALL_TIMEOUT_S).duplicates == 1
    channel.close()
    stop(server)

    exposures = read_log(folder, "exposures", protos.exposure.Exposure)
    assert [e.method for e in exposures] == ["Recommend", "Rank"]
    recommend, rank = exposures
    assert (recommend.request_id, recommend.user_id, recommend.session_id, recommend.surface) == (
        "req-recommend", "u1", "s1", "discovery")
    shown = [(s.section, item) for s in sections for item in s.items]
    assert [i.item_id for i in recommend.items] == [item.item_id for _, item in shown]
    assert [i.position for i in recommend.items] == list(range(len(shown)))
    assert [i.section for i in recommend.items] == [key for key, _ in shown]
    assert [i.model_score for i in recommend.items] == [item.model_score for _, item in shown]
    assert [i.score for i in recommend.items] == [item.score for _, item in shown]
    assert all(i.sources for i in recommend.items)
    assert recommend.model_version == sections[0].model_version
    assert recommend.latency_micros > 0 and recommend.candidate_count > 0
    # The embedded configuration's discovery experiment, as a layer of its own.
    assert [(a.experiment, a.variant, a.planned_share) for a in recommend.assignments] == [
        ("discovery-model-xgb", sections[0].variant, 0.5)]

    assert rank.request_id == made_id
    assert [i.item_id for i in rank.items] == [item.item_id for item in ranked.items]
    assert all(i.sources == ["caller"] for i in rank.items)
    assert rank.request_time_unix_ms == dinner_time_ms()

    logged = read_log(folder, "events", protos.exposure.LoggedEvent)
    assert len(logged) == 1, logged
    assert logged[0].event.event_id == click.event_id
    assert logged[0].event.request_id == "req-recommend"
    assert logged[0].event.timestamp_unix_ms > 0 and logged[0].received_unix_ms > 0
    assert "exposure log: 2 record(s) written, 0 dropped" in server.log_text()


def test_json_lines_name_the_proto_fields(servers, bin_dir, protos, tmp_path):
    folder = tmp_path / "jsonl"
    server = servers.start_rankd(bin_dir, "--exposure-log", str(folder), "--log-records-as", "jsonl")
    with grpc.insecure_channel(server.address) as channel:
        ranking = protos.ranking_grpc.RankingServiceStub(channel)
        list(ranking.Recommend(protos.ranking.RecommendRequest(
            user_id="u3", surface="discovery", context=context(protos, "req-json"), limit=3), timeout=CALL_TIMEOUT_S))
    stop(server)
    lines = [json.loads(line) for path in sorted(folder.glob("exposures-*.jsonl"))
             for line in path.read_text().splitlines()]
    assert len(lines) == 1
    record = lines[0]
    assert record["request_id"] == "req-json" and record["method"] == "Recommend"
    assert {"item_id", "position", "score", "model_score", "sources", "explored", "pinned", "section"} <= set(
        record["items"][0])


def test_a_full_queue_drops_and_counts_and_never_fails_a_call(servers, bin_dir, protos, tmp_path):
    folder = tmp_path / "tiny"
    # A patient queue: the burst is for the log's queue, not rankd's admission control.
    server = servers.start_rankd(bin_dir, "--exposure-log", str(folder), "--log-queue-capacity", "1",
                                 "--queue-budget-ms", "60000")
    answered = 0
    with grpc.insecure_channel(server.address) as channel:
        ranking = protos.ranking_grpc.RankingServiceStub(channel)
        futures = [ranking.Rank.future(protos.ranking.RankRequest(
            user_id=f"u{n}", surface="discovery", context=context(protos, f"burst-{n}"),
            candidates=[protos.ranking.Candidate(item_id="v1")]), timeout=CALL_TIMEOUT_S) for n in range(200)]
        for future in futures:
            future.result()
            answered += 1
        metrics = admin_get(server, "/metrics")[1]
    counts = {}
    for line in metrics.splitlines():
        if line.startswith('rankd_log_records_total{') and 'log="exposure"' in line:
            outcome = line.split('outcome="')[1].split('"')[0]
            counts[outcome] = float(line.rsplit(" ", 1)[1])
    stop(server)
    written = len(read_log(folder, "exposures", protos.exposure.Exposure))
    # Every answer is either written or counted as dropped; none is lost silently.
    assert answered == 200
    assert written + counts.get("dropped", 0) == 200, (written, counts)
    assert "dropped (queue full)" in server.log_text()


def test_a_redis_online_store_gets_a_stream_of_each_log(servers, bin_dir, protos, tmp_path):
    redis = RedisProcess(tmp_path, free_port()).start()
    try:
        folder = tmp_path / "withredis"
        server = servers.start_rankd(bin_dir, "--online-store", redis.url, "--exposure-log", str(folder),
                                     "--event-log", str(folder))
        with grpc.insecure_channel(server.address) as channel:
            ranking = protos.ranking_grpc.RankingServiceStub(channel)
            events = protos.events_grpc.EventServiceStub(channel)
            for n in range(3):
                list(ranking.Recommend(protos.ranking.RecommendRequest(
                    user_id="u1", surface="discovery", context=context(protos, f"stream-{n}"), limit=3),
                    timeout=CALL_TIMEOUT_S))
            events.Track(protos.events.TrackRequest(events=[protos.events.Event(
                event_id=str(uuid.uuid4()), user_id="u1", item_id="v1",
                kind=protos.events.EventKind.Value("EVENT_KIND_VIEW"))]), timeout=CALL_TIMEOUT_S)
        stop(server)
        assert redis_integer(redis.port, "XLEN", "rankd:exposures") == 3
        assert redis_integer(redis.port, "XLEN", "rankd:events") == 1
        assert len(read_log(folder, "exposures", protos.exposure.Exposure)) == 3
    finally:
        redis.stop()


def test_a_log_folder_that_cannot_be_used_stops_rankd_with_the_reason(bin_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for flag in ("--exposure-log", "--event-log"):
        done = subprocess.run([str(bin_dir / "rankd"), "--port", "0", "--admin-port", "0", flag, str(blocker)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, done.stdout
        assert f"{flag} {blocker}: {blocker} is a file, not a folder" in done.stderr, done.stderr
