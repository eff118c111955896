"""rankd's configuration file: `rankd check-config` on a corpus of broken files, the example that must pass, and a
good and a corrupt configuration reloaded on SIGHUP under concurrent traffic with zero failed calls.

Each file in configs/broken/ starts with `# expect: <part of the error>` and may say `# line: N` (the line the
error must point at).
"""

import json
import pathlib
import re
import signal
import subprocess
import threading
import time

import grpc
import pytest

from calls import CALL_TIMEOUT_S, recommend

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
BROKEN = sorted((pathlib.Path(__file__).parent / "configs" / "broken").glob("*.yaml"))
EXAMPLE = REPO_ROOT / "deploy" / "rankd.yaml"
RELOAD_WAIT_S = 120.0
# Loading models beside the serving ones takes CPU; on a small test machine admission control would shed calls that
# queue behind it (a different defence, tested elsewhere), so the queue budget is generous.
PATIENT = ("--queue-budget-ms", "2000")


def check_config(bin_dir, path):
    return subprocess.run([str(bin_dir / "rankd"), "check-config", str(path)], capture_output=True, text=True,
                          timeout=120)


def expectations(path):
    header = path.read_text().splitlines()[:3]
    expect = next(line[len("# expect: "):] for line in header if line.startswith("# expect: "))
    line = next((int(line[len("# line: "):]) for line in header if line.startswith("# line: ")), None)
    return expect, line


def test_the_corpus_is_there():
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("path", BROKEN, ids=[path.stem for path in BROKEN])
def test_check_config_reports_each_broken_file_with_its_location(bin_dir, path):
    expect, line = expectations(path)
    done = check_config(bin_dir, path)
    assert done.returncode == 1, f"exit {done.returncode}:\n{done.stdout}{done.stderr}"
    matching = [row for row in done.stdout.splitlines() if expect in row]
    assert matching, f"no line with {expect!r}:\n{done.stdout}"
    # FILE:LINE:COL: key.path: message (duplicated keys are reported at the mapping that holds them).
    assert re.match(r"^.+\.yaml:\d+:\d+: ", matching[0]), matching[0]
    if line is not None:
        assert f".yaml:{line}:" in matching[0], matching[0]
    assert re.search(r"\d+ problems?; rankd would refuse this configuration$", done.stdout.strip())


def test_check_config_passes_the_example_that_documents_every_setting(bin_dir):
    done = check_config(bin_dir, EXAMPLE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout
    assert "discovery" in done.stdout and "discovery-model-xgb" in done.stdout


def test_the_examples_pipeline_is_the_embedded_default_surface_for_surface():
    # deploy/rankd.yaml says it spells out what rankd serves without models and surfaces; hold it to that.
    import yaml
    example = yaml.safe_load(EXAMPLE.read_text())
    embedded = json.loads((REPO_ROOT / "Sources" / "Ranking" / "Resources" / "surfaces.json").read_text())
    assert sorted(example["surfaces"]) == sorted(embedded["surfaces"])
    for name, surface in embedded["surfaces"].items():
        assert example["surfaces"][name] == surface, name
    assert {key: (pathlib.Path(model["file"]).name, pathlib.Path(model["golden"]).name)
            for key, model in example["models"].items()} == \
        {key: (model["file"], model["golden"]) for key, model in embedded["models"].items()}


def test_check_config_exits_2_when_the_file_cannot_be_read_or_is_not_yaml(bin_dir, tmp_path):
    missing = check_config(bin_dir, tmp_path / "missing.yaml")
    assert missing.returncode == 2, missing.stdout
    assert "cannot read" in missing.stdout
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("server: [1, 2\nadmin: {port: \n")
    broken = check_config(bin_dir, garbage)
    assert broken.returncode == 2, broken.stdout
    assert "not YAML" in broken.stdout


def test_help_names_the_environment_variables_file_keys_and_precedence(bin_dir):
    done = subprocess.run([str(bin_dir / "rankd"), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for part in ("RANKD_PORT", "RANKD_ADMIN_PORT", "RANKD_LOG_LEVEL", "file: server.port", "default 50051",
                 "the first that is set wins", "check-config"):
        assert part in text, part


def test_a_bad_environment_variable_stops_rankd_and_is_named(bin_dir):
    done = subprocess.run([str(bin_dir / "rankd"), "--port", "0", "--admin-port", "0"], capture_output=True,
                          text=True, timeout=30, env={"RANKD_WORKERS": "many", "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0
    assert 'environment RANKD_WORKERS: server.workers: must be an integer in 0...4096, got "many"' in done.stderr


def pipeline_config(tmp_path, default_limit, log_level="info"):
    """The example configuration with absolute model paths and the given discovery defaultLimit."""
    text = EXAMPLE.read_text().replace("../Sources/", f"{REPO_ROOT}/Sources/")
    text = text.replace("  level: info ", f"  level: {log_level} ", 1)
    text, count = re.subn(r"(?m)^(    defaultLimit: )20$", rf"\g<1>{default_limit}", text, count=1)
    assert count == 1
    return text


def write_atomically(path, text):
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text)
    temporary.replace(path)


def answer_size(stub, protos):
    return sum(len(section.items) for section in recommend(stub, protos))


class Traffic:
    """Recommend calls from several threads until stopped; counts every call and every failure."""

    def __init__(self, address, protos, threads=3):
        self.channel = grpc.insecure_channel(address)
        self.stub = protos.ranking_grpc.RankingServiceStub(self.channel)
        self.protos = protos
        self.calls = 0
        self.failures = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        while not self._stop.is_set():
            try:
                sections = recommend(self.stub, self.protos, limit=5)
                failure = None if any(section.items for section in sections) else "empty answer"
            except grpc.RpcError as error:
                failure = f"{error.code()}: {error.details()}"
            with self._lock:
                self.calls += 1
                if failure:
                    self.failures.append(failure)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=CALL_TIMEOUT_S + 5)
        self.channel.close()


def wait_log(server, text, offset):
    line = server.wait_for_log_line(lambda line: text in line, timeout_s=RELOAD_WAIT_S, start_offset=offset)
    assert line is not None, f"no log line with {text!r}; log tail: {server.log_tail()}"
    return line


def test_a_good_and_a_corrupt_configuration_reloaded_under_traffic_with_zero_failed_calls(
        bin_dir, servers, protos, tmp_path):
    config = tmp_path / "rankd.yaml"
    config.write_text(pipeline_config(tmp_path, 20))
    server = servers.start_rankd(bin_dir, "--config", str(config), *PATIENT)
    with grpc.insecure_channel(server.address) as channel:
        stub = protos.ranking_grpc.RankingServiceStub(channel)
        before = answer_size(stub, protos)
        assert before > 0

        with Traffic(server.address, protos) as traffic:
            # Good: a smaller default answer, and a limit change that waits for a restart.
            offset = server.log_size()
            good = pipeline_config(tmp_path, 2).replace("  maxConnections: 10000", "  maxConnections: 9999", 1)
            write_atomically(config, good)
            server.send_signal(signal.SIGHUP)
            applied = wait_log(server, "SIGHUP: applied", offset)
            assert "server.maxConnections 10000 -> 9999" in applied and "takes effect at restart" in applied, applied
            after = answer_size(stub, protos)
            assert 0 < after < before, (before, after)

            # Corrupt: the file cut in half. Refused with its problems; the good configuration keeps serving.
            offset = server.log_size()
            text = config.read_text()
            write_atomically(config, text[: len(text) // 2] + "\n    brandCap: [\n")
            server.send_signal(signal.SIGHUP)
            wait_log(server, "SIGHUP: refused", offset)
            assert "still serving the previous configuration" in server.log_text()[offset:]
            assert answer_size(stub, protos) == after

            # Valid YAML, invalid configuration: also refused, with the location of the problem.
            offset = server.log_size()
            write_atomically(config, pipeline_config(tmp_path, 2).replace("brandCap: 2", "brandCap: two", 1))
            server.send_signal(signal.SIGHUP)
            wait_log(server, "SIGHUP: refused", offset)
            assert re.search(r'rankd\.yaml:\d+:\d+: surfaces\.discovery\.rerank\.brandCap: must be a non-negative '
                             r'integer, got \\?"two\\?"', server.log_text()[offset:]), server.log_tail()
            time.sleep(0.5)
            assert answer_size(stub, protos) == after
        assert traffic.calls > 0
        assert traffic.failures == []


def test_the_environment_overrides_the_file_and_a_flag_overrides_both(bin_dir, servers, tmp_path, monkeypatch):
    config = tmp_path / "rankd.yaml"
    # The file asks for error-level logging only; RANKD_LOG_LEVEL brings back the info lines.
    config.write_text("logging:\n  level: error\nserver:\n  port: 1\n")
    monkeypatch.setenv("RANKD_LOG_LEVEL", "info")
    # A bad value the flag (--port 0, from the test harness) overrides never counts.
    monkeypatch.setenv("RANKD_PORT", "not-a-port")
    server = servers.start_rankd(bin_dir, "--config", str(config))
    assert "serving:" in server.log_text()


def test_thread_counts_follow_the_cpus_rankd_may_use_and_the_flags_override_them(bin_dir, servers):
    # Under `taskset -c 0` rankd may run on one CPU: one I/O thread and one worker, not one per core of the host.
    pinned = servers.start_rankd(bin_dir, wait_serving=False, launcher=("taskset", "-c", "0"))
    assert re.search(r"^rankd threads: 1 I/O, 1 workers \(1 usable cores of \d+ online\)$", pinned.stdout_text(),
                     re.MULTILINE), pinned.stdout_text()
    # The flags win over the count.
    flagged = servers.start_rankd(bin_dir, "--io-threads", "2", "--workers", "3", wait_serving=False,
                                  launcher=("taskset", "-c", "0"))
    assert re.search(r"^rankd threads: 2 I/O, 3 workers \(1 usable cores of \d+ online\)$", flagged.stdout_text(),
                     re.MULTILINE), flagged.stdout_text()
    flagged.wait_serving()


def test_with_no_workers_the_io_thread_answers_concurrent_recommends(bin_dir, servers, protos):
    server = servers.start_rankd(bin_dir, "--workers", "0", "--io-threads", "1", *PATIENT)
    assert "rankd threads: 1 I/O, 0 workers" in server.stdout_text(), server.stdout_text()
    with grpc.insecure_channel(server.address) as channel:
        stub = protos.ranking_grpc.RankingServiceStub(channel)
        # Several callers at once: the calls queue for the one I/O thread and all are answered.
        results = []

        def call():
            results.append(answer_size(stub, protos))

        threads = [threading.Thread(target=call) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=CALL_TIMEOUT_S * 2)
        assert len(results) == 16 and all(count > 0 for count in results), results


def test_no_workers_with_a_redis_online_store_is_refused_at_start(bin_dir):
    done = subprocess.run([str(bin_dir / "rankd"), "--port", "0", "--admin-port", "0", "--workers", "0",
                           "--online-store", "redis://127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "server.workers: is 0, which runs Rank and Recommend on the I/O threads" in done.stderr, done.stderr
