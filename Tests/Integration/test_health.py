"""grpc.health.v1.Health through grpcio-health-checking's stubs: Check and Watch."""

import queue
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
WATCH_WAIT_S = 60


def status_name(value):
    return health_pb2.HealthCheckResponse.ServingStatus.Name(value)


@pytest.mark.parametrize("service", ["", "ranking.v1.RankingService"])
def test_check_reports_serving_once_loaded(channel, service):
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    assert reply.status == SERVING, status_name(reply.status)


def test_check_of_an_unknown_service_is_not_found(channel):
    with pytest.raises(grpc.RpcError) as raised:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="no.such.Service"),
                                                  timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def first_watch_update(channel, service):
    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=service),
                                                     timeout=WATCH_WAIT_S)
    try:
        return next(call).status
    finally:
        call.cancel()


@pytest.mark.parametrize("service", ["", "ranking.v1.RankingService"])
def test_watch_sends_the_current_status_first_and_stays_open(channel, service):
    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=service),
                                                     timeout=WATCH_WAIT_S)
    assert next(call).status == SERVING
    # The stream must stay open for later changes, not end after the first answer.
    assert call.is_active()
    call.cancel()
    with pytest.raises(grpc.RpcError) as raised:
        next(call)
    assert raised.value.code() == grpc.StatusCode.CANCELLED


def test_watch_of_an_unknown_service_answers_service_unknown_instead_of_failing(channel):
    assert first_watch_update(channel, "no.such.Service") == SERVICE_UNKNOWN


def test_watch_follows_a_fresh_server_from_start_up_to_serving(bin_dir, servers):
    """Watch on a server that may still be loading: every update is a real status and the last is SERVING."""
    server = servers.start_rankd(bin_dir, wait_serving=False)
    updates = queue.Queue()
    with grpc.insecure_channel(server.address) as fresh:
        call = health_pb2_grpc.HealthStub(fresh).Watch(
            health_pb2.HealthCheckRequest(service="ranking.v1.RankingService"), timeout=WATCH_WAIT_S,
            wait_for_ready=True)

        def read():
            try:
                for update in call:
                    updates.put(update.status)
                    if update.status == SERVING:
                        return
            except grpc.RpcError as error:
                updates.put(error)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        seen = []
        while not seen or seen[-1] != SERVING:
            item = updates.get(timeout=WATCH_WAIT_S)
            assert not isinstance(item, grpc.RpcError), f"Watch failed after {seen}: {item}"
            seen.append(item)
        call.cancel()
        reader.join(timeout=10)
    assert set(seen) <= {NOT_SERVING, SERVING}, [status_name(s) for s in seen]
    # Consecutive duplicates mean the server sent an update for a change that did not happen.
    assert all(a != b for a, b in zip(seen, seen[1:])), [status_name(s) for s in seen]
