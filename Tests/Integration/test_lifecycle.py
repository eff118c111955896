"""Deadlines, cancellation and graceful shutdown, driven by the `rankd-test-delay-ms` hook (--test-hooks).

The hook makes a handler wait cooperatively; a handler that stops early because of a deadline or a cancel
logs `deadline exceeded` or `cancelled` with the method path, which is how these tests see the server side.
"""

import signal
import time

import grpc
import pytest

import h2raw
from calls import CALL_TIMEOUT_S, known_item_ids, rank_request, recommend

RANK = "/ranking.v1.RankingService/Rank"
RECOMMEND = "/ranking.v1.RankingService/Recommend"
# Far longer than any wait below: a log line about stopping early can only come from stopping early.
LONG_DELAY_MS = 60_000
# How long to let a just-sent call reach its handler before cancelling it; retried longer if the cancel won
# the race and the handler never ran (then the server rightly has nothing to log).
SETTLE_WAITS_S = (0.2, 1.0, 3.0)


def delay(ms):
    return (("rankd-test-delay-ms", str(ms)),)


def stopped_line(path, *reasons):
    return lambda line: path in line and any(reason in line.lower() for reason in reasons)


def assert_still_serving(ranking_stub, protos):
    assert recommend(ranking_stub, protos, limit=1), "server stopped answering"


def test_client_deadline_gives_deadline_exceeded_and_the_handler_stops(rankd, ranking_stub, protos):
    candidates = known_item_ids(ranking_stub, protos)
    offset = rankd.log_size()
    with pytest.raises(grpc.RpcError) as raised:
        ranking_stub.Rank(rank_request(protos, candidates), metadata=delay(LONG_DELAY_MS), timeout=0.5)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # grpcio both sends grpc-timeout and resets the stream when its own timer fires: either may reach the
    # handler first, and both must stop it.
    line = rankd.wait_for_log_line(stopped_line(RANK, "deadline exceeded", "cancelled"), start_offset=offset)
    assert line, f"no log line saying {RANK} stopped early"
    assert_still_serving(ranking_stub, protos)


def test_server_enforces_grpc_timeout_itself(rankd, ranking_stub, protos):
    """A client that never gives up: the server must end the call with DEADLINE_EXCEEDED from grpc-timeout."""
    candidates = known_item_ids(ranking_stub, protos)
    offset = rankd.log_size()
    response = h2raw.unary("127.0.0.1", rankd.port, RANK,
                           h2raw.grpc_frame(rank_request(protos, candidates).SerializeToString()),
                           headers=[("grpc-timeout", "300m"), ("rankd-test-delay-ms", str(LONG_DELAY_MS))])
    assert response.reset_code is None, f"stream reset ({response.reset_code}) instead of a status"
    assert response.grpc("grpc-status") == str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0]), \
        f"grpc-status {response.grpc('grpc-status')}: {response.grpc('grpc-message')}"
    line = rankd.wait_for_log_line(stopped_line(RANK, "deadline exceeded"), start_offset=offset)
    assert line, f"no log line saying {RANK} stopped at its deadline"


def test_recommend_deadline_gives_deadline_exceeded(rankd, ranking_stub, protos):
    request = protos.ranking.RecommendRequest(user_id="u1", surface="discovery")
    offset = rankd.log_size()
    with pytest.raises(grpc.RpcError) as raised:
        list(ranking_stub.Recommend(request, metadata=delay(LONG_DELAY_MS), timeout=0.5))
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert rankd.wait_for_log_line(stopped_line(RECOMMEND, "deadline exceeded", "cancelled"), start_offset=offset)


@pytest.mark.parametrize("method", ["Rank", "Recommend"])
def test_cancelling_a_call_in_flight_stops_the_handler_and_the_server_keeps_serving(rankd, ranking_stub, protos,
                                                                                    method):
    candidates = known_item_ids(ranking_stub, protos)
    path = RANK if method == "Rank" else RECOMMEND
    line = None
    for settle in SETTLE_WAITS_S:
        offset = rankd.log_size()
        if method == "Rank":
            call = ranking_stub.Rank.future(rank_request(protos, candidates), metadata=delay(LONG_DELAY_MS),
                                            timeout=CALL_TIMEOUT_S * 4)
        else:
            request = protos.ranking.RecommendRequest(user_id="u1", surface="discovery")
            call = ranking_stub.Recommend(request, metadata=delay(LONG_DELAY_MS), timeout=CALL_TIMEOUT_S * 4)
        time.sleep(settle)
        assert call.cancel(), "the call finished before it could be cancelled"
        assert call.code() == grpc.StatusCode.CANCELLED
        line = rankd.wait_for_log_line(stopped_line(path, "cancelled"), start_offset=offset, timeout_s=10)
        if line:
            break
    assert line, f"no log line saying {path} was cancelled"
    assert_still_serving(ranking_stub, protos)


def test_rst_stream_after_the_server_has_the_request_is_logged_as_cancelled(rankd, ranking_stub, protos):
    candidates = known_item_ids(ranking_stub, protos)
    body = h2raw.grpc_frame(rank_request(protos, candidates).SerializeToString())
    line = None
    for settle in SETTLE_WAITS_S:
        offset = rankd.log_size()
        with h2raw.Connection("127.0.0.1", rankd.port) as connection:
            stream_id = connection.send_request(RANK, body, headers=[("rankd-test-delay-ms", str(LONG_DELAY_MS))])
            connection.ping_round_trip()
            time.sleep(settle)
            connection.reset(stream_id)
            # The connection must stay healthy after a reset stream: a second call on it completes.
            second = connection.send_request(RANK, body)
            assert connection.wait(second).grpc("grpc-status") == "0"
        line = rankd.wait_for_log_line(stopped_line(RANK, "cancelled"), start_offset=offset, timeout_s=10)
        if line:
            break
    assert line, f"no log line saying {RANK} was cancelled"


def test_sigterm_lets_an_in_flight_call_finish_then_exits_zero(bin_dir, servers, protos):
    server = servers.start_rankd(bin_dir, "--test-hooks")
    with grpc.insecure_channel(server.address) as ch:
        stub = protos.ranking_grpc.RankingServiceStub(ch)
        candidates = known_item_ids(stub, protos)
        body = h2raw.grpc_frame(rank_request(protos, candidates).SerializeToString())
        with h2raw.Connection("127.0.0.1", server.port) as connection:
            stream_id = connection.send_request(RANK, body, headers=[("rankd-test-delay-ms", "2000")])
            # After the PING ACK the server has read the request, so the stream is in flight when SIGTERM lands.
            connection.ping_round_trip()
            server.send_signal(signal.SIGTERM)
            response = connection.wait(stream_id, timeout_s=CALL_TIMEOUT_S)
            assert response.reset_code is None, f"in-flight stream was reset ({response.reset_code})"
            assert response.grpc("grpc-status") == "0", \
                f"grpc-status {response.grpc('grpc-status')}: {response.grpc('grpc-message')}"
            (message,) = h2raw.decode_grpc_frames(response.body, response.headers.get("grpc-encoding"))
            reply = protos.ranking.RankResponse.FromString(message)
            assert reply.items
            assert connection.wait_goaway(CALL_TIMEOUT_S) is not None, "no GOAWAY before the connection closed"
    assert server.wait_exit(CALL_TIMEOUT_S) == 0, f"exit code {server.proc.returncode}"


def test_sigterm_with_a_grpcio_call_in_flight_completes_it_ok(bin_dir, servers, protos):
    server = servers.start_rankd(bin_dir, "--test-hooks")
    with grpc.insecure_channel(server.address) as ch:
        stub = protos.ranking_grpc.RankingServiceStub(ch)
        candidates = known_item_ids(stub, protos)
        call = stub.Rank.future(rank_request(protos, candidates), metadata=delay(3000), timeout=CALL_TIMEOUT_S)
        # The channel is already connected, so the request is on the wire at once; this leaves it time to
        # reach the handler before the signal.
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        reply = call.result(timeout=CALL_TIMEOUT_S)
        assert reply.items
    assert server.wait_exit(CALL_TIMEOUT_S) == 0, f"exit code {server.proc.returncode}"


def test_sigint_also_exits_zero(bin_dir, servers):
    server = servers.start_rankd(bin_dir)
    server.send_signal(signal.SIGINT)
    assert server.wait_exit(CALL_TIMEOUT_S) == 0, f"exit code {server.proc.returncode}"


def test_sighup_reloads_the_model_file_and_refuses_one_that_misses_its_golden_file(bin_dir, servers, protos, tmp_path):
    import json
    import pathlib
    import shutil

    resources = pathlib.Path(__file__).resolve().parents[2] / "Sources" / "Ranking" / "Resources"
    model = tmp_path / "discovery-xgb.json"
    golden = tmp_path / "discovery-xgb.golden.json"
    shutil.copy(resources / "discovery-xgb.json", model)
    shutil.copy(resources / "discovery-xgb.golden.json", golden)
    server = servers.start_rankd(bin_dir, "--model", str(model))

    # A golden file the model no longer reproduces: the reload is refused and the old model keeps serving.
    tampered = json.loads(golden.read_text())
    tampered["raw_scores"][0] += 0.5
    golden.write_text(json.dumps(tampered))
    offset = server.log_size()
    server.send_signal(signal.SIGHUP)
    refused = server.wait_for_log_line(lambda line: "SIGHUP: refused" in line, start_offset=offset)
    assert refused is not None and "golden" in refused, server.log_tail()
    with grpc.insecure_channel(server.address) as ch:
        assert_still_serving(protos.ranking_grpc.RankingServiceStub(ch), protos)

    # The right golden file again: the reload goes through.
    shutil.copy(resources / "discovery-xgb.golden.json", golden)
    offset = server.log_size()
    server.send_signal(signal.SIGHUP)
    assert server.wait_for_log_line(lambda line: "SIGHUP: now serving" in line, start_offset=offset), server.log_tail()
    server.send_signal(signal.SIGTERM)
    assert server.wait_exit(CALL_TIMEOUT_S) == 0
