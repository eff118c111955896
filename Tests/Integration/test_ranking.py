"""RankingService over a real grpcio client: Rank, Recommend streaming, arguments, metadata, gzip."""

import base64
import gzip

import grpc
import pytest

import h2raw
from calls import CALL_TIMEOUT_S, SURFACE, USER, context, known_item_ids, rank_request, recommend


def assert_ordered_by_score(items):
    scores = [item.score for item in items]
    assert scores == sorted(scores, reverse=True), f"items not ordered by score: {scores}"


def test_recommend_streams_sections_of_items_ordered_by_score(ranking_stub, protos):
    sections = recommend(ranking_stub, protos, limit=5)
    assert sections, "Recommend ended without sending a section"
    keys = [section.section for section in sections]
    assert all(keys), f"a section has no key: {keys}"
    assert len(set(keys)) == len(keys), f"a section was sent twice: {keys}"
    assert any(section.items for section in sections), "every section is empty"
    for section in sections:
        assert len(section.items) <= 5, f"section {section.section} has {len(section.items)} items, limit 5"
        assert_ordered_by_score(section.items)
        assert section.model_version, f"section {section.section} names no model_version"


def test_recommend_with_explain_returns_features_sources_and_timings(ranking_stub, protos):
    sections = recommend(ranking_stub, protos, limit=3, explain=True)
    items = [item for section in sections for item in section.items]
    assert items, "no items to explain"
    for item in items:
        assert item.features, f"{item.item_id} has no explained features"
        assert item.sources, f"{item.item_id} names no candidate source"
    assert any(section.timings for section in sections), "explain returned no stage timings"


def test_recommend_never_returns_excluded_items(ranking_stub, protos):
    excluded = known_item_ids(ranking_stub, protos)[:2]
    sections = recommend(ranking_stub, protos, exclude_item_ids=excluded)
    returned = {item.item_id for section in sections for item in section.items}
    assert not returned & set(excluded), f"excluded items came back: {returned & set(excluded)}"


def test_rank_returns_only_candidates_ordered_by_score_within_limit(ranking_stub, protos):
    candidates = known_item_ids(ranking_stub, protos, at_least=3)
    reply = ranking_stub.Rank(rank_request(protos, candidates, limit=2), timeout=CALL_TIMEOUT_S)
    assert 1 <= len(reply.items) <= 2, f"limit 2 gave {len(reply.items)} items"
    assert {item.item_id for item in reply.items} <= set(candidates)
    assert_ordered_by_score(reply.items)
    assert reply.model_version


def test_rank_never_returns_excluded_candidates(ranking_stub, protos):
    candidates = known_item_ids(ranking_stub, protos, at_least=3)
    reply = ranking_stub.Rank(rank_request(protos, candidates, exclude_item_ids=candidates[:1]),
                              timeout=CALL_TIMEOUT_S)
    assert candidates[0] not in {item.item_id for item in reply.items}
    assert reply.items, "ranking the remaining candidates returned nothing"
    dropped = {entry.reason: entry.count for entry in reply.dropped}
    assert dropped.get("excluded") == 1, f"the excluded candidate is not counted: {dropped}"
    # Known candidates that are not returned are accounted for, with a reason, or wait on the next page.
    accounted = len(reply.items) + sum(dropped.values())
    assert accounted == len(set(candidates)) or (reply.next_page_token and accounted < len(set(candidates))), \
        (len(reply.items), dropped, len(set(candidates)))


def test_answers_carry_the_catalogs_display_values_when_asked(ranking_stub, protos):
    """With include_display each ranked entry names itself with the schema's display attributes, in schema order;
    without it (services) none are sent."""
    plain = [item for section in recommend(ranking_stub, protos, limit=3) for item in section.items]
    assert plain and not any(item.display for item in plain)
    sections = recommend(ranking_stub, protos, limit=3, include_display=True)
    items = [item for section in sections for item in section.items]
    assert items
    for item in items:
        assert [field.name for field in item.display] == ["name", "cuisine", "price_level", "rating"], item
        assert item.display[0].value.endswith(" " + item.item_id)


def test_rank_with_explain_returns_the_feature_vector(ranking_stub, protos):
    candidates = known_item_ids(ranking_stub, protos)
    reply = ranking_stub.Rank(rank_request(protos, candidates, explain=True), timeout=CALL_TIMEOUT_S)
    assert reply.items
    assert all(item.features for item in reply.items), "an explained item has no features"


@pytest.mark.parametrize("method", ["Rank", "Recommend"])
def test_negative_limit_is_invalid_argument_naming_limit(ranking_stub, protos, method):
    with pytest.raises(grpc.RpcError) as raised:
        if method == "Rank":
            ranking_stub.Rank(rank_request(protos, ["a", "b"], limit=-1), timeout=CALL_TIMEOUT_S)
        else:
            recommend(ranking_stub, protos, limit=-1)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit" in raised.value.details().lower(), f"message does not say what is wrong: {raised.value.details()!r}"


@pytest.mark.parametrize("method", ["Rank", "Recommend"])
def test_empty_user_id_is_invalid_argument_naming_the_user(ranking_stub, protos, method):
    with pytest.raises(grpc.RpcError) as raised:
        if method == "Rank":
            ranking_stub.Rank(rank_request(protos, ["a"], user_id=""), timeout=CALL_TIMEOUT_S)
        else:
            recommend(ranking_stub, protos, user_id="")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "user" in raised.value.details().lower(), f"message does not say what is wrong: {raised.value.details()!r}"


ECHO_METADATA = (
    ("x-echo-plain", "hello rankd"),
    ("x-echo-data-bin", bytes([0, 1, 2, 0xFE, 0xFF, 10, 13])),
    ("x-echo-trailer-plain", "bye"),
    ("x-echo-trailer-data-bin", bytes(range(256))),
    ("x-not-echoed", "kept to myself"),
)


def assert_echoed(initial, trailing):
    initial = dict(initial)
    trailing = dict(trailing)
    assert initial.get("x-echo-plain") == "hello rankd", f"initial metadata: {initial}"
    assert initial.get("x-echo-data-bin") == bytes([0, 1, 2, 0xFE, 0xFF, 10, 13]), f"initial metadata: {initial}"
    assert trailing.get("x-echo-trailer-plain") == "bye", f"trailers: {trailing}"
    assert trailing.get("x-echo-trailer-data-bin") == bytes(range(256)), f"trailers: {trailing}"
    assert "x-not-echoed" not in initial and "x-not-echoed" not in trailing
    assert "x-echo-trailer-plain" not in initial, "trailer echo was sent in the initial metadata"
    assert "x-echo-plain" not in trailing, "initial echo was sent in the trailers"


def test_unary_echoes_x_echo_metadata_in_headers_and_trailers_including_binary(ranking_stub, protos):
    candidates = known_item_ids(ranking_stub, protos)
    _, call = ranking_stub.Rank.with_call(rank_request(protos, candidates), metadata=ECHO_METADATA,
                                          timeout=CALL_TIMEOUT_S)
    assert_echoed(call.initial_metadata(), call.trailing_metadata())


def test_streaming_echoes_x_echo_metadata_in_headers_and_trailers_including_binary(ranking_stub, protos):
    request = protos.ranking.RecommendRequest(user_id=USER, surface=SURFACE, context=context(protos))
    call = ranking_stub.Recommend(request, metadata=ECHO_METADATA, timeout=CALL_TIMEOUT_S)
    initial = call.initial_metadata()
    assert list(call), "no sections"
    assert_echoed(initial, call.trailing_metadata())


def test_gzip_compressed_requests_get_the_same_answers(rankd, ranking_stub, protos):
    candidates = known_item_ids(ranking_stub, protos)
    plain = ranking_stub.Rank(rank_request(protos, candidates), timeout=CALL_TIMEOUT_S)
    with grpc.insecure_channel(rankd.address, compression=grpc.Compression.Gzip) as gzip_channel:
        stub = protos.ranking_grpc.RankingServiceStub(gzip_channel)
        compressed = stub.Rank(rank_request(protos, candidates), timeout=CALL_TIMEOUT_S)
        assert [item.item_id for item in compressed.items] == [item.item_id for item in plain.items]
        request = protos.ranking.RecommendRequest(user_id=USER, surface=SURFACE, context=context(protos))
        sections = list(stub.Recommend(request, timeout=CALL_TIMEOUT_S, compression=grpc.Compression.Gzip))
        assert sections and any(section.items for section in sections)


def test_gzip_request_gets_a_gzip_compressed_response(rankd, ranking_stub, protos):
    """Both directions: the server answers a client that sent and accepts gzip with gzip-compressed messages."""
    candidates = known_item_ids(ranking_stub, protos)
    message = rank_request(protos, candidates).SerializeToString()
    response = h2raw.unary("127.0.0.1", rankd.port, "/ranking.v1.RankingService/Rank",
                           h2raw.grpc_frame(gzip.compress(message), compressed=True),
                           headers=[("grpc-encoding", "gzip"), ("grpc-accept-encoding", "gzip")])
    assert response.status == 200
    assert response.grpc("grpc-status") == "0", f"grpc-status {response.grpc('grpc-status')}: " \
                                                f"{response.grpc('grpc-message')}"
    assert response.headers.get("grpc-encoding") == "gzip", f"response headers: {response.headers}"
    frames = h2raw.parse_grpc_frames(response.body)
    assert len(frames) == 1 and frames[0][0], "the response message is not flagged compressed"
    reply = protos.ranking.RankResponse.FromString(gzip.decompress(frames[0][1]))
    assert {item.item_id for item in reply.items} <= set(candidates) and reply.items


def test_binary_metadata_values_are_base64_on_the_wire(rankd, ranking_stub, protos):
    """-bin values travel base64-encoded; the echo must decode and re-encode them, not pass raw bytes."""
    candidates = known_item_ids(ranking_stub, protos)
    value = bytes([0, 255, 128, 7])
    encoded = base64.b64encode(value).decode().rstrip("=")
    response = h2raw.unary("127.0.0.1", rankd.port, "/ranking.v1.RankingService/Rank",
                           h2raw.grpc_frame(rank_request(protos, candidates).SerializeToString()),
                           headers=[("x-echo-raw-bin", encoded)])
    assert response.grpc("grpc-status") == "0"
    echoed = response.headers.get("x-echo-raw-bin")
    assert echoed is not None, f"no echo in {response.headers}"
    assert base64.b64decode(echoed + "=" * (-len(echoed) % 4)) == value


def test_a_cold_start_user_still_gets_recommendations(ranking_stub, protos):
    request = protos.ranking.RecommendRequest(user_id="itest-never-seen-user", surface=SURFACE,
                                              context=context(protos))
    sections = list(ranking_stub.Recommend(request, timeout=CALL_TIMEOUT_S))
    assert any(section.items for section in sections), "an unknown user got nothing"


def test_an_unknown_surface_is_not_found_and_names_the_known_ones(ranking_stub, protos):
    with pytest.raises(grpc.RpcError) as raised:
        recommend(ranking_stub, protos, surface="no_such_surface")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "discovery" in raised.value.details(), raised.value.details()


def test_a_limit_above_the_surface_maximum_is_invalid_argument(ranking_stub, protos):
    with pytest.raises(grpc.RpcError) as raised:
        recommend(ranking_stub, protos, limit=1_000_000)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit" in raised.value.details().lower(), raised.value.details()


def test_venue_items_without_a_venue_is_invalid_argument_naming_venue_id(ranking_stub, protos):
    with pytest.raises(grpc.RpcError) as raised:
        recommend(ranking_stub, protos, surface="venue_items")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "venue_id" in raised.value.details(), raised.value.details()


def test_venue_items_recommends_items_of_that_venue(ranking_stub, protos):
    venue = known_item_ids(ranking_stub, protos)[0]
    sections = recommend(ranking_stub, protos, surface="venue_items", venue_id=venue)
    items = [item for section in sections for item in section.items]
    assert items, f"venue {venue} has nothing to recommend"
    assert {item.venue_id for item in items} == {venue}, f"items from other venues: {items[:5]}"
    assert venue not in {item.item_id for item in items}, "the venue itself came back as an item"
