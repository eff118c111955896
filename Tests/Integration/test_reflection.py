"""Server reflection, v1 and v1alpha: service listing and file descriptors a generic client can build stubs from."""

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha
from grpc_reflection.v1alpha import reflection_pb2_grpc as v1alpha_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

EXPECTED_SERVICES = {
    "ranking.v1.RankingService",
    "ranking.v1.EventService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}
CALL_TIMEOUT_S = 30


def reflect(channel, protos, version, requests):
    """Sends requests on one reflection stream and returns the answers, in order."""
    if version == "v1":
        stub = protos.reflection_v1_grpc.ServerReflectionStub(channel)
        messages = protos.reflection_v1
    else:
        stub = v1alpha_grpc.ServerReflectionStub(channel)
        messages = v1alpha
    built = [messages.ServerReflectionRequest(**request) for request in requests]
    return list(stub.ServerReflectionInfo(iter(built), timeout=CALL_TIMEOUT_S))


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_list_services_names_every_service(channel, protos, version):
    (answer,) = reflect(channel, protos, version, [{"list_services": ""}])
    assert answer.WhichOneof("message_response") == "list_services_response", answer
    names = {service.name for service in answer.list_services_response.service}
    assert EXPECTED_SERVICES <= names, f"missing {EXPECTED_SERVICES - names}"


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_file_containing_symbol_returns_the_ranking_contract(channel, protos, version):
    (answer,) = reflect(channel, protos, version, [{"file_containing_symbol": "ranking.v1.RankingService"}])
    assert answer.WhichOneof("message_response") == "file_descriptor_response", answer
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in answer.file_descriptor_response.file_descriptor_proto]
    by_name = {file.name: file for file in files}
    assert "ranking/v1/ranking.proto" in by_name, list(by_name)
    served = by_name["ranking/v1/ranking.proto"]
    assert served.package == "ranking.v1"

    # What the server describes must be the contract the tests compiled from proto/.
    local = descriptor_pb2.FileDescriptorProto()
    protos.ranking.DESCRIPTOR.CopyToProto(local)
    assert {m.name: [(f.name, f.number, f.type) for f in m.field] for m in served.message_type} == \
        {m.name: [(f.name, f.number, f.type) for f in m.field] for m in local.message_type}
    (service,) = served.service
    methods = {method.name: method for method in service.method}
    assert set(methods) == {"Rank", "Recommend"}
    assert methods["Recommend"].server_streaming and not methods["Recommend"].client_streaming
    assert not methods["Rank"].server_streaming and not methods["Rank"].client_streaming
    assert methods["Rank"].input_type == ".ranking.v1.RankRequest"


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_one_stream_answers_several_requests_in_order(channel, protos, version):
    answers = reflect(channel, protos, version, [
        {"list_services": ""},
        {"file_containing_symbol": "grpc.health.v1.Health"},
        {"file_by_filename": "ranking/v1/ranking.proto"},
    ])
    assert [a.WhichOneof("message_response") for a in answers] == \
        ["list_services_response", "file_descriptor_response", "file_descriptor_response"]
    assert answers[1].original_request.file_containing_symbol == "grpc.health.v1.Health"


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
@pytest.mark.parametrize("request_fields", [{"file_containing_symbol": "no.such.Symbol"},
                                            {"file_by_filename": "no/such/file.proto"}])
def test_unknown_symbol_or_file_is_a_not_found_error_response(channel, protos, version, request_fields):
    (answer,) = reflect(channel, protos, version, [request_fields])
    assert answer.WhichOneof("message_response") == "error_response", answer
    assert answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_descriptor_database_builds_a_usable_pool_for_every_service(channel):
    """grpcio-reflection's ProtoReflectionDescriptorDatabase (v1alpha) resolves services, methods and messages."""
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert EXPECTED_SERVICES <= services
    pool = descriptor_pool.DescriptorPool(database)
    ranking = pool.FindServiceByName("ranking.v1.RankingService")
    assert ranking.FindMethodByName("Recommend").output_type.full_name == "ranking.v1.RecommendResponse"
    assert pool.FindMessageTypeByName("ranking.v1.RankRequest").fields_by_name["limit"].number == 5
    health = pool.FindServiceByName("grpc.health.v1.Health")
    assert {"Check", "Watch"} <= {method.name for method in health.methods}
    for name in services:
        assert pool.FindServiceByName(name).full_name == name
