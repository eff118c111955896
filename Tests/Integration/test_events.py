"""EventService over a real grpcio client: bad events refused one by one, retries deduplicated, and an order sent as an
event shown in Order again on the next Recommend."""

import time
import uuid

import grpc
import pytest

from calls import CALL_TIMEOUT_S, dinner_time_ms


def event(protos, kind="EVENT_KIND_CLICK", **fields):
    values = dict(event_id=str(uuid.uuid4()), user_id="itest-events", item_id="v1")
    values.update(fields)
    return protos.events.Event(kind=protos.events.EventKind.Value(kind), **values)


def track(events_stub, protos, events):
    return events_stub.Track(protos.events.TrackRequest(events=events), timeout=CALL_TIMEOUT_S)


def test_bad_events_are_refused_one_by_one_with_their_reasons(events_stub, protos):
    now_ms = int(time.time() * 1000)
    batch = [
        event(protos),
        event(protos, event_id=""),
        event(protos, user_id=""),
        event(protos, kind="EVENT_KIND_UNSPECIFIED"),
        event(protos, item_id=""),
        event(protos, timestamp_unix_ms=now_ms + 3_600_000),
        event(protos, timestamp_unix_ms=now_ms - 3 * 86_400_000),
        event(protos, value=float("nan")),
        event(protos, request_id="r1", position=-2),
        event(protos, event_id="x" * 200),
        event(protos, session_id="s" * 300),
        event(protos, kind="EVENT_KIND_ORDER", value=23.5, surface="discovery", request_id="r1", position=3),
    ]
    answer = track(events_stub, protos, batch)
    assert answer.accepted == 2, answer
    assert answer.duplicates == 0, answer
    by_reason = {entry.reason: entry.count for entry in answer.rejected}
    assert by_reason == {
        "missing_event_id": 1, "missing_user_id": 1, "unknown_kind": 1, "missing_item_id": 1,
        "timestamp_in_future": 1, "timestamp_too_old": 1, "value_not_finite": 1, "negative_position": 1,
        "event_id_too_long": 1, "id_too_long": 1,
    }, answer
    assert [r.index for r in answer.rejections] == list(range(1, 11)), answer
    assert all(r.message for r in answer.rejections), answer


def test_an_event_kind_newer_than_the_server_is_refused_not_failed(events_stub, protos):
    future_kind = protos.events.Event(event_id=str(uuid.uuid4()), user_id="itest-events", item_id="v1", kind=42)
    answer = track(events_stub, protos, [future_kind])
    assert [(r.reason, r.count) for r in answer.rejected] == [("unknown_kind", 1)], answer
    assert "42" in answer.rejections[0].message


def test_a_retried_batch_is_stored_once(events_stub, protos):
    batch = [event(protos, kind="EVENT_KIND_VIEW", item_id=f"v{i}") for i in range(1, 6)]
    first = track(events_stub, protos, batch)
    again = track(events_stub, protos, batch)
    assert (first.accepted, first.duplicates) == (5, 0), first
    assert (again.accepted, again.duplicates) == (0, 5), again


def test_an_empty_batch_is_answered_with_zero_counts(events_stub, protos):
    answer = track(events_stub, protos, [])
    assert (answer.accepted, answer.duplicates, len(answer.rejected)) == (0, 0, 0)


def test_a_batch_over_the_limit_is_invalid_argument(events_stub, protos):
    batch = [event(protos) for _ in range(1001)]
    with pytest.raises(grpc.RpcError) as raised:
        track(events_stub, protos, batch)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1000" in raised.value.details()


def test_a_stream_of_batches_is_answered_once_with_the_sum(events_stub, protos):
    def batches():
        yield protos.events.TrackRequest(events=[event(protos), event(protos, user_id="")])
        yield protos.events.TrackRequest(events=[event(protos), event(protos, item_id="")])
        yield protos.events.TrackRequest(events=[event(protos)])

    answer = events_stub.TrackStream(batches(), timeout=CALL_TIMEOUT_S)
    assert answer.accepted == 3, answer
    assert {r.reason: r.count for r in answer.rejected} == {"missing_user_id": 1, "missing_item_id": 1}
    # Indexes count over the whole stream.
    assert [r.index for r in answer.rejections] == [1, 3], answer


def test_an_order_sent_as_an_event_leads_order_again_on_the_next_recommend(ranking_stub, events_stub, protos):
    user = "u7"
    context = protos.ranking.Context(request_time_unix_ms=dinner_time_ms(), request_id="itest-events-order")

    def sections():
        request = protos.ranking.RecommendRequest(user_id=user, surface="discovery", context=context, limit=10)
        return {s.section: s for s in ranking_stub.Recommend(request, timeout=CALL_TIMEOUT_S)}

    before = sections()
    order_again = [item.item_id for item in before["order_again"].items] if "order_again" in before else []
    fresh = next((item.item_id for s in before.values() if s.section != "order_again" for item in s.items
                  if item.item_id not in order_again), None)
    assert fresh, f"no venue to order from in {list(before)}"
    answer = track(events_stub, protos, [event(protos, kind="EVENT_KIND_ORDER", user_id=user, item_id=fresh)])
    assert answer.accepted == 1, answer
    after = sections()
    assert "order_again" in after, f"no order_again section after ordering from {fresh}: {list(after)}"
    assert after["order_again"].items[0].item_id == fresh, after["order_again"]
    assert "features.online" not in after["order_again"].degraded_stages


def test_a_user_the_snapshot_does_not_know_gets_order_again_from_events_alone(ranking_stub, events_stub, protos):
    user = f"itest-new-{uuid.uuid4()}"
    context = protos.ranking.Context(request_time_unix_ms=dinner_time_ms(), request_id="itest-events-new",
                                     market="ber")
    request = protos.ranking.RecommendRequest(user_id=user, surface="discovery", context=context, limit=10)
    before = {s.section: s for s in ranking_stub.Recommend(request, timeout=CALL_TIMEOUT_S)}
    assert "order_again" not in before
    venue = next(item.item_id for s in before.values() for item in s.items)
    track(events_stub, protos, [event(protos, kind="EVENT_KIND_ORDER", user_id=user, item_id=venue)])
    after = {s.section: s for s in ranking_stub.Recommend(request, timeout=CALL_TIMEOUT_S)}
    assert [item.item_id for item in after["order_again"].items][:1] == [venue], after.get("order_again")
