"""The category and cart surfaces over a real grpcio client, rankctl's options for them, and `rankctl eval --json`.

Which cuisines a venue is tagged with is not in any answer, so the category checks read the tags from the demo's
own venues.csv (`rankctl demo-data --out`), generated with the seed and scale the shared rankd serves.
"""

import csv
import json
import pathlib
import subprocess

import grpc
import pytest

from calls import CALL_TIMEOUT_S, context

# The cuisines schemas/marketplace.json declares, in order: a venue's tags_mask has bit i for cuisine i.
CUISINES = ["pizza", "burger", "sushi", "indian", "chinese", "thai", "mexican", "italian", "middle_eastern",
            "vietnamese", "healthy", "breakfast", "dessert", "grocery", "korean", "greek"]
USERS = [f"u{n}" for n in range(1, 41)]


def rankctl(bin_dir, *args, timeout=300):
    return subprocess.run([str(pathlib.Path(bin_dir) / "rankctl"), *args], capture_output=True, text=True,
                          timeout=timeout)


def demo_option(rankd_args, name, default):
    """The value rankd was given for --scale or --seed (the demo it serves), else its default."""
    if name in rankd_args:
        return rankd_args[rankd_args.index(name) + 1]
    return default


@pytest.fixture(scope="module")
def venue_tags(bin_dir, rankd_args, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-tables")
    done = rankctl(bin_dir, "demo-data", "--out", str(out), "--scale", demo_option(rankd_args, "--scale", "1.0"),
                   "--seed", demo_option(rankd_args, "--seed", "42"), "--train-sessions", "1", "--valid-sessions", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    with open(out / "venues.csv", newline="") as table:
        return {row["venue_id"]: int(row["tags_mask"]) for row in csv.DictReader(table)}


def ask(ranking_stub, protos, user, surface, **fields):
    request = protos.ranking.RecommendRequest(user_id=user, surface=surface, context=context(protos), limit=50)
    for name, value in fields.items():
        if isinstance(value, (list, tuple)):
            getattr(request, name).extend(value)
        else:
            setattr(request, name, value)
    return list(ranking_stub.Recommend(request, timeout=CALL_TIMEOUT_S))


def ids(sections):
    return [item.item_id for section in sections for item in section.items]


def refusal(ranking_stub, protos, user, surface, **fields):
    with pytest.raises(grpc.RpcError) as raised:
        ask(ranking_stub, protos, user, surface, **fields)
    return raised.value


def test_category_answers_only_venues_of_that_cuisine(ranking_stub, protos, venue_tags):
    answered = 0
    for n, user in enumerate(USERS):
        cuisine = CUISINES[n % 4]  # pizza, burger, sushi, indian: common enough to have venues near most users
        sections = ask(ranking_stub, protos, user, "category", category=cuisine)
        returned = ids(sections)
        assert len(set(returned)) == len(returned), f"a venue came twice for {user}: {returned}"
        bit = 1 << CUISINES.index(cuisine)
        wrong = [venue for venue in returned if not venue_tags[venue] & bit]
        assert not wrong, f"{cuisine} page for {user} holds venues of other cuisines: {wrong}"
        answered += len(returned)
    assert answered > 0, "no category page had a venue"


def test_category_refusals_are_invalid_argument_and_readable(ranking_stub, protos):
    unknown = refusal(ranking_stub, protos, "u1", "category", category="sushis")
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown category" in unknown.details() and "sushi, indian" in unknown.details(), unknown.details()
    missing = refusal(ranking_stub, protos, "u1", "category")
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "category is required" in missing.details()
    elsewhere = refusal(ranking_stub, protos, "u1", "discovery", category="sushi")
    assert elsewhere.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "takes no category" in elsewhere.details()


def a_cart(ranking_stub, protos):
    """A venue user u1 can order from now, its menu as Recommend serves it (available items) and two of them."""
    for venue in ids(ask(ranking_stub, protos, "u1", "discovery")):
        menu = ids(ask(ranking_stub, protos, "u1", "venue_items", venue_id=venue))
        if len(menu) >= 4:
            return venue, set(menu), menu[:2]
    pytest.fail("no venue with four available items delivers to u1")


def test_cart_answers_available_items_of_the_carts_venue_and_none_already_in_it(ranking_stub, protos):
    venue, menu, cart = a_cart(ranking_stub, protos)
    for items in (cart[:1], cart):
        sections = ask(ranking_stub, protos, "u1", "cart", context_item_ids=items)
        returned = ids(sections)
        assert returned, f"nothing to add to {items}"
        assert len(set(returned)) == len(returned)
        assert not set(returned) & set(items), f"items already in the cart came back: {set(returned) & set(items)}"
        assert set(returned) <= menu - set(items), f"not on {venue}'s menu now: {set(returned) - menu}"
        assert {item.venue_id for section in sections for item in section.items} == {venue}
        for section in sections:
            scores = [item.score for item in section.items]
            assert scores == sorted(scores, reverse=True)


def test_cart_refusals_are_invalid_argument_and_readable(ranking_stub, protos):
    venue, menu, cart = a_cart(ranking_stub, protos)
    empty = refusal(ranking_stub, protos, "u1", "cart")
    assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "context_item_ids is required" in empty.details()
    unknown = refusal(ranking_stub, protos, "u1", "cart", context_item_ids=[cart[0], "i999999999"])
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "i999999999" in unknown.details()
    too_many = refusal(ranking_stub, protos, "u1", "cart", context_item_ids=[cart[0]] * 101)
    assert too_many.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than the 100" in too_many.details()
    other_venue = next(v for v in ids(ask(ranking_stub, protos, "u1", "discovery")) if v != venue)
    other_item = ids(ask(ranking_stub, protos, "u1", "venue_items", venue_id=other_venue))[0]
    two_venues = refusal(ranking_stub, protos, "u1", "cart", context_item_ids=[cart[0], other_item])
    assert two_venues.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "2 venues" in two_venues.details()
    elsewhere = refusal(ranking_stub, protos, "u1", "discovery", context_item_ids=cart)
    assert elsewhere.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_rankctl_recommends_a_category_page_and_a_cart(bin_dir, rankd, ranking_stub, protos):
    done = rankctl(bin_dir, "recommend", "--target", rankd.address, "--user", "u1", "--surface", "category",
                   "--category", "pizza", "--time", str(1_735_732_800_000), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["status"] == "OK"
    _, _, cart = a_cart(ranking_stub, protos)
    done = rankctl(bin_dir, "recommend", "--target", rankd.address, "--user", "u1", "--surface", "cart",
                   "--cart", ",".join(cart), "--time", str(1_735_732_800_000), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    returned = [item["item_id"] for section in answer["sections"] for item in section["items"]]
    assert returned and not set(returned) & set(cart)
    refused = rankctl(bin_dir, "recommend", "--target", rankd.address, "--user", "u1", "--surface", "category",
                      "--category", "sushis")
    assert refused.returncode != 0
    assert "unknown category" in refused.stdout + refused.stderr


def test_eval_json_reports_ndcg_and_recall_per_ranker_for_each_surface(bin_dir, rankd_args):
    done = rankctl(bin_dir, "eval", "--scale", demo_option(rankd_args, "--scale", "1.0"), "--sessions", "40",
                   "--surface", "category,cart", "--json", timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert [surface["surface"] for surface in document["surfaces"]] == ["category", "cart"]
    for surface in document["surfaces"]:
        rankers = surface["rankers"]
        assert [ranker["baseline"] for ranker in rankers] == [True, False, False]
        assert [ranker["ceiling"] for ranker in rankers] == [False, False, True]
        assert rankers[1]["name"].startswith(f"rankd {surface['surface']}")
        assert surface["recall_at"] in (10, 20)
        for ranker in rankers:
            assert 0 <= ranker["ndcg_at_10"] <= 1 and 0 <= ranker["recall"] <= 1, ranker
            if rankers[0]["ndcg_at_10"] > 0:
                assert abs(ranker["ndcg_at_10_vs_popularity"] - ranker["ndcg_at_10"] / rankers[0]["ndcg_at_10"]) \
                    < 1e-9
    assert document["surfaces"][1]["sessions"] > 0
