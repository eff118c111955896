"""A raw HTTP/2 client (the `h2` package over a plain socket) for what grpcio will not send.

grpcio always sends well-formed gRPC, so the tests that need a wrong content-type, an unsupported
grpc-encoding, a hand-made compressed frame or a precisely timed RST_STREAM speak HTTP/2 themselves.
"""

import gzip
import socket
import struct
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import hpack

IO_TIMEOUT_S = 30.0


def grpc_frame(message, compressed=False):
    """The gRPC length-prefixed message: 1 byte compressed flag, 4 bytes big-endian length, the bytes."""
    return struct.pack(">BI", 1 if compressed else 0, len(message)) + message


def parse_grpc_frames(body):
    """Splits a response body into (compressed, payload) pairs; raises ValueError on a truncated frame."""
    frames = []
    offset = 0
    while offset < len(body):
        if len(body) - offset < 5:
            raise ValueError(f"truncated gRPC frame header at byte {offset} of {len(body)}")
        flag, length = struct.unpack_from(">BI", body, offset)
        offset += 5
        if len(body) - offset < length:
            raise ValueError(f"gRPC frame says {length} bytes but only {len(body) - offset} follow")
        frames.append((flag == 1, body[offset:offset + length]))
        offset += length
    return frames


def decode_grpc_frames(body, encoding):
    """The messages of a response body, decompressed with the response's grpc-encoding where flagged."""
    messages = []
    for compressed, payload in parse_grpc_frames(body):
        if compressed:
            if encoding != "gzip":
                raise ValueError(f"compressed frame with grpc-encoding {encoding!r}")
            payload = gzip.decompress(payload)
        messages.append(payload)
    return messages


def hpack_integer(value, prefix_bits, flags=0):
    """An HPACK integer (RFC 7541 section 5.1) with an N-bit prefix; `flags` fills the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([flags | value])
    out = [flags | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def amplified_header_block(path, name, value, repeats):
    """A request header block that costs the sender little and the receiver much: `name: value` is sent once as a
    literal with incremental indexing (RFC 7541 section 6.2.1), which makes it dynamic-table entry 62 (it must fit
    the default 4096-byte table, so name + value + 32 <= 4096), then referenced `repeats` more times with one-byte
    indexed fields (0xBE). The block is about len(value) + repeats bytes; it decodes to (repeats + 1) * len(value).
    """
    assert len(name) + len(value) + 32 <= 4096, "the entry must fit the default dynamic table"
    block = hpack.Encoder().encode([(":method", "POST"), (":scheme", "http"), (":path", path),
                                    (":authority", "127.0.0.1"), ("content-type", "application/grpc"),
                                    ("te", "trailers")])
    name, value = name.encode(), value.encode()
    block += hpack_integer(0, 6, 0x40) + hpack_integer(len(name), 7) + name + hpack_integer(len(value), 7) + value
    return block + b"\xbe" * repeats


class _FixedBlockEncoder:
    """Stands in for h2's HPACK encoder for one HEADERS frame: returns a block encoded by the caller."""

    def __init__(self, block):
        self.block = block

    def encode(self, headers):
        return self.block


class Response:
    """What came back on one stream: headers, body bytes, trailers, and whether it was reset."""

    def __init__(self):
        self.headers = {}
        self.body = b""
        self.trailers = {}
        self.reset_code = None
        self.ended = False

    @property
    def status(self):
        return int(self.headers.get(":status", "0"))

    def grpc(self, name):
        """A gRPC header or trailer; a trailers-only response carries grpc-status in its only HEADERS frame."""
        return self.trailers.get(name, self.headers.get(name))


class _GracefulGoawayConnection(h2.connection.H2Connection):
    """h2 closes the whole connection on any GOAWAY; RFC 9113 section 6.8 lets streams up to its last-stream-id
    finish, which is exactly what the graceful-shutdown tests wait for, so a NO_ERROR GOAWAY keeps it open."""

    def _receive_goaway_frame(self, frame):
        frames, events = super()._receive_goaway_frame(frame)
        if frame.error_code == h2.errors.ErrorCodes.NO_ERROR:
            self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return frames, events


class Connection:
    """One cleartext HTTP/2 connection (prior knowledge, as gRPC uses) to host:port."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=IO_TIMEOUT_S)
        self.conn = _GracefulGoawayConnection(config=h2.config.H2Configuration(client_side=True,
                                                                                 header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.responses = {}
        self.pings_acked = set()
        self.goaway = None
        self._flush()

    def close(self):
        try:
            self.conn.close_connection()
            self._flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_request(self, path, body, headers=(), end_stream=True, content_type="application/grpc"):
        """Opens a stream with a POST to path, sends body (already framed) and returns the stream id."""
        stream_id = self.conn.get_next_available_stream_id()
        request_headers = [(":method", "POST"), (":scheme", "http"), (":path", path),
                           (":authority", "127.0.0.1")]
        if content_type is not None:
            request_headers.append(("content-type", content_type))
        request_headers.append(("te", "trailers"))
        request_headers.extend(headers)
        self.conn.send_headers(stream_id, request_headers, end_stream=False)
        self.responses[stream_id] = Response()
        self._send_body(stream_id, body, end_stream)
        return stream_id

    def _send_body(self, stream_id, body, end_stream):
        view = memoryview(body)
        deadline = time.monotonic() + IO_TIMEOUT_S
        while True:
            window = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
            if window > 0 or not view:
                chunk = view[:window]
                view = view[len(chunk):]
                last = end_stream and not view
                if chunk or last:
                    self.conn.send_data(stream_id, bytes(chunk), end_stream=last)
                    self._flush()
                if not view:
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError("peer did not open its flow-control window")
            self._receive_once()

    def send_header_block(self, block, path="/", end_stream=False):
        """Opens a stream whose HEADERS (and CONTINUATION) frames carry `block`, an HPACK block the caller encoded
        (see amplified_header_block); h2 splits it into frames as usual. The peer's dynamic table then differs from
        what h2's encoder believes, so send no further headers on this connection. Returns the stream id."""
        stream_id = self.conn.get_next_available_stream_id()
        encoder = self.conn.encoder
        self.conn.encoder = _FixedBlockEncoder(block)
        try:
            # These only pass h2's own header validation; the bytes on the wire are `block`.
            self.conn.send_headers(stream_id, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                               (":authority", "127.0.0.1")], end_stream=end_stream)
        finally:
            self.conn.encoder = encoder
        self.responses[stream_id] = Response()
        self._flush()
        return stream_id

    def read_until(self, predicate, timeout_s=IO_TIMEOUT_S):
        """Reads (and handles) frames until predicate() is true, the peer closes, or timeout_s passes; returns
        predicate()."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._receive_once(remaining):
                break
        return predicate()

    def reset(self, stream_id, error_code=h2.errors.ErrorCodes.CANCEL):
        self.conn.reset_stream(stream_id, error_code=error_code)
        self._flush()

    def ping_round_trip(self, timeout_s=IO_TIMEOUT_S):
        """Sends PING and waits for its ACK: the peer has read every frame sent before it."""
        payload = struct.pack(">Q", int(time.monotonic_ns()) & 0xFFFFFFFFFFFFFFFF)
        self.conn.ping(payload)
        self._flush()
        deadline = time.monotonic() + timeout_s
        while payload not in self.pings_acked:
            if time.monotonic() >= deadline:
                raise TimeoutError("no PING ACK")
            self._receive_once(deadline - time.monotonic())

    def wait_goaway(self, timeout_s=IO_TIMEOUT_S):
        """Reads until GOAWAY arrives or the peer closes the connection; returns the GOAWAY event or None."""
        deadline = time.monotonic() + timeout_s
        while self.goaway is None and time.monotonic() < deadline:
            if not self._receive_once(deadline - time.monotonic()):
                break
        return self.goaway

    def wait(self, stream_id, timeout_s=IO_TIMEOUT_S):
        """Reads until the stream has ended or been reset; returns its Response."""
        deadline = time.monotonic() + timeout_s
        response = self.responses[stream_id]
        while not (response.ended or response.reset_code is not None):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"stream {stream_id} did not end within {timeout_s} s")
            if not self._receive_once(deadline - time.monotonic()):
                break
        return response

    def _receive_once(self, timeout_s=IO_TIMEOUT_S):
        self.sock.settimeout(max(0.01, timeout_s))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        if not data:
            for response in self.responses.values():
                if not response.ended and response.reset_code is None:
                    response.reset_code = "connection closed"
            return False
        for event in self.conn.receive_data(data):
            self._handle(event)
        self._flush()
        return True

    def _handle(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            self.responses[event.stream_id].headers = dict(event.headers)
        elif isinstance(event, h2.events.TrailersReceived):
            self.responses[event.stream_id].trailers = dict(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.responses[event.stream_id].body += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.responses[event.stream_id].ended = True
        elif isinstance(event, h2.events.StreamReset):
            if event.stream_id in self.responses:
                self.responses[event.stream_id].reset_code = event.error_code
        elif isinstance(event, h2.events.PingAckReceived):
            self.pings_acked.add(event.ping_data)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event


def unary(host, port, path, body, headers=(), content_type="application/grpc", timeout_s=IO_TIMEOUT_S):
    """Sends one request on a fresh connection and returns the finished Response."""
    with Connection(host, port) as connection:
        stream_id = connection.send_request(path, body, headers=headers, content_type=content_type)
        return connection.wait(stream_id, timeout_s)
