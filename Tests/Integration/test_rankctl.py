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
