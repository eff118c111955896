#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzzers into Fuzz/Corpus/<target>/.

Each seed is a valid (or deliberately almost valid) input in the layout its harness reads, described at the top of
Fuzz/<target>/main.swift: real ranking.v1 requests, gRPC Length-Prefixed-Messages, gzip bodies, request header lists,
and HTTP/2 connections (client preface, SETTINGS, HEADERS, DATA) produced by the `h2` package, so that every fuzzer
starts past the formats' magic numbers and length fields.

    python3 Scripts/fuzz-seeds.py           # rewrite the hand-made seeds (files named *.seed), keep the rest

Deterministic: the same script writes the same bytes. Inputs merged in by `Scripts/fuzz.sh --merge` (named by their
SHA-1) are left alone. Needs the `h2` package (Scripts/install-deps.sh --test installs it).
"""
import gzip
import os
import struct
import sys

import h2.config
import h2.connection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "Corpus")

# MARK: protobuf wire format (enough for ranking.v1)


def varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3 | 0) + varint(value)


def field_bytes(number, value):
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def field_double(number, value):
    return varint(number << 3 | 1) + struct.pack("<d", value)


def context(lat, lon, time_ms, market, device, locale, request_id):
    return (
        field_double(1, lat) + field_double(2, lon) + field_varint(3, time_ms) + field_bytes(4, market)
        + field_bytes(5, device) + field_bytes(6, locale) + field_bytes(7, request_id)
    )


def candidate(item_id, features):
    out = field_bytes(1, item_id)
    for key, value in features:
        out += field_bytes(2, field_bytes(1, key) + field_double(2, value))
    return out


RANK_REQUEST = (
    field_bytes(1, "u42") + field_bytes(2, "discovery")
    + field_bytes(3, context(60.1699, 24.9384, 1_700_000_000_000, "hel", "ios", "fi-FI", "req-1"))
    + field_bytes(4, candidate("v1", [("distance_km", 1.5), ("rating", 4.7)]))
    + field_bytes(4, candidate("v2", []))
    + field_bytes(4, candidate("v3", [("rating", -0.0)]))
    + field_varint(5, 10) + field_varint(6, 1) + field_bytes(7, "v9") + field_bytes(7, "v10")
    + field_bytes(8, "p1.10.1700000000000.2a.ff")
)
RANK_REQUEST_MINIMAL = field_bytes(1, "u1") + field_bytes(2, "discovery") + field_bytes(4, candidate("v1", []))
RECOMMEND_REQUEST = (
    field_bytes(1, "u1") + field_bytes(2, "venue_items")
    + field_bytes(3, context(0, 0, 0, "", "android", "en", "")) + field_varint(4, 25) + field_varint(5, 1)
    + field_bytes(6, "i3") + field_bytes(7, "v12")
)
RECOMMEND_REQUEST_MINIMAL = field_bytes(1, "u1") + field_bytes(2, "discovery") + field_varint(4, (1 << 64) - 1)


def frame(message, compressed=False):
    """A gRPC Length-Prefixed-Message."""
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(message)) + message


def gz(data):
    return gzip.compress(data, mtime=0)


# MARK: HTTP/2 connections


def grpc_headers(path, extra=(), content_type="application/grpc"):
    return [
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
        ("content-type", content_type), ("te", "trailers"), ("user-agent", "fuzz-seeds/1.0"),
    ] + list(extra)


class Client:
    """A client-side h2 connection whose bytes are collected instead of sent."""

    def __init__(self):
        config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                           normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.out = self.conn.data_to_send()

    def call(self, stream_id, path, messages, extra=(), end=True, content_type="application/grpc"):
        self.conn.send_headers(stream_id, grpc_headers(path, extra, content_type), end_stream=not messages and end)
        for index, message in enumerate(messages):
            self.conn.send_data(stream_id, message, end_stream=end and index == len(messages) - 1)
        return self

    def raw(self, data):
        self.out += self.conn.data_to_send() + data
        return self

    def bytes(self):
        return self.out + self.conn.data_to_send()


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FLAG_PREFACE = 1
FLAG_LINGER = 2


def connection_seed(client, flags=FLAG_PREFACE | FLAG_LINGER):
    data = client.bytes()
    assert data.startswith(PREFACE)
    if flags & FLAG_PREFACE:
        data = data[len(PREFACE):]
    return bytes([flags]) + data


def raw_frame(kind, flags, stream_id, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream_id) + payload


def connection_seeds():
    seeds = {}
    seeds["unary-echo"] = connection_seed(Client().call(1, "/fuzz.Test/Unary", [frame(RANK_REQUEST)]))
    seeds["unary-echo-raw-preface"] = connection_seed(
        Client().call(1, "/fuzz.Test/Unary", [frame(RANK_REQUEST_MINIMAL)]), flags=FLAG_LINGER)
    seeds["unary-no-linger"] = connection_seed(
        Client().call(1, "/fuzz.Test/Unary", [frame(b"hello")]), flags=FLAG_PREFACE)
    seeds["server-stream"] = connection_seed(
        Client().call(1, "/fuzz.Test/ServerStream", [frame(b"\x03" + RECOMMEND_REQUEST)],
                      extra=[("grpc-timeout", "1S"), ("grpc-accept-encoding", "identity,gzip")]))
    seeds["client-stream-split-message"] = connection_seed(
        Client().call(1, "/fuzz.Test/ClientStream", [frame(b"abc")[:3], frame(b"abc")[3:] + frame(b"defg")]))
    seeds["bidi-gzip"] = connection_seed(
        Client().call(1, "/fuzz.Test/Bidi", [frame(gz(b"x" * 100), compressed=True), frame(b"plain message")],
                      extra=[("grpc-encoding", "gzip"), ("grpc-accept-encoding", "gzip")]))
    seeds["fail-with-metadata"] = connection_seed(
        Client().call(1, "/fuzz.Test/Fail", [frame("caf\u00e9 %".encode())],
                      extra=[("x-echo-a", "b"), ("x-echo-trace-bin", "AAEC"), ("grpc-timeout", "100m")]))
    seeds["unknown-method-and-service"] = connection_seed(
        Client().call(1, "/fuzz.Test/Nope", [frame(b"")]).call(3, "/ranking.v1.RankingService/Rank",
                                                                 [frame(RANK_REQUEST)]))
    seeds["several-streams"] = connection_seed(
        Client().call(1, "/fuzz.Test/Unary", [frame(b"one")]).call(3, "/fuzz.Test/ServerStream", [frame(b"\x01two")])
        .call(5, "/fuzz.Test/Bidi", [frame(b"three")], end=False))
    seeds["rejections"] = connection_seed(
        Client().call(1, "/fuzz.Test/Unary", [frame(b"x")], content_type="text/plain")
        .call(3, "/fuzz.Test/Unary", [frame(b"x")], extra=[("grpc-encoding", "snappy")])
        .call(5, "/fuzz.Test/Unary", [frame(b"x")], extra=[("grpc-timeout", "1Z")])
        .call(7, "/fuzz.Test/Unary", [frame(b"x")], extra=[("x-bad-bin", "@@@")])
        .call(9, "/fuzz.Test/Unary", [b"\x07\x00\x00\x00\x01x"])
        .call(11, "/fuzz.Test/Unary", [frame(b"x", compressed=True)]))
    seeds["truncated-and-oversized"] = connection_seed(
        Client().call(1, "/fuzz.Test/Unary", [frame(b"abcdef")[:7]])
        .call(3, "/fuzz.Test/Unary", [b"\x00\x7f\xff\xff\xff"]))
    # Control frames: PING, WINDOW_UPDATE, RST_STREAM on an open stream, PRIORITY, unknown type, GOAWAY.
    client = Client().call(1, "/fuzz.Test/Bidi", [frame(b"open")], end=False)
    seeds["control-frames"] = connection_seed(client.raw(
        raw_frame(6, 0, 0, b"12345678") + raw_frame(8, 0, 0, struct.pack(">I", 1000))
        + raw_frame(2, 0, 1, struct.pack(">IB", 0, 16)) + raw_frame(0xFA, 0, 0, b"ext")
        + raw_frame(3, 0, 1, struct.pack(">I", 8)) + raw_frame(7, 0, 0, struct.pack(">II", 0, 0))))
    # A header block split across HEADERS and CONTINUATION.
    client = Client()
    encoded = client.conn.encoder.encode(grpc_headers("/fuzz.Test/Unary", [("x-echo-long", "v" * 40)]))
    half = len(encoded) // 2
    seeds["continuation"] = connection_seed(client.raw(
        raw_frame(1, 0, 1, encoded[:half]) + raw_frame(9, 4, 1, encoded[half:])
        + raw_frame(0, 1, 1, frame(b"after continuation"))))
    seeds["not-http2"] = b"\x00GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    return seeds


# MARK: Per-target seeds


def deframer_seed(config, payload, splits=()):
    return bytes([config, len(splits)]) + b"".join(struct.pack(">H", s) for s in splits) + payload


END, GZIP, GZIP_BOTH, LIMIT_4M, LIMIT_64 = 0x10, 0x01, 0x03, 0x0C, 0x00


def deframer_seeds():
    two = frame(RANK_REQUEST) + frame(b"")
    return {
        "rank-request": deframer_seed(END | LIMIT_4M, frame(RANK_REQUEST)),
        "rank-request-split-in-prefix": deframer_seed(END | LIMIT_4M, two, splits=(1, 3, 5, 40)),
        "two-messages-open": deframer_seed(LIMIT_4M, two, splits=(7,)),
        "gzip-message": deframer_seed(END | LIMIT_4M | GZIP, frame(gz(RANK_REQUEST), compressed=True) + frame(b"id")),
        "gzip-both-ways": deframer_seed(END | LIMIT_4M | GZIP_BOTH, frame(gz(b"a" * 300), compressed=True), (9,)),
        "gzip-bomb-over-limit": deframer_seed(END | 0x08 | GZIP, frame(gz(bytes(1 << 20)), compressed=True)),
        "explicit-identity-compressed-flag": deframer_seed(END | LIMIT_4M | 0x02, frame(b"xyz", compressed=True)),
        "truncated": deframer_seed(END | LIMIT_4M, frame(RANK_REQUEST)[:20]),
        "over-limit": deframer_seed(END | LIMIT_64, frame(bytes(65))),
        "bad-flag": deframer_seed(END | LIMIT_4M, b"\x02\x00\x00\x00\x00"),
        "end-on-headers": deframer_seed(END | 0x20 | LIMIT_4M, b""),
        "data-after-end": deframer_seed(0x20 | LIMIT_4M, frame(b"late")),
        "gzip-only-valid": bytes([0x40, 7]) + gz(RANK_REQUEST),
        "gzip-only-limit": bytes([0x40, 3]) + gz(bytes(5000)),
        "gzip-only-corrupt": bytes([0x40, 7]) + gz(b"hello world")[:-5] + b"\x00\x00\x00\x00\x00",
        "gzip-only-trailing": bytes([0x40, 7]) + gz(b"hello") + b"extra",
    }


def wire_parser_seeds():
    def mode(n, data):
        return bytes([n]) + (data.encode() if isinstance(data, str) else data)

    seeds = {}
    for index, value in enumerate(["1S", "100m", "99999999H", "0n", "12345678u", "5M", "1x", "123456789S", "-1S"]):
        seeds[f"timeout-{index}"] = mode(0, value)
    for index, value in enumerate([1, 1_000_000_000, (1 << 63) - 1, 99_999_999 * 1000 + 1, -5]):
        seeds[f"timeout-encode-{index}"] = mode(1, struct.pack(">q", value))
    for index, value in enumerate(["hello%20world%", "caf\u00e9 %zz %4", "%E2%9C%93 ok", "100%"]):
        seeds[f"percent-{index}"] = mode(2, value)
    for index, value in enumerate(["AAEC", "AAE=", "AAE", "A", "AA==", "@@@@", "AB==", "AAECAw", "===="]):
        seeds[f"base64-{index}"] = mode(3, value)
    seeds["base64-roundtrip"] = mode(4, bytes(range(20)))
    for index, value in enumerate(["gzip", " GZIP ,identity, deflate,gzip", "13", "017", "99"]):
        seeds[f"encoding-{index}"] = mode(5, value)
    request = "\n".join(f"{name}={value}" for name, value in grpc_headers("/ranking.v1.RankingService/Rank", [
        ("grpc-timeout", "1S"), ("grpc-encoding", "gzip"), ("grpc-accept-encoding", "identity,gzip"),
        ("x-echo-a", "b"), ("x-trace-bin", "AAEC, AAE="), ("Upper", "dropped"), ("x-ctl", "bad\x01value"),
    ]))
    seeds["headers-valid"] = mode(6, request)
    seeds["headers-get"] = mode(6, request.replace(":method=POST", ":method=GET"))
    seeds["headers-content-type"] = mode(6, request.replace("content-type=application/grpc", "content-type=text/html"))
    seeds["headers-bad-timeout"] = mode(6, request.replace("grpc-timeout=1S", "grpc-timeout=1Z"))
    seeds["headers-snappy"] = mode(6, request.replace("grpc-encoding=gzip", "grpc-encoding=snappy"))
    seeds["headers-bad-bin"] = mode(6, request.replace("x-trace-bin=AAEC", "x-trace-bin=A"))
    seeds["headers-bad-path"] = mode(6, request.replace("/ranking.v1.RankingService/Rank", "/a/b/c"))
    seeds["metadata-name"] = mode(7, "abc-_.09")
    seeds["metadata-bin-list"] = mode(7, "AAEC,AAE=, AAE ,@")
    return seeds


def contract_seeds():
    return {
        "rank-request": b"\x00" + RANK_REQUEST,
        "rank-request-minimal": b"\x00" + RANK_REQUEST_MINIMAL,
        "rank-request-empty": b"\x00",
        "recommend-request": b"\x01" + RECOMMEND_REQUEST,
        "recommend-request-minimal": b"\x01" + RECOMMEND_REQUEST_MINIMAL,
        "recommend-request-unknown-fields": b"\x01" + RECOMMEND_REQUEST + field_bytes(99, "ext") + field_varint(98, 1),
        # Field number 0 in a two-byte tag: protobuf-c 1.4 accepts it (see Fuzz/contract/main.swift).
        "rank-request-field-number-zero": b"\x00" + field_bytes(1, "u1") + b"\x80\x00\x0a" + field_varint(6, 1),
    }


def main():
    targets = {
        "deframer": deframer_seeds(),
        "wire-parsers": wire_parser_seeds(),
        "contract": contract_seeds(),
        "connection": connection_seeds(),
    }
    for target, seeds in targets.items():
        directory = os.path.join(CORPUS, target)
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".seed"):
                os.remove(os.path.join(directory, name))
        for name, data in sorted(seeds.items()):
            with open(os.path.join(directory, name + ".seed"), "wb") as out:
                out.write(data)
        print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
