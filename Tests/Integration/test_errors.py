"""Every way a call can be wrong, and the status the server must answer it with."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import h2raw

CALL_TIMEOUT_S = 30
USER = "u1"


def identity(raw):
    return raw


def raw_unary(channel, path, payload):
    """Calls path with payload as the message bytes, unserialised, so any bytes can be sent."""
    return channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)(
        payload, timeout=CALL_TIMEOUT_S)


def valid_rank_request(protos, candidate_count=2):
    """Ranks demo venues v1, v2, ...: a request the server accepts, of any size."""
    request = protos.ranking.RankRequest(user_id=USER, surface="discovery")
    for index in range(candidate_count):
        request.candidates.add(item_id=f"v{index + 1}")
    return request


@pytest.mark.parametrize("path", ["/no.such.Service/Rank", "/ranking.v1.RankingService/NoSuchMethod",
                                  "/ranking.v2.RankingService/Rank", "/grpc.health.v1.Health/NoSuchMethod"])
def test_unknown_service_or_method_is_unimplemented(channel, path):
    with pytest.raises(grpc.RpcError) as raised:
        raw_unary(channel, path, b"")
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED, raised.value.details()


def test_unknown_method_leaves_the_connection_usable(channel):
    with pytest.raises(grpc.RpcError):
        raw_unary(channel, "/no.such.Service/Method", b"")
    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", None])
def test_a_content_type_that_is_not_grpc_is_http_415(rankd, content_type):
    response = h2raw.unary("127.0.0.1", rankd.port, "/grpc.health.v1.Health/Check", h2raw.grpc_frame(b""),
                           content_type=content_type)
    assert response.status == 415, f"HTTP {response.status}, headers {response.headers}"


@pytest.mark.parametrize("content_type", ["application/grpc+proto", "application/grpc; charset=utf-8"])
def test_grpc_content_type_variants_are_accepted(rankd, content_type):
    response = h2raw.unary("127.0.0.1", rankd.port, "/grpc.health.v1.Health/Check", h2raw.grpc_frame(b""),
                           content_type=content_type)
    assert response.status == 200
    assert response.grpc("grpc-status") == "0", response.grpc("grpc-message")


def test_a_message_over_the_configured_receive_limit_is_resource_exhausted(bin_dir, servers, protos):
    server = servers.start_rankd(bin_dir, "--max-receive-message-size", "1024")
    request = valid_rank_request(protos, candidate_count=300)
    assert request.ByteSize() > 1024
    with grpc.insecure_channel(server.address) as small:
        stub = protos.ranking_grpc.RankingServiceStub(small)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Rank(request, timeout=CALL_TIMEOUT_S)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, raised.value.details()
        # Under the limit the same server answers normally.
        small_request = valid_rank_request(protos, candidate_count=2)
        assert small_request.ByteSize() < 1024
        stub.Rank(small_request, timeout=CALL_TIMEOUT_S)


def test_a_message_over_the_default_4_mib_limit_is_resource_exhausted(channel, protos):
    # The size check comes before parsing, so the content does not matter: one oversized id does it.
    request = protos.ranking.RankRequest(user_id=USER, surface="discovery")
    request.candidates.add(item_id="v" * (4 * 1024 * 1024 + 1))
    assert request.ByteSize() > 4 * 1024 * 1024
    with pytest.raises(grpc.RpcError) as raised:
        protos.ranking_grpc.RankingServiceStub(channel).Rank(request, timeout=CALL_TIMEOUT_S)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, raised.value.details()


@pytest.mark.parametrize("garbage", [b"\xff" * 16, b"\x0a\x05ab", b"\x0f"])
def test_a_body_that_does_not_parse_is_internal(channel, garbage):
    with pytest.raises(grpc.RpcError) as raised:
        raw_unary(channel, "/ranking.v1.RankingService/Rank", garbage)
    assert raised.value.code() == grpc.StatusCode.INTERNAL, raised.value.details()


def test_an_unsupported_grpc_encoding_is_unimplemented_and_lists_accepted_encodings(rankd):
    response = h2raw.unary("127.0.0.1", rankd.port, "/grpc.health.v1.Health/Check",
                           h2raw.grpc_frame(b"not really snappy", compressed=True),
                           headers=[("grpc-encoding", "snappy")])
    assert response.status == 200, response.headers
    assert response.grpc("grpc-status") == str(grpc.StatusCode.UNIMPLEMENTED.value[0]), \
        f"grpc-status {response.grpc('grpc-status')}: {response.grpc('grpc-message')}"
    accepted = response.grpc("grpc-accept-encoding")
    assert accepted is not None, f"no grpc-accept-encoding in {response.headers} / {response.trailers}"
    assert "gzip" in [name.strip() for name in accepted.split(",")], accepted


def test_a_compressed_flag_without_grpc_encoding_is_internal(rankd):
    response = h2raw.unary("127.0.0.1", rankd.port, "/grpc.health.v1.Health/Check",
                           h2raw.grpc_frame(b"", compressed=True))
    assert response.grpc("grpc-status") == str(grpc.StatusCode.INTERNAL.value[0]), \
        f"grpc-status {response.grpc('grpc-status')}: {response.grpc('grpc-message')}"
