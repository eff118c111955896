"""Starting, watching and stopping the server processes the integration tests talk to.

Every wait here is bounded, and every process started is stopped by whoever started it (the pytest fixtures
register `stop` as a finalizer), so a failing test never leaves a server behind.
"""

import os
import re
import select
import signal
import subprocess
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

LISTEN_TIMEOUT_S = 60.0
SERVING_TIMEOUT_S = 60.0
STOP_GRACE_S = 20.0
LOG_WAIT_S = 15.0


class ServerError(RuntimeError):
    """The server did not start, did not become healthy, or misbehaved while stopping."""


class ServerProcess:
    """One server process: its address, its stderr log on disk, and how to stop it.

    The line `<name> listening on 127.0.0.1:<port>` on stdout is the signal that the socket is bound; the port
    comes from it because the server picks a free one (`--port 0`).
    """

    def __init__(self, argv, log_path, banner_name):
        self.argv = list(argv)
        self.log_path = log_path
        self.banner_name = banner_name
        self.port = None
        self.admin_port = None
        self.proc = None
        self._log_file = None
        self._stdout_tail = b""

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=self._log_file, stdin=subprocess.DEVNULL,
            start_new_session=True)
        self.port = self._read_port()
        return self

    def _read_port(self):
        pattern = re.compile(rb"^" + re.escape(self.banner_name.encode()) +
                             rb" listening on 127\.0\.0\.1:(\d+)\s*$", re.MULTILINE)
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                self._stdout_tail += chunk
                match = pattern.search(self._stdout_tail)
                if match:
                    # The admin port (rankd's, when it has one) is announced before the gRPC port.
                    admin = re.search(rb"^" + re.escape(self.banner_name.encode()) +
                                      rb" admin listening on 127\.0\.0\.1:(\d+)\s*$", self._stdout_tail, re.MULTILINE)
                    if admin:
                        self.admin_port = int(admin.group(1))
                    return int(match.group(1))
            elif self.proc.poll() is not None:
                break
        self.stop()
        raise ServerError(
            f"{self.argv[0]} did not print '{self.banner_name} listening on 127.0.0.1:<port>' within "
            f"{LISTEN_TIMEOUT_S:.0f} s (exit code {self.proc.returncode}); stdout: {self._stdout_tail[-500:]!r}; "
            f"log tail: {self.log_tail()}")

    def wait_serving(self, service="", timeout_s=SERVING_TIMEOUT_S):
        """Polls grpc.health.v1.Health/Check until SERVING; NOT_SERVING is expected while demo data loads."""
        deadline = time.monotonic() + timeout_s
        last = None
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ServerError(f"server exited with {self.proc.returncode} before SERVING: {self.log_tail()}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                    last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError as error:
                    last = f"{error.code()}: {error.details()}"
                time.sleep(0.1)
        raise ServerError(f"not SERVING within {timeout_s:.0f} s; last answer: {last}; log tail: {self.log_tail()}")

    def send_signal(self, signum):
        self.proc.send_signal(signum)

    def wait_exit(self, timeout_s=STOP_GRACE_S):
        """Returns the exit code, or None when the process is still running after timeout_s."""
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """Idempotent: SIGTERM, a bounded grace period, then SIGKILL of the whole process group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait_exit(STOP_GRACE_S) is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def stdout_text(self):
        """What the server printed on stdout up to its listening line."""
        return self._stdout_tail.decode("utf-8", "replace")

    def log_text(self):
        try:
            with open(self.log_path, "rb") as log:
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=20):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_log_line(self, predicate, timeout_s=LOG_WAIT_S, start_offset=0):
        """Waits for a log line (after start_offset characters) that satisfies predicate; returns it or None."""
        deadline = time.monotonic() + timeout_s
        while True:
            for line in self.log_text()[start_offset:].splitlines():
                if predicate(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def log_size(self):
        return len(self.log_text())


class RedisProcess:
    """A redis-server of the test's own on a free 127.0.0.1 port, without persistence; `kill` ends it as a crash
    would and `start` brings it back on the same port. Debian's redis-server is installed by
    Scripts/install-deps.sh --test; without it the test fails rather than skips."""

    def __init__(self, directory, port):
        self.directory = directory
        self.port = port
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self):
        import shutil
        executable = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(executable, os.X_OK):
            raise ServerError("redis-server not found: install Debian's redis-server (Scripts/install-deps.sh --test)")
        log = open(os.path.join(self.directory, f"redis-{self.port}.log"), "ab")
        self.proc = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"redis-server on port {self.port} did not answer PING within 10 s")

    def ping(self):
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
