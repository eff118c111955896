"""The defences of docs/defences.md, each proved against the failure it exists for, with real clients.

Every test here reproduces one way a broken or hostile client (or plain overload) hurt rankd before the defences:
worker threads parked by Health/Watch, HPACK amplification, unbounded request and response buffering, connections
that never speak, idle or flood PINGs, EMFILE, response headers nobody can send, a handler crash, CANCELLED for a
deadline, cancelled timers left in the heap, and a queue with no admission control.

Nothing passes or fails on wall-clock latency: the tests assert gRPC statuses, counts, the server's own counters
(`kill -USR1` makes rankd log one `stats: key=value ...` line) and memory (VmRSS / VmHWM from /proc, with
generous margins). Every wait and loop is bounded. Tests that need their own flags, signal the server or may hurt
it start their own rankd (`servers` fixture), always on 127.0.0.1 and port 0, stopped at the end.
"""

import collections
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import time

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.exceptions
import h2.settings
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import h2raw
from calls import context, known_item_ids, rank_request

RANK = "/ranking.v1.RankingService/Rank"
RECOMMEND = "/ranking.v1.RankingService/Recommend"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"

OK = "0"
DEADLINE_EXCEEDED = str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
RESOURCE_EXHAUSTED = str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])

MIB = 1 << 20
STATS_WAIT_S = 10.0
# Demo venues that exist at every --scale; Rank accepts any ids anyway.
CANDIDATES = ["v1", "v2", "v3"]


# ---------------------------------------------------------------------------------------------------------------
# Helpers: the server's counters, its memory, and a few calls.
# ---------------------------------------------------------------------------------------------------------------

STATS_LINE = re.compile(r"\bstats:\s(.*)$")


def stats(server, timeout_s=STATS_WAIT_S):
    """Sends SIGUSR1 and returns the counters of the `stats: key=value ...` line rankd logs for it, as a dict.

    Only a line that appears after the signal counts; the wait for it is bounded.
    """
    assert server.proc.poll() is None, f"rankd is not running (exit code {server.proc.returncode})"
    offset = server.log_size()
    os.kill(server.proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout_s
    while True:
        for line in server.log_text()[offset:].splitlines():
            match = STATS_LINE.search(line)
            if match:
                values = {}
                for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", match.group(1)):
                    try:
                        values[key] = int(value)
                    except ValueError:
                        values[key] = value
                return values
        if server.proc.poll() is not None:
            raise AssertionError(f"rankd exited with {server.proc.returncode} on SIGUSR1 instead of logging stats")
        if time.monotonic() >= deadline:
            raise AssertionError(f"no 'stats:' line within {timeout_s:.0f} s of SIGUSR1")
        time.sleep(0.05)


def counter(values, key):
    assert key in values, f"stats line has no {key}: {values}"
    return values[key]


def wait_for_stats(server, predicate, timeout_s=15.0, interval_s=0.25):
    """Polls the counters until predicate(values) holds or timeout_s passes; returns the last values."""
    deadline = time.monotonic() + timeout_s
    while True:
        values = stats(server)
        if predicate(values) or time.monotonic() >= deadline:
            return values
        time.sleep(interval_s)


def _status_kb(pid, key):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


class MemoryWatch:
    """Resident memory of a process from now on: the peak (VmHWM, reset through /proc/PID/clear_refs so that
    start-up does not count) or, where the peak cannot be reset, the largest VmRSS sampled."""

    def __init__(self, pid):
        self.pid = pid
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as clear:
                clear.write("5")
            self.peak_reset = True
        except OSError:
            self.peak_reset = False
        self.baseline_kb = _status_kb(pid, "VmRSS")
        self.max_sampled_kb = self.baseline_kb

    def sample(self):
        self.max_sampled_kb = max(self.max_sampled_kb, _status_kb(self.pid, "VmRSS"))

    def growth_mb(self):
        self.sample()
        peak = _status_kb(self.pid, "VmHWM") if self.peak_reset else self.max_sampled_kb
        return (peak - self.baseline_kb) / 1024


def health_status(address, timeout_s=10, wait_for_ready=False):
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s,
                                                          wait_for_ready=wait_for_ready)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def recommend_request(protos, **fields):
    return protos.ranking.RecommendRequest(user_id="u1", surface="discovery", context=context(protos), **fields)


def delay(ms):
    return ("rankd-test-delay-ms", str(ms))


def status_of(response):
    """grpc-status of a raw response (a RST_STREAM after it, as servers send to stop an upload, does not matter),
    or a description of how the stream ended without one."""
    status = response.grpc("grpc-status")
    if status is None and response.reset_code is not None:
        return f"reset ({response.reset_code})"
    return status


def wait_all(futures, timeout_s):
    """Waits (bounded, shared deadline) for grpcio futures; returns their codes, 'OK' for success. Futures still
    running at the deadline are cancelled and reported as 'HUNG'."""
    deadline = time.monotonic() + timeout_s
    codes = []
    for future in futures:
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
            codes.append("OK")
        except grpc.FutureTimeoutError:
            future.cancel()
            codes.append("HUNG")
        except grpc.RpcError as error:
            codes.append(error.code().name)
    return codes


def recv_until_closed(sock, timeout_s):
    """Reads and discards until the peer closes (True) or timeout_s passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def read_until_closed(connection, timeout_s):
    """Like recv_until_closed for an h2raw.Connection, handling frames (GOAWAY, responses) on the way."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if not connection._receive_once(deadline - time.monotonic()):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


# ---------------------------------------------------------------------------------------------------------------
# 1. Worker pool: Health/Watch streams must not take the threads Rank and Recommend run on.
# ---------------------------------------------------------------------------------------------------------------

WATCH_CONNECTIONS = 3
WATCHES_PER_CONNECTION = 100


def test_300_health_watch_streams_leave_rank_and_recommend_served(bin_dir, servers, protos):
    """Before: each Watch parked a worker thread, so ~30 got an answer and Rank timed out behind them."""
    server = servers.start_rankd(bin_dir)
    body = h2raw.grpc_frame(health_pb2.HealthCheckRequest(service="").SerializeToString())
    connections = [h2raw.Connection("127.0.0.1", server.port) for _ in range(WATCH_CONNECTIONS)]
    try:
        watches = [[c.send_request(HEALTH_WATCH, body) for _ in range(WATCHES_PER_CONNECTION)] for c in connections]
        # Every Watch answers with the current status at once; one shared, bounded wait for all 300.
        deadline = time.monotonic() + 30
        for c, ids in zip(connections, watches):
            c.read_until(lambda: all(c.responses[i].body for i in ids), max(0.1, deadline - time.monotonic()))
        answered = sum(1 for c, ids in zip(connections, watches) for i in ids if c.responses[i].body)
        assert answered == WATCH_CONNECTIONS * WATCHES_PER_CONNECTION, \
            f"only {answered} of {WATCH_CONNECTIONS * WATCHES_PER_CONNECTION} Watch streams got their first message"
        for c, ids in zip(connections, watches):
            for i in ids:
                (message,) = h2raw.decode_grpc_frames(c.responses[i].body, None)
                assert health_pb2.HealthCheckResponse.FromString(message).status == \
                    health_pb2.HealthCheckResponse.SERVING

        # One call at a time, so admission control has no reason to refuse any: each must find a worker.
        with grpc.insecure_channel(server.address) as channel:
            stub = protos.ranking_grpc.RankingServiceStub(channel)
            candidates = known_item_ids(stub, protos)
            for _ in range(5):
                assert stub.Rank(rank_request(protos, candidates), timeout=20).items
                assert list(stub.Recommend(recommend_request(protos, limit=5), timeout=20)), "no section"
            assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=20).status == \
                health_pb2.HealthCheckResponse.SERVING

        # The watches are still open: a subscription, not something that gave up.
        for c, ids in zip(connections, watches):
            c.read_until(lambda: False, 0.2)
            for i in ids:
                assert not c.responses[i].ended and c.responses[i].reset_code is None, \
                    f"Watch stream {i} ended: {status_of(c.responses[i])}"
    finally:
        for c in connections:
            c.close()


# ---------------------------------------------------------------------------------------------------------------
# 2. HPACK amplification: a ~100 KB header block that decodes to ~400 MB.
# ---------------------------------------------------------------------------------------------------------------

AMPLIFIED_VALUE_BYTES = 4000   # fits the default 4096-byte dynamic table with its name and 32 bytes of overhead
AMPLIFIED_REPEATS = 100_000    # one byte each on the wire: the block is ~104 KB, decoding to ~400 MB


def test_amplified_header_block_is_refused_without_decoding_it_all(bin_dir, servers):
    """Before: every reference was decoded and kept (~440 MB peak RSS), and Health/Check then answered OK."""
    server = servers.start_rankd(bin_dir)
    memory = MemoryWatch(server.proc.pid)
    block = h2raw.amplified_header_block(HEALTH_CHECK, "x-big", "v" * AMPLIFIED_VALUE_BYTES, AMPLIFIED_REPEATS)
    assert len(block) < 120_000
    with h2raw.Connection("127.0.0.1", server.port) as connection:
        stream_id = connection.send_header_block(block, path=HEALTH_CHECK)
        try:
            connection.conn.send_data(stream_id, h2raw.grpc_frame(b""), end_stream=True)
            connection._flush()
        except (h2.exceptions.ProtocolError, OSError):
            pass  # already answered or reset: fine, the answer is read below
        response = connection.wait(stream_id, timeout_s=30)
    assert status_of(response) == RESOURCE_EXHAUSTED or response.reset_code is not None, \
        f"a {AMPLIFIED_REPEATS * AMPLIFIED_VALUE_BYTES // MIB} MiB header list got {status_of(response)}"
    growth = memory.growth_mb()
    assert growth < 50, f"rankd's resident memory grew by {growth:.0f} MB decoding the header block"
    assert counter(stats(server), "header_lists_refused") >= 1
    # The server (and a fresh connection) still work.
    after = h2raw.unary("127.0.0.1", server.port, HEALTH_CHECK, h2raw.grpc_frame(b""), timeout_s=20)
    assert status_of(after) == OK
    assert health_status(server.address) == "SERVING"


# ---------------------------------------------------------------------------------------------------------------
# 3. Inbound buffering: 100 streams of almost-complete 4 MiB messages.
# ---------------------------------------------------------------------------------------------------------------

CONNECTION_REQUEST_LIMIT = 8 * MIB
SERVER_REQUEST_LIMIT = 32 * MIB
UPLOAD_CONNECTIONS = 5
UPLOAD_STREAMS_PER_CONNECTION = 20
UPLOAD_MESSAGE = 4 * MIB - 5          # with its 5-byte prefix the stream body is exactly 4 MiB
UPLOAD_STALL_S = 2.0                  # nothing could be sent for this long: the server is holding the client back
UPLOAD_DEADLINE_S = 60.0


class Pump:
    """Drives an h2raw.Connection without ever blocking: writes what h2 has queued as far as the socket takes it
    and handles whatever has arrived. A client stuck in sendall while the server waits for it to read (WINDOW_UPDATE,
    RST_STREAM, responses) would deadlock; a real client reads and writes at once, and so does this."""

    def __init__(self, connection):
        self.connection = connection
        connection.sock.setblocking(False)
        self.unsent = bytearray()
        self.closed = False

    def pump(self):
        """One round of writing and reading; returns the number of bytes written."""
        c = self.connection
        self.unsent += c.conn.data_to_send()
        written = 0
        if self.unsent and not self.closed:
            try:
                written = c.sock.send(self.unsent)
                del self.unsent[:written]
            except BlockingIOError:
                pass
            except OSError:
                self.closed = True
        while not self.closed:
            try:
                data = c.sock.recv(1 << 16)
            except BlockingIOError:
                break
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            for event in c.conn.receive_data(data):
                c._handle(event)
        return written

    def wait_readable(self, timeout_s):
        select.select([self.connection.sock], [], [], timeout_s)

    def ping_round_trip(self, timeout_s=20.0):
        """PING, then pump until its ACK: the server has read every frame written before it."""
        payload = struct.pack(">Q", time.monotonic_ns() & 0xFFFFFFFFFFFFFFFF)
        self.connection.conn.ping(payload)
        deadline = time.monotonic() + timeout_s
        while payload not in self.connection.pings_acked:
            assert not self.closed, "the server closed the connection"
            assert time.monotonic() < deadline, f"no PING ACK within {timeout_s:.0f} s"
            self.pump()
            self.wait_readable(0.05)


class Upload:
    """One stream sending a gRPC frame that announces UPLOAD_MESSAGE bytes, all but the last byte, as fast as
    the flow-control windows allow and never waiting for a window."""

    def __init__(self, connection, body):
        self.connection = connection
        self.stream_id = connection.send_request(RANK, b"", end_stream=False)
        self.body = memoryview(body)
        self.sent = 0
        self.closed = False

    @property
    def response(self):
        return self.connection.responses[self.stream_id]

    @property
    def refused(self):
        response = self.response
        return response.reset_code is not None or response.ended

    @property
    def done(self):
        return self.closed or self.refused or self.sent == len(self.body)

    def push(self):
        """Hands h2 what the windows allow now; returns the number of bytes."""
        conn = self.connection.conn
        before = self.sent
        while not self.done:
            try:
                window = min(conn.local_flow_control_window(self.stream_id), conn.max_outbound_frame_size)
                if window <= 0:
                    break
                chunk = self.body[self.sent:self.sent + window]
                conn.send_data(self.stream_id, bytes(chunk))
            except h2.exceptions.ProtocolError:
                self.closed = True
                break
            self.sent += len(chunk)
        return self.sent - before


def test_buffered_request_bytes_stay_within_the_connection_and_server_limits(bin_dir, servers):
    """Before: windows reopened as bytes arrived, so 100 streams held ~400 MB of requests that never complete."""
    server = servers.start_rankd(bin_dir, "--max-connection-request-bytes", str(CONNECTION_REQUEST_LIMIT),
                                 "--max-server-request-bytes", str(SERVER_REQUEST_LIMIT))
    memory = MemoryWatch(server.proc.pid)
    # All but the last byte of a 4 MiB stream body: the message can never complete, so nothing is handed over.
    body = (struct.pack(">BI", 0, UPLOAD_MESSAGE) + bytes(UPLOAD_MESSAGE))[:-1]
    connections = [h2raw.Connection("127.0.0.1", server.port) for _ in range(UPLOAD_CONNECTIONS)]
    try:
        uploads = [Upload(c, body) for c in connections for _ in range(UPLOAD_STREAMS_PER_CONNECTION)]
        pumps = [Pump(c) for c in connections]
        deadline = time.monotonic() + UPLOAD_DEADLINE_S
        last_progress = time.monotonic()
        rounds = 0
        while time.monotonic() < deadline and time.monotonic() - last_progress < UPLOAD_STALL_S:
            progressed = 0
            for pump in pumps:
                progressed += sum(u.push() for u in uploads if u.connection is pump.connection)
                progressed += pump.pump()
            rounds += 1
            if rounds % 64 == 0:
                memory.sample()
            if progressed:
                last_progress = time.monotonic()
            elif all(u.done for u in uploads) and not any(p.unsent for p in pumps):
                break
            else:
                select.select([c.sock for c in connections], [], [], 0.05)
        # Two PING round trips: the server has read every byte sent, and its answers to them have been read.
        for pump in pumps:
            pump.ping_round_trip()
            pump.ping_round_trip()
        values = stats(server)
        memory.sample()

        held = collections.Counter()
        for u in uploads:
            assert not u.response.ended or status_of(u.response) == RESOURCE_EXHAUSTED, \
                f"stream {u.stream_id} ended with {status_of(u.response)}, not RESOURCE_EXHAUSTED"
            if not u.refused:
                held[id(u.connection)] += u.sent
        total_sent = sum(u.sent for u in uploads)
        slack = MIB
        assert sum(held.values()) <= SERVER_REQUEST_LIMIT + slack, \
            f"{sum(held.values()) / MIB:.1f} MiB sent on streams the server kept (server limit " \
            f"{SERVER_REQUEST_LIMIT // MIB} MiB); {total_sent / MIB:.1f} MiB sent in all"
        for c in connections:
            assert held[id(c)] <= CONNECTION_REQUEST_LIMIT + slack, \
                f"{held[id(c)] / MIB:.1f} MiB sent on one connection's streams the server kept (limit " \
                f"{CONNECTION_REQUEST_LIMIT // MIB} MiB)"
        buffered = counter(values, "buffered_request_bytes")
        assert buffered <= SERVER_REQUEST_LIMIT + slack, f"buffered_request_bytes {buffered}"
        growth = memory.growth_mb()
        assert growth < 120, f"rankd's resident memory grew by {growth:.0f} MB holding partial requests"
    finally:
        for c in connections:
            c.sock.close()
    # A normal call on a fresh connection.
    assert status_of(h2raw.unary("127.0.0.1", server.port, HEALTH_CHECK, h2raw.grpc_frame(b""), timeout_s=20)) == OK
    assert wait_for_stats(server, lambda v: v.get("buffered_request_bytes") == 0).get("buffered_request_bytes") == 0, \
        "request bytes still counted as buffered after every connection closed"


# ---------------------------------------------------------------------------------------------------------------
# 4. Outbound buffering: a client that sends Recommend calls and never reads.
# ---------------------------------------------------------------------------------------------------------------

NEVER_READ_CALLS = 1000
NEVER_READ_WAVE = 20


def test_a_client_that_never_reads_is_bounded_then_closed_by_the_write_timeout(bin_dir, servers, protos):
    """Before: responses piled up in the streams (up to 4 MiB each), and the connection stayed open for ever."""
    # A large queue budget: this test is about output, so admission control must not refuse the calls that
    # produce it.
    server = servers.start_rankd(bin_dir, "--write-timeout", "2", "--queue-budget-ms", "10000")
    memory = MemoryWatch(server.proc.pid)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # A tiny receive buffer (set before connect, so the window scale follows it) fills at once.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", server.port))
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        # Windows as large as HTTP/2 allows: only the unread socket holds the server back.
        conn.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1, h2.settings.SettingCodes.ENABLE_PUSH: 0})
        conn.initiate_connection()
        conn.increment_flow_control_window(2**31 - 1 - 65535)
        sock.sendall(conn.data_to_send())
        body = h2raw.grpc_frame(recommend_request(protos, explain=True).SerializeToString())

        # Waves of calls (~30 KB of response each), the next once the server has dealt with the last, so that each
        # is served well within the surface's latency budget, until the write timeout closes the connection.
        most_buffered = 0
        values = stats(server)
        for _wave in range(NEVER_READ_CALLS // NEVER_READ_WAVE):
            for _call in range(NEVER_READ_WAVE):
                stream_id = conn.get_next_available_stream_id()
                conn.send_headers(stream_id, [(":method", "POST"), (":scheme", "http"), (":path", RECOMMEND),
                                              (":authority", "127.0.0.1"), ("content-type", "application/grpc"),
                                              ("te", "trailers")])
                conn.send_data(stream_id, body, end_stream=True)
            try:
                sock.sendall(conn.data_to_send())
            except OSError:
                break  # closed, or no longer read: either way the waves are over
            values = wait_for_stats(server, lambda v: v.get("active_calls") == 0 or
                                    v.get("closed_write_timeout", 0) >= 1, timeout_s=15, interval_s=0.05)
            memory.sample()
            most_buffered = max(most_buffered, counter(values, "buffered_response_bytes"))
            if counter(values, "closed_write_timeout") >= 1:
                break
        # The write timeout comes at the latest 2 s after the socket stopped taking bytes.
        values = wait_for_stats(server, lambda v: v.get("closed_write_timeout", 0) >= 1, timeout_s=20)
        most_buffered = max(most_buffered, counter(values, "buffered_response_bytes"))
        assert most_buffered <= 8 * MIB, f"buffered_response_bytes reached {most_buffered / MIB:.1f} MiB"
        assert counter(values, "closed_write_timeout") >= 1, f"the client that never reads was not closed: {values}"
        growth = memory.growth_mb()
        assert growth < 40, f"rankd's resident memory grew by {growth:.0f} MB for a client that never reads"
        assert recv_until_closed(sock, 20), "the server did not close the connection of a client that never reads"
    finally:
        sock.close()
    assert health_status(server.address) == "SERVING"
    assert wait_for_stats(server, lambda v: v.get("buffered_response_bytes") == 0).get(
        "buffered_response_bytes") == 0, "response bytes still counted as buffered after the connection closed"


# ---------------------------------------------------------------------------------------------------------------
# 5. Connection management: preface, idle, age, connection limit, PING flood, EMFILE.
# ---------------------------------------------------------------------------------------------------------------

def test_a_connection_that_sends_no_preface_is_closed(bin_dir, servers):
    """Before: a silent connection was kept for ever."""
    server = servers.start_rankd(bin_dir, "--preface-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        assert recv_until_closed(sock, 15), "a connection that never sent the HTTP/2 preface is still open"
    assert counter(stats(server), "closed_preface_timeout") >= 1
    assert health_status(server.address) == "SERVING"


def test_an_idle_connection_gets_goaway_then_is_closed(bin_dir, servers):
    """Before: a connection with no streams was kept for ever."""
    server = servers.start_rankd(bin_dir, "--idle-timeout", "1")
    with h2raw.Connection("127.0.0.1", server.port) as connection:
        goaway = connection.wait_goaway(15)
        assert goaway is not None, "no GOAWAY on a connection with no streams"
        assert goaway.error_code == h2.errors.ErrorCodes.NO_ERROR, f"GOAWAY {goaway.error_code!r}"
        assert read_until_closed(connection, 15), "the idle connection stayed open after its GOAWAY"
    assert counter(stats(server), "closed_idle") >= 1


def test_max_connection_age_sends_goaway_and_lets_the_call_in_flight_finish(bin_dir, servers, protos):
    """Before: connections lived for ever, so clients never rebalanced."""
    server = servers.start_rankd(bin_dir, "--max-connection-age", "1", "--max-connection-age-grace", "5",
                                 "--test-hooks")
    body = h2raw.grpc_frame(rank_request(protos, CANDIDATES).SerializeToString())
    with h2raw.Connection("127.0.0.1", server.port) as connection:
        # Held for 3 s: the 1 s age passes while it runs, and the 5 s grace covers the rest.
        stream_id = connection.send_request(RANK, body, headers=[delay(3000)])
        goaway = connection.wait_goaway(15)
        assert goaway is not None, "no GOAWAY when the connection reached its maximum age"
        assert goaway.error_code == h2.errors.ErrorCodes.NO_ERROR, f"GOAWAY {goaway.error_code!r}"
        response = connection.responses[stream_id]
        assert not response.ended and response.reset_code is None, \
            "the call ended before the GOAWAY: nothing was in flight to test the grace period with"
        assert goaway.last_stream_id >= stream_id, f"GOAWAY last-stream-id {goaway.last_stream_id} drops the call"
        response = connection.wait(stream_id, timeout_s=20)
        assert status_of(response) == OK, f"{status_of(response)}: {response.grpc('grpc-message')}"
        assert read_until_closed(connection, 15), "the aged connection stayed open after its last call"
    assert counter(stats(server), "closed_max_age") >= 1


def test_at_the_connection_limit_silent_connections_make_room_for_a_real_client(bin_dir, servers):
    """Before: 50 silent sockets took every slot and a real client was refused (UNAVAILABLE)."""
    server = servers.start_rankd(bin_dir, "--max-connections", "50")
    silent = []
    try:
        for _ in range(60):
            silent.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        assert health_status(server.address, timeout_s=20) == "SERVING"
        assert counter(stats(server), "evicted_connections") >= 10
    finally:
        for sock in silent:
            sock.close()


def test_a_ping_flood_gets_goaway_enhance_your_calm(bin_dir, servers):
    """Before: every PING was answered, for ever."""
    server = servers.start_rankd(bin_dir)
    pings_sent = 0
    with h2raw.Connection("127.0.0.1", server.port) as connection:
        connection.read_until(lambda: False, 0.2)  # the server's SETTINGS
        closed = False
        for _ in range(100):
            if connection.goaway is not None or closed:
                break
            try:
                connection.conn.ping(struct.pack(">Q", pings_sent))
                connection._flush()
                pings_sent += 1
                closed = not connection._receive_once(0.05)
            except (h2.exceptions.ProtocolError, OSError):
                closed = True
        if connection.goaway is None and not closed:
            connection.wait_goaway(5)
        goaway = connection.goaway
    assert goaway is not None, f"{pings_sent} PINGs with no streams and no GOAWAY"
    assert goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, \
        f"GOAWAY {goaway.error_code!r} ({goaway.additional_data!r})"
    assert goaway.additional_data == b"too_many_pings", goaway.additional_data
    assert counter(stats(server), "closed_too_many_pings") >= 1
    assert health_status(server.address) == "SERVING"


EMFILE_LIMIT = 128
EMFILE_CONNECTIONS = 200


def test_out_of_file_descriptors_accept_backs_off_and_recovers(bin_dir, servers):
    """Before: accept() failed with EMFILE in a busy loop, logging ~200,000 lines a second."""
    server = servers.start_rankd(bin_dir)
    resource.prlimit(server.proc.pid, resource.RLIMIT_NOFILE, (EMFILE_LIMIT, EMFILE_LIMIT))
    offset = server.log_size()
    held = []
    try:
        for _ in range(EMFILE_CONNECTIONS):
            # The kernel completes the handshake from the listen backlog even when rankd cannot accept.
            held.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        time.sleep(3)
        accept_lines = [line for line in server.log_text()[offset:].splitlines() if "accept" in line]
        assert len(accept_lines) <= 5, \
            f"{len(accept_lines)} log lines about accept in 3 s, e.g. {accept_lines[:2]}"
        assert counter(stats(server), "accept_errors") >= 1
    finally:
        for sock in held:
            sock.close()
    assert health_status(server.address, timeout_s=20, wait_for_ready=True) == "SERVING"


# ---------------------------------------------------------------------------------------------------------------
# 6. Response headers nobody may send: a 100 KB grpc-message, 60-80 KB of echoed metadata.
# ---------------------------------------------------------------------------------------------------------------

def test_a_huge_status_message_is_truncated_not_a_hang(rankd, ranking_stub, protos):
    """Before: the trailers with a 100 KB grpc-message could not be sent and the call hung to its deadline."""
    request = rank_request(protos, CANDIDATES)
    request.surface = "s" * 100_000
    with pytest.raises(grpc.RpcError) as raised:
        ranking_stub.Rank(request, timeout=10)
    code = raised.value.code()
    assert code != grpc.StatusCode.DEADLINE_EXCEEDED, "the status with a 100 KB message never reached the client"
    details = (raised.value.details() or "").encode()
    assert len(details) <= 1200, f"{code.name} with a {len(details)}-byte grpc-message"


@pytest.mark.parametrize("echo", [
    [("x-echo-big", "b" * 60_000)],
    [("x-echo-big-1", "b" * 40_000), ("x-echo-big-2", "c" * 40_000)],
], ids=["one-60k-value", "two-40k-values"])
def test_response_metadata_over_the_limit_ends_the_call_at_once(bin_dir, servers, protos, echo):
    """Before: 60 KB went out as it was (grpcio refuses more than 16 KiB); 80 KB could not be sent at all, and the
    call hung until the client gave up."""
    server = servers.start_rankd(bin_dir, "--test-hooks", "--max-header-list-size", "200000",
                                 "--grace-period", "5")
    body = h2raw.grpc_frame(rank_request(protos, CANDIDATES).SerializeToString())
    with h2raw.Connection("127.0.0.1", server.port) as connection:
        # Large enough to decode whatever comes back; the server must keep to its own 16 KiB anyway.
        connection.conn.decoder.max_header_list_size = 1 << 20
        stream_id = connection.send_request(RANK, body, headers=echo)
        response = connection.wait(stream_id, timeout_s=15)
        assert response.reset_code is None, f"stream reset ({response.reset_code}) instead of a status"
        status = response.grpc("grpc-status")
        assert status not in (None, OK, DEADLINE_EXCEEDED), \
            f"grpc-status {status} ({response.grpc('grpc-message')}) for {sum(len(v) for _, v in echo)} bytes " \
            "of response metadata"
        # The connection is still usable.
        second = connection.send_request(RANK, body)
        assert status_of(connection.wait(second, timeout_s=15)) == OK
        offset = server.log_size()
        server.send_signal(signal.SIGTERM)
        assert server.wait_exit(20) == 0, f"exit code {server.proc.returncode}"
    assert "cutting off" not in server.log_text()[offset:], server.log_tail()


# ---------------------------------------------------------------------------------------------------------------
# 7. Test-only metadata: no crash when a deadline beats the handler to the headers; no echo without --test-hooks.
# ---------------------------------------------------------------------------------------------------------------

def test_echo_metadata_with_a_passed_deadline_does_not_crash_the_server(bin_dir, servers, protos):
    """Before: a handler setting response metadata after the deadline timer had sent the status hit a
    precondition and killed rankd (SIGILL)."""
    server = servers.start_rankd(bin_dir, "--test-hooks")
    with grpc.insecure_channel(server.address) as channel:
        stub = protos.ranking_grpc.RankingServiceStub(channel)
        metadata = (("x-echo-a", "1"), delay(5))
        futures = [stub.Rank.future(rank_request(protos, CANDIDATES), metadata=metadata, timeout=0.001)
                   for _ in range(300)]
        codes = collections.Counter(wait_all(futures, 60))
        assert codes["HUNG"] == 0, dict(codes)
        # The client gave up on those at once; handlers still queued may run later. Calls sent after them, run on
        # the same workers, come back only once the server has dealt with the queue ahead.
        for _ in range(5):
            try:
                stub.Rank(rank_request(protos, CANDIDATES), timeout=20)
            except grpc.RpcError as error:
                pytest.fail(f"a normal call after the 1 ms ones failed: {error.code().name} ({error.details()}); "
                            f"rankd exit code {server.proc.poll()}")
    assert server.proc.poll() is None, f"rankd died (exit code {server.proc.returncode})"
    assert health_status(server.address) == "SERVING"
    assert wait_for_stats(server, lambda v: v.get("active_calls") == 0, timeout_s=20).get("active_calls") == 0


def test_echo_metadata_is_ignored_without_test_hooks(bin_dir, servers, protos):
    """Before: any client could have any x-echo-* header reflected by a production server."""
    server = servers.start_rankd(bin_dir)
    with grpc.insecure_channel(server.address) as channel:
        stub = protos.ranking_grpc.RankingServiceStub(channel)
        reply, call = stub.Rank.with_call(rank_request(protos, CANDIDATES), metadata=(("x-echo-foo", "1"),),
                                          timeout=20)
    echoed = [key for key, _ in (call.initial_metadata() or ()) + (call.trailing_metadata() or ())
              if key.startswith("x-echo-")]
    assert not echoed, f"rankd without --test-hooks echoed {echoed}"


# ---------------------------------------------------------------------------------------------------------------
# 8. A deadline is DEADLINE_EXCEEDED, never CANCELLED.
# ---------------------------------------------------------------------------------------------------------------

def test_calls_past_their_deadline_end_deadline_exceeded_never_cancelled(rankd, ranking_stub, protos):
    """Before: a handler that noticed its deadline between pipeline stages answered CANCELLED (~3-15% of calls).

    One call at a time (a burst would rightly meet admission control's RESOURCE_EXHAUSTED), each with a deadline
    of about 1 ms, so it passes at every stage of the ~3 ms pipeline: the handler sees it as it runs."""
    # Raw HTTP/2 first: the client never gives up itself, so every status seen is the server's own. Deadlines
    # from 0.5 to 1.5 ms.
    body = h2raw.grpc_frame(recommend_request(protos).SerializeToString())
    seen = collections.Counter()
    with h2raw.Connection("127.0.0.1", rankd.port) as connection:
        for i in range(500):
            stream_id = connection.send_request(RECOMMEND, body, headers=[("grpc-timeout", f"{500 + 2 * i}u")])
            seen[status_of(connection.wait(stream_id, timeout_s=20))] += 1
    # RESOURCE_EXHAUSTED is admission control's fair answer when handlers told to stop still hold the workers.
    assert seen[DEADLINE_EXCEEDED] >= 1 and set(seen) <= {OK, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED}, \
        f"statuses of 500 calls with ~1 ms deadlines: {dict(seen)}"

    # grpcio with a 1 ms timeout: it also gives up at its own deadline, but must never be told CANCELLED.
    codes = collections.Counter()
    for _ in range(500):
        try:
            list(ranking_stub.Recommend(recommend_request(protos), timeout=0.001))
            codes["OK"] += 1
        except grpc.RpcError as error:
            codes[error.code().name] += 1
    assert set(codes) <= {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}, dict(codes)


# ---------------------------------------------------------------------------------------------------------------
# 9. Deadline timers of finished calls leave the heap.
# ---------------------------------------------------------------------------------------------------------------

def test_finished_calls_leave_no_deadline_timers_behind(bin_dir, servers, tmp_path):
    """Before: a cancelled timer stayed in the heap until its deadline: 20,000 of them for an hour."""
    h2load = shutil.which("h2load")
    if h2load is None:
        pytest.fail("h2load not found: install Debian's nghttp2-client (Scripts/install-deps.sh --test)")
    server = servers.start_rankd(bin_dir)
    body = tmp_path / "health-check.grpc"
    body.write_bytes(h2raw.grpc_frame(b""))
    requests = 20_000
    argv = [h2load, "-n", str(requests), "-c", "4", "-m", "100", "-d", str(body),
            "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", "grpc-timeout: 3600S",
            f"http://{server.address}{HEALTH_CHECK}"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"h2load exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    assert re.search(rf"^requests: .* {requests} succeeded, 0 failed", run.stdout, re.MULTILINE), run.stdout
    pending = counter(stats(server), "pending_timers")
    assert pending < 100, f"{pending} deadline timers pending after {requests} one-hour calls all finished"


# ---------------------------------------------------------------------------------------------------------------
# 10. Admission control: a full queue answers RESOURCE_EXHAUSTED at once; a passed deadline is never run.
# ---------------------------------------------------------------------------------------------------------------

def test_overload_is_refused_at_once_and_nothing_runs_after_its_deadline(bin_dir, servers, protos):
    """Before: every call went to the worker queue with no limit, and one whose deadline passed while it waited
    still started its handler."""
    server = servers.start_rankd(bin_dir, "--workers", "1", "--test-hooks")
    with grpc.insecure_channel(server.address) as channel:
        grpc.channel_ready_future(channel).result(timeout=20)
        stub = protos.ranking_grpc.RankingServiceStub(channel)
        request = rank_request(protos, CANDIDATES)

        # 200 calls of 50 ms each, no deadline, at one worker: most cannot be served within the queue budget.
        before = stats(server)
        futures = [stub.Rank.future(request, metadata=(delay(50),)) for _ in range(200)]
        codes = collections.Counter(wait_all(futures, 120))
        assert codes["HUNG"] == 0, f"calls still running after 120 s: {dict(codes)}"
        assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}, dict(codes)
        assert codes["OK"] >= 1 and codes["RESOURCE_EXHAUSTED"] >= 1, dict(codes)
        after = wait_for_stats(server, lambda v: v.get("running_calls") == 0 and v.get("queued_calls") == 0)
        assert counter(after, "rejected_overload") - counter(before, "rejected_overload") >= 1
        started = counter(after, "handlers_started") - counter(before, "handlers_started")
        assert started == codes["OK"], f"{started} handlers started for {codes['OK']} calls that succeeded"

        # One call holds the only worker for 5 s; ten calls with a 100 ms deadline arrive behind it.
        before = after
        blocker = stub.Rank.future(request, metadata=(delay(5000),))
        running = wait_for_stats(server, lambda v: v.get("running_calls", 0) >= 1, timeout_s=10)
        assert counter(running, "running_calls") >= 1, "the blocking call never started"
        late = [stub.Rank.future(request, metadata=(delay(50),), timeout=0.1) for _ in range(10)]
        late_codes = collections.Counter(wait_all(late, 30))
        assert not blocker.done(), "the blocking call finished early; the late calls were not queued behind it"
        assert set(late_codes) <= {"DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}, dict(late_codes)
        blocker.result(timeout=30)
        after = wait_for_stats(server, lambda v: v.get("running_calls") == 0 and v.get("queued_calls") == 0)
        started = counter(after, "handlers_started") - counter(before, "handlers_started")
        assert started == 1, f"{started} handlers started; only the blocking call may run, the rest were past " \
                             "their deadline when the worker was free"


# ---------------------------------------------------------------------------------------------------------------
# 11. Calls run on the I/O thread that read them when every worker is idle (--inline-max-ms).
# ---------------------------------------------------------------------------------------------------------------

def test_rank_and_recommend_run_on_the_io_thread_when_workers_are_idle_with_the_same_answers(bin_dir, servers,
                                                                                              protos):
    """One call at a time, an idle server runs Rank and Recommend on the I/O thread that read them, with no hand-off
    to a worker and back. A call with the test delay hook (which waits for a cancellation only the I/O thread can
    deliver) and every call of a server started with `--inline-max-ms 0` go to the workers. The answers do not
    depend on where the handler ran."""
    # A debug build's Recommend costs milliseconds: a high limit keeps every call of this test inline.
    inline = servers.start_rankd(bin_dir, "--test-hooks", "--inline-max-ms", "1000")
    handed = servers.start_rankd(bin_dir, "--inline-max-ms", "0")
    answers = {}
    counts = {}
    for name, server in (("inline", inline), ("handed", handed)):
        with grpc.insecure_channel(server.address) as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            stub = protos.ranking_grpc.RankingServiceStub(channel)
            before = stats(server)
            ranked = [stub.Rank(rank_request(protos, CANDIDATES), timeout=20) for _ in range(3)]
            sections = [list(stub.Recommend(recommend_request(protos, limit=5), timeout=20)) for _ in range(3)]
            if name == "inline":
                delayed = stub.Rank(rank_request(protos, CANDIDATES), metadata=(delay(10),), timeout=20)
                assert [item.item_id for item in delayed.items] == [item.item_id for item in ranked[0].items]
            after = wait_for_stats(server, lambda v: v.get("running_calls") == 0 and v.get("queued_calls") == 0)
            counts[name] = (counter(after, "handlers_run_inline") - counter(before, "handlers_run_inline"),
                            counter(after, "handlers_started") - counter(before, "handlers_started"))
            # A stage that overran its budget on a slow machine changes an answer; those are not compared.
            answers[name] = [[item.item_id for item in response.items] if not response.degraded else None
                             for response in ranked]
            answers[name] += [[(section.section, [item.item_id for item in section.items]) for section in answer]
                              if answer and not any(section.degraded for section in answer) else None
                              for answer in sections]
    assert counts["inline"] == (6, 7), f"run inline, started: {counts['inline']}"
    assert counts["handed"] == (0, 6), f"run inline, started: {counts['handed']}"
    pairs = [(a, b) for a, b in zip(answers["inline"], answers["handed"]) if a is not None and b is not None]
    assert pairs, "every answer was degraded"
    assert all(a == b for a, b in pairs), answers
