"""`rankctl` as a person uses it against a running rankd: the README's own examples work."""

import json
import pathlib
import subprocess


def rankctl(bin_dir, *args):
    return subprocess.run([str(pathlib.Path(bin_dir) / "rankctl"), *args], capture_output=True, text=True,
                          timeout=120)


def test_recommend_json_explain_writes_a_missing_feature_as_null(bin_dir, rankd):
    """README: `rankctl recommend --user u1 --json --explain`; a feature the join lacks is NaN, which is null."""
    for user in ("u1", "u2", "u3", "u42"):
        done = rankctl(bin_dir, "recommend", "--target", rankd.address, "--user", user, "--json", "--explain")
        assert done.returncode == 0, f"rankctl failed for {user}: {done.stderr[-2000:]}"
        answer = json.loads(done.stdout)
        assert answer["status"] == "OK"
        for section in answer["sections"]:
            for item in section["items"]:
                assert isinstance(item["score"], (int, float)) or item["score"] is None
                assert all(value is None or isinstance(value, (int, float))
                           for value in item.get("features", {}).values())


def test_rank_readme_example_accounts_for_every_candidate(bin_dir, rankd):
    """README: `rankctl rank --user u42 --items v1,v2,v3,v4`; every candidate is either ranked or counted as dropped
    with a reason, and the table is never silently empty."""
    done = rankctl(bin_dir, "rank", "--target", rankd.address, "--user", "u42", "--items", "v1,v2,v3,v4", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    (section,) = json.loads(done.stdout)["sections"]
    assert len(section["items"]) + sum(section["dropped"].values()) == 4
    assert set(section["dropped"]) <= {"excluded", "venue_not_taking_orders", "venue_closed",
                                       "out_of_delivery_range", "item_unavailable"}
    text = rankctl(bin_dir, "rank", "--target", rankd.address, "--user", "u42", "--items", "v1,v2,v3,v4")
    assert text.returncode == 0, text.stderr[-2000:]
    if not section["items"]:
        assert "no items: 4 of 4 candidates dropped: " in text.stdout, text.stdout


def test_rank_says_why_every_candidate_was_dropped(bin_dir, rankd):
    """All four candidates excluded by the caller: the answer says so instead of printing an empty table."""
    done = rankctl(bin_dir, "rank", "--target", rankd.address, "--user", "u42", "--items", "v1,v2,v3,v4,v2",
                   "--exclude", "v1,v2,v3,v4")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no items: 4 of 4 candidates dropped: 4 excluded by the caller" in done.stdout, done.stdout
    as_json = rankctl(bin_dir, "rank", "--target", rankd.address, "--user", "u42", "--items", "v1,v2,v3,v4",
                      "--exclude", "v2,v9999999", "--json")
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    (section,) = json.loads(as_json.stdout)["sections"]
    assert section["dropped"].get("excluded") == 1
    assert "v2" not in [item["item_id"] for item in section["items"]]


def test_health_names_the_data_being_served(bin_dir, rankd):
    """`rankctl health` says SERVING and which catalog: here the generated demo (a snapshot's id when serving one)."""
    done = rankctl(bin_dir, "health", "--target", rankd.address)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("SERVING (snapshot generated-demo-marketplace-seed42-scale"), done.stdout
    as_json = json.loads(rankctl(bin_dir, "health", "--target", rankd.address, "--json").stdout)
    assert as_json["status"] == "SERVING"
    assert as_json["snapshot_id"].startswith("generated-demo-marketplace-seed42-scale")


def test_tables_show_names_and_display_attributes(bin_dir, rankd):
    """The table shows what a person recognises, from the schema's display attributes: a venue's name, cuisine and
    rating beside its id and scores, an item's name, category and price."""
    from calls import REQUEST_TIME_MS
    done = rankctl(bin_dir, "recommend", "--target", rankd.address, "--user", "u1", "--limit", "3",
                   "--time", str(REQUEST_TIME_MS), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    items = [item for section in json.loads(done.stdout)["sections"] for item in section["items"]]
    assert items, done.stdout
    for item in items:
        assert set(item["display"]) == {"name", "cuisine", "price_level", "rating"}, item
        assert item["display"]["name"].endswith(" " + item["item_id"])
    table = rankctl(bin_dir, "recommend", "--target", rankd.address, "--user", "u1", "--limit", "3",
                    "--time", str(REQUEST_TIME_MS))
    assert "name" in table.stdout.splitlines()[1] and "details" in table.stdout.splitlines()[1], table.stdout
    first = items[0]
    assert first["display"]["name"] in table.stdout and f"cuisine {first['display']['cuisine']}" in table.stdout


def test_track_stores_an_event_that_the_next_recommend_uses(bin_dir, rankd):
    """`rankctl track --user U --kind order --item V`, then `rankctl recommend --user U` leads Order again with V."""
    from calls import dinner_time_ms
    user = "itest-rankctl-track"
    time_ms = str(dinner_time_ms())
    before = rankctl(bin_dir, "recommend", "--target", rankd.address, "--user", user, "--time", time_ms, "--json")
    assert before.returncode == 0, before.stderr[-2000:]
    venue = next(item["item_id"] for s in json.loads(before.stdout)["sections"] for item in s["items"])
    stored = rankctl(bin_dir, "track", "--target", rankd.address, "--user", user, "--kind", "order", "--item", venue,
                     "--event-id", "itest-rankctl-order-1")
    assert stored.returncode == 0, stored.stderr[-2000:]
    assert f"stored order of {venue}" in stored.stdout, stored.stdout
    again = rankctl(bin_dir, "track", "--target", rankd.address, "--user", user, "--kind", "order", "--item", venue,
                    "--event-id", "itest-rankctl-order-1")
    assert again.returncode == 0 and "already stored" in again.stdout, again.stdout
    after = rankctl(bin_dir, "recommend", "--target", rankd.address, "--user", user, "--time", time_ms, "--json")
    sections = {s["section"]: s for s in json.loads(after.stdout)["sections"]}
    assert sections["order_again"]["items"][0]["item_id"] == venue, sections.get("order_again")


def test_track_says_why_an_event_is_refused(bin_dir, rankd):
    refused = rankctl(bin_dir, "track", "--target", rankd.address, "--user", "u1", "--kind", "click", "--item", "v1",
                      "--time", "1000")
    assert refused.returncode == 1, refused.stdout
    assert "refused (timestamp_too_old)" in refused.stdout, refused.stdout
    bad_kind = rankctl(bin_dir, "track", "--target", rankd.address, "--user", "u1", "--kind", "like", "--item", "v1")
    assert bad_kind.returncode != 0 and "--kind must be one of" in bad_kind.stderr, bad_kind.stderr
