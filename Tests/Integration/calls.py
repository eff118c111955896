"""Building ranking requests the way the tests need them, shared by the test modules."""

CALL_TIMEOUT_S = 30
# A user of the generated demo marketplace, so the history-based sources (order again, co-visits) take part.
USER = "u1"
SURFACE = "discovery"
# A fixed request time and id keep exploration reproducible between the calls a test compares.
REQUEST_TIME_MS = 1_735_732_800_000


def context(protos, request_id="itest-request"):
    return protos.ranking.Context(request_time_unix_ms=REQUEST_TIME_MS, request_id=request_id, device="web",
                                  locale="en-US")


def recommend(ranking_stub, protos, **fields):
    request = protos.ranking.RecommendRequest(user_id=USER, surface=SURFACE, context=context(protos))
    for name, value in fields.items():
        if isinstance(value, (list, tuple)):
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    return list(ranking_stub.Recommend(request, timeout=CALL_TIMEOUT_S))


def known_item_ids(ranking_stub, protos, at_least=2):
    """Real item ids taken from a recommendation, so Rank can be asked about items the server knows."""
    ids = []
    for section in recommend(ranking_stub, protos):
        for item in section.items:
            if item.item_id not in ids:
                ids.append(item.item_id)
    assert len(ids) >= at_least, f"Recommend returned only {ids}; need {at_least} items to test Rank"
    return ids


def rank_request(protos, item_ids, **fields):
    request = protos.ranking.RankRequest(user_id=USER, surface=SURFACE, context=context(protos))
    for item_id in item_ids:
        request.candidates.add(item_id=item_id)
    for name, value in fields.items():
        if isinstance(value, (list, tuple)):
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    return request


def dinner_time_ms():
    """The latest 18:00 UTC (dinner in the demo's European cities) at or before now, in Unix ms: a request time at
    which venues are open whenever the test runs, and recent enough for events sent now to count."""
    import time
    day_ms = 86_400_000
    now_ms = int(time.time() * 1000)
    dinner = now_ms - now_ms % day_ms + 18 * 3_600_000
    return dinner if dinner <= now_ms else dinner - day_ms
