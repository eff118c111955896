"""`rankctl demo-data --domain music` writes the music demo as a snapshot that `rankctl snapshot validate` accepts
(docs/data.md, "The music demo snapshot"); an unknown domain is refused by name."""

import json
import os
import pathlib
import subprocess

import pytest


@pytest.fixture(scope="module")
def rankctl(pytestconfig):
    value = pytestconfig.getoption("--bin-dir")
    if not value:
        pytest.fail("no bin dir: pass --bin-dir DIR or set RANKD_BIN_DIR", pytrace=False)
    path = pathlib.Path(value).resolve() / "rankctl"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} is not an executable file; build it first (swift build)", pytrace=False)
    return path


def run(rankctl, *args):
    return subprocess.run([str(rankctl), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_the_music_demo_snapshot_validates(rankctl, tmp_path):
    folder = tmp_path / "music"
    made = run(rankctl, "demo-data", "--domain", "music", "--scale", "0.02", "--snapshot", folder,
               "--snapshot-id", "music-demo-test", "--eval-sessions", "50")
    assert made.returncode == 0, made.stderr
    assert "wrote snapshot music-demo-test: 1000 track, 100 artist, 2000 user" in made.stdout, made.stdout
    assert "| popularity in genre |" in made.stdout and "50 held-out sessions" in made.stdout, made.stdout

    checked = run(rankctl, "snapshot", "validate", folder, "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["valid"] is True
    assert report["schema"] == {"name": "music", "version": 1}
    assert report["records"] == {"track": 1000, "artist": 100, "user": 2000}


def test_an_unknown_domain_is_refused_by_name(rankctl, tmp_path):
    refused = run(rankctl, "demo-data", "--domain", "podcasts", "--snapshot", tmp_path / "x")
    assert refused.returncode != 0
    assert "podcasts" in refused.stderr and "music" in refused.stderr, refused.stderr
    assert not (tmp_path / "x").exists()
