"""Fixtures for the real-client integration tests: where the binaries are, generated stubs, running servers.

The bin dir comes from `--bin-dir` or the RANKD_BIN_DIR environment variable (Scripts/integration-test.sh
passes it). Stubs for ranking.proto are generated from proto/ at test time with grpcio-tools, so the tests
always speak the contract in the tree.
"""

import os
import pathlib
import shlex
import socket
import sys
import types

import grpc
import pytest

from servers import ServerProcess

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"

# Every server started during the current test, so a failure report can show their logs.
_servers_in_test = []


def pytest_addoption(parser):
    parser.addoption("--bin-dir", default=os.environ.get("RANKD_BIN_DIR"),
                     help="directory holding the rankd executable (default: $RANKD_BIN_DIR)")
    parser.addoption("--rankd-args", default=os.environ.get("RANKD_EXTRA_ARGS", ""),
                     help="extra arguments for every rankd started, e.g. '--scale 0.05' for a smaller demo "
                          "marketplace that loads in seconds in a debug build (default: $RANKD_EXTRA_ARGS)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in dict.fromkeys(_servers_in_test):
            report.sections.append((f"log of {' '.join(map(str, server.argv))}", server.log_tail(40)))


@pytest.fixture(autouse=True)
def _track_servers(request):
    _servers_in_test.clear()
    # The shared server is started outside any one test, so register it for failure reports explicitly.
    if "rankd" in request.fixturenames:
        shared = request.getfixturevalue("rankd")
        if shared not in _servers_in_test:
            _servers_in_test.append(shared)
    yield
    _servers_in_test.clear()


@pytest.fixture(scope="session")
def bin_dir(pytestconfig):
    value = pytestconfig.getoption("--bin-dir")
    if not value:
        pytest.fail("no bin dir: pass --bin-dir DIR or set RANKD_BIN_DIR", pytrace=False)
    path = pathlib.Path(value).resolve()
    rankd = path / "rankd"
    if not (rankd.is_file() and os.access(rankd, os.X_OK)):
        pytest.fail(f"{rankd} is not an executable file; build it first (swift build)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def protos(tmp_path_factory):
    """Python modules generated from proto/: ranking.v1 and grpc.reflection.v1 (renamed to stay clear of grpc)."""
    from grpc_tools import protoc
    import grpc_tools

    out = tmp_path_factory.mktemp("generated")
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    contract = [PROTO_ROOT / "ranking" / "v1" / name for name in ("ranking.proto", "events.proto")]
    contract.append(PROTO_ROOT / "ranking" / "exposure" / "v1" / "exposure.proto")
    code = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={out}",
                        f"--grpc_python_out={out}", *map(str, contract)])
    assert code == 0, f"protoc failed on {contract}"

    # reflection.proto's own path would give a package named `grpc`, which would shadow grpcio.
    reflection_dir = out / "reflection_src" / "rankd_itest_reflection_v1"
    reflection_dir.mkdir(parents=True)
    (reflection_dir / "reflection.proto").write_bytes(
        (PROTO_ROOT / "grpc" / "reflection" / "v1" / "reflection.proto").read_bytes())
    code = protoc.main(["protoc", f"-I{out / 'reflection_src'}", f"--python_out={out}", f"--grpc_python_out={out}",
                        str(reflection_dir / "reflection.proto")])
    assert code == 0, "protoc failed on grpc/reflection/v1/reflection.proto"

    sys.path.insert(0, str(out))
    from ranking.v1 import events_pb2, events_pb2_grpc, ranking_pb2, ranking_pb2_grpc
    from ranking.exposure.v1 import exposure_pb2
    from rankd_itest_reflection_v1 import reflection_pb2, reflection_pb2_grpc
    return types.SimpleNamespace(ranking=ranking_pb2, ranking_grpc=ranking_pb2_grpc,
                                 events=events_pb2, events_grpc=events_pb2_grpc, exposure=exposure_pb2,
                                 reflection_v1=reflection_pb2, reflection_v1_grpc=reflection_pb2_grpc)


def free_port():
    """A port nothing listens on now (the kernel's pick for an ephemeral bind, released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerFactory:
    """Starts servers for one scope and stops every one of them at the end of it."""

    def __init__(self, tmp_dir, common_args):
        self.tmp_dir = tmp_dir
        self.common_args = common_args
        self.started = []

    def start_rankd(self, bin_dir, *extra_args, wait_serving=True, launcher=()):
        """Starts rankd with extra_args; launcher is a command rankd runs under (e.g. `taskset -c 0`)."""
        # Every rankd gets its own free admin port (the default, 9090, would collide between servers; 0 disables it).
        argv = [*launcher, str(bin_dir / "rankd"), "--host", "127.0.0.1", "--port", "0", "--admin-port",
                str(free_port()), *self.common_args, *extra_args]
        log_path = self.tmp_dir / f"rankd-{len(self.started)}.log"
        server = ServerProcess(argv, log_path, "rankd")
        self.started.append(server)
        _servers_in_test.append(server)
        server.start()
        if wait_serving:
            server.wait_serving()
        return server

    def stop_all(self):
        for server in self.started:
            server.stop()


@pytest.fixture(scope="session")
def rankd_args(pytestconfig):
    return shlex.split(pytestconfig.getoption("--rankd-args"))


@pytest.fixture
def servers(tmp_path, request, rankd_args):
    """Starts extra rankd processes for one test (own flags, or ones the test signals); stops them after."""
    factory = ServerFactory(tmp_path, rankd_args)
    request.addfinalizer(factory.stop_all)
    return factory


@pytest.fixture(scope="session")
def rankd(bin_dir, tmp_path_factory, request, rankd_args):
    """The shared rankd: default limits but a patient queue, test hooks on, debug logging to a file the tests read.

    Admission control is tested on servers of its own (test_defences.py, test_errors.py); here a debug build on a
    busy two-core machine may queue a call past the default 5 ms budget, and a shed call would fail a test about
    something else.
    """
    factory = ServerFactory(tmp_path_factory.mktemp("rankd"), rankd_args)
    request.addfinalizer(factory.stop_all)
    return factory.start_rankd(bin_dir, "--test-hooks", "--log-level", "debug", "--queue-budget-ms", "2000")


@pytest.fixture(scope="session")
def channel(rankd):
    with grpc.insecure_channel(rankd.address) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch


@pytest.fixture(scope="session")
def ranking_stub(channel, protos):
    return protos.ranking_grpc.RankingServiceStub(channel)


@pytest.fixture(scope="session")
def events_stub(channel, protos):
    return protos.events_grpc.EventServiceStub(channel)
