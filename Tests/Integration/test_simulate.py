"""`rankctl simulate` against a running rankd (docs/experiments.md): simulated users of the marketplace and the music demo
get answers, send impressions, clicks and orders (or plays, skips and completes) that rankd accepts; an unreachable
target, a snapshot the simulator cannot rebuild and bad options are refused with a message."""

import glob
import json
import re
import subprocess
import time

import pytest

from conftest import ServerFactory, free_port

MUSIC_SCALE = "0.02"
MUSIC_ID = f"generated-demo-music-seed42-scale{MUSIC_SCALE}"


def simulate(bin_dir, *args, timeout=120):
    return subprocess.run([str(bin_dir / "rankctl"), "simulate", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def report_of(done):
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def market(bin_dir, tmp_path_factory, rankd_args):
    """A rankd of its own on the generated marketplace, so the simulated events touch no other test's users; it
    writes the exposure and event logs as JSON Lines."""
    root = tmp_path_factory.mktemp("simulate-market")
    factory = ServerFactory(root, rankd_args)
    server = factory.start_rankd(bin_dir, "--queue-budget-ms", "2000", "--exposure-log", str(root / "exposures"),
                                 "--event-log", str(root / "events"), "--log-records-as", "jsonl")
    server.logs = root
    yield server
    factory.stop_all()


def records(folder):
    return [json.loads(line) for path in sorted(glob.glob(str(folder / "*.jsonl"))) for line in open(path)]


@pytest.fixture(scope="module")
def music(bin_dir, tmp_path_factory, rankd_args):
    """A rankd serving the music demo written under the generator's name."""
    root = tmp_path_factory.mktemp("simulate-music")
    made = subprocess.run(
        [str(bin_dir / "rankctl"), "demo-data", "--domain", "music", "--scale", MUSIC_SCALE, "--snapshot",
         str(root / "snapshot"), "--snapshot-id", MUSIC_ID],
        capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    factory = ServerFactory(root, rankd_args)
    server = factory.start_rankd(bin_dir, "--snapshot", str(root / "snapshot"), "--queue-budget-ms", "2000")
    yield server
    factory.stop_all()


def test_marketplace_users_get_answers_and_click_and_order(bin_dir, market):
    report = report_of(simulate(bin_dir, "--target", market.address, "--users", 20, "--duration", 5, "--json"))
    assert report["domain"] == "marketplace"
    assert re.fullmatch(r"generated-demo-marketplace-seed42-scale[0-9.]+", report["snapshot_id"])
    assert report["visits"] > 0 and report["stopped_by"] == "duration"
    assert report["recommend"]["calls"] >= report["visits"]
    assert report["recommend"]["status"] == {"OK": report["recommend"]["calls"]}, report
    assert report["track"]["status"] == {"OK": report["track"]["calls"]}, report
    events = report["events"]
    assert events["accepted"] > 0 and events["rejected"] == {} and events["duplicates"] == 0, events
    assert events["accepted"] == events["sent"]
    assert report["impressions"] > 0 and report["clicks"] > 0 and report["orders"] > 0, report
    assert 0 < report["click_through"] <= 1 and 0 < report["conversion"] <= 1
    assert report["elapsed_s"] < 30


def test_every_simulated_event_names_the_answer_and_position_rankd_logged(bin_dir, market):
    report = report_of(simulate(bin_dir, "--target", market.address, "--users", 10, "--duration", 60, "--max-visits",
                                12, "--seed", 9, "--json"))
    assert report["stopped_by"] == "max_visits" and report["visits"] == 12
    deadline = time.monotonic() + 15
    while True:
        ours = [event for event in records(market.logs / "events") if event["request_id"].startswith("sim-9-")]
        if len(ours) >= report["events"]["accepted"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(ours) == report["events"]["accepted"]
    # Each log's writer flushes on its own clock: the exposures may reach their file a moment after the events.
    deadline = time.monotonic() + 15
    while True:
        answers = {record["request_id"]: record for record in records(market.logs / "exposures")}
        if all(event["request_id"] in answers for event in ours) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for event in ours:
        answer = answers[event["request_id"]]
        assert answer["user_id"] == event["user_id"]
        shown = {item["position"]: item["item_id"] for item in answer["items"]}
        assert shown.get(event.get("position", 0)) == event["item_id"], (event, answer["items"][:12])


def test_a_visit_cap_stops_the_run_early_and_the_text_report_names_it(bin_dir, market):
    done = simulate(bin_dir, "--target", market.address, "--users", 5, "--duration", 60, "--max-visits", 6,
                    "--seed", 2, "--domain", "marketplace")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stopped by max_visits" in done.stdout, done.stdout
    assert re.search(r"^visits 6 ", done.stdout, re.MULTILINE), done.stdout
    assert "CTR" in done.stdout and "accepted" in done.stdout


def test_music_listeners_play_skip_and_complete(bin_dir, music):
    report = report_of(simulate(bin_dir, "--target", music.address, "--users", 20, "--duration", 5, "--json"))
    assert report["domain"] == "music" and report["snapshot_id"] == MUSIC_ID
    assert report["recommend"]["calls"] > 0
    assert report["recommend"]["status"] == {"OK": report["recommend"]["calls"]}, report
    assert report["events"]["accepted"] > 0 and report["events"]["rejected"] == {}, report["events"]
    assert report["plays"] > 0 and report["completes"] + report["skips"] == report["plays"], report
    assert 0 < report["completion_rate"] < 1


def test_a_snapshot_the_simulator_cannot_rebuild_is_refused_with_how_to_accept_it(bin_dir, music):
    done = simulate(bin_dir, "--target", music.address, "--users", 2, "--duration", 1, "--domain", "music",
                    "--demo-scale", "0.5")
    assert done.returncode != 0
    assert MUSIC_ID in done.stderr and "--snapshot-id" in done.stderr and "--demo-scale" in done.stderr, done.stderr


def test_an_unreachable_target_fails_with_a_message(bin_dir):
    done = simulate(bin_dir, "--target", f"127.0.0.1:{free_port()}", "--users", 2, "--duration", 1, timeout=30)
    assert done.returncode != 0
    assert "cannot reach rankd" in done.stderr, done.stderr


@pytest.mark.parametrize("args, named", [
    (["--users", "0"], "--users"),
    (["--duration", "0"], "--duration"),
    (["--concurrency", "0"], "--concurrency"),
    (["--domain", "podcasts"], "--domain"),
    (["--target", "nowhere"], "--target"),
])
def test_bad_options_are_refused_by_name(bin_dir, args, named):
    done = simulate(bin_dir, *args, timeout=30)
    assert done.returncode != 0
    assert named in done.stderr, done.stderr
