#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/: small valid and slightly broken inputs
that show each target the shape of the protocol, so the fuzzer starts from real messages instead
of guessing JSON keys and length prefixes. Deterministic; rerun after changing it:

    python3 fuzz/make_corpus.py

MessagePack is encoded by the few lines below (the subset nlohmann/json writes), so the script
needs nothing beyond the standard library.
"""
import json
import pathlib
import shutil
import struct

MAGIC = 0x3BEF5C
JSON_TYPE = "application/json"
MSGPACK_TYPE = "application/msgpack"
MAX_SEED = 4096


def msgpack(value):
    if value is None:
        return b"\xc0"
    if value is True or value is False:
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if 0 <= value < 0x80:
            return bytes([value])
        if -32 <= value < 0:
            return struct.pack(">b", value)
        if value >= 0:
            for tag, fmt, limit in ((0xCC, ">B", 1 << 8), (0xCD, ">H", 1 << 16), (0xCE, ">I", 1 << 32), (0xCF, ">Q", 1 << 64)):
                if value < limit:
                    return bytes([tag]) + struct.pack(fmt, value)
        for tag, fmt, bits in ((0xD0, ">b", 7), (0xD1, ">h", 15), (0xD2, ">i", 31), (0xD3, ">q", 63)):
            if value >= -(1 << bits):
                return bytes([tag]) + struct.pack(fmt, value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        value = value.encode()
        n = len(value)
        head = bytes([0xA0 | n]) if n < 32 else b"\xd9" + bytes([n]) if n < 256 else b"\xda" + struct.pack(">H", n)
        return head + value
    if isinstance(value, bytes):  # bin 8
        return b"\xc4" + bytes([len(value)]) + value
    if isinstance(value, list):
        head = bytes([0x90 | len(value)]) if len(value) < 16 else b"\xdc" + struct.pack(">H", len(value))
        return head + b"".join(msgpack(v) for v in value)
    if isinstance(value, dict):
        head = bytes([0x80 | len(value)]) if len(value) < 16 else b"\xde" + struct.pack(">H", len(value))
        # nlohmann/json keeps object keys sorted, so that is the order its encoder writes.
        return head + b"".join(msgpack(k) + msgpack(value[k]) for k in sorted(value))
    raise TypeError(value)


def json_bytes(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


ENCODE = {JSON_TYPE: json_bytes, MSGPACK_TYPE: msgpack}
SHORT = {JSON_TYPE: "json", MSGPACK_TYPE: "msgpack"}


def option(codec_type=MSGPACK_TYPE, magic=MAGIC, **extra):
    return json_bytes({"magic_number": magic, "codec_type": codec_type, **extra})


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def header(service_method="Foo.Sum", seq=7, error=""):
    return {"service_method": service_method, "seq": seq, "error": error}


def request(codec_type, seq, body=None, service_method="Foo.Sum"):
    encode = ENCODE[codec_type]
    body = f"geerpc req {seq}" if body is None else body
    return frame(encode(header(service_method, seq))) + frame(encode(body))


def stream(codec_type, *requests):
    return option(codec_type) + b"\n" + b"".join(requests)


HEADERS = {
    "valid": header(),
    "error_set": header("Foo.Sum", 3, "cannot decode body"),
    "seq_zero_empty_method": header("", 0),
    "seq_max": header("Arith.Multiply", (1 << 64) - 1),
    "unicode_method": header("Serv\u00efce.M\u00e9thod\u2603", 42),
    "missing_error": {"service_method": "Foo.Sum", "seq": 1},
    "seq_is_string": {"service_method": "Foo.Sum", "seq": "1", "error": ""},
    "extra_field": {**header(), "trace": [1, 2, 3]},
}

BODIES = {
    "string": "geerpc req 7",
    "null": None,
    "args_object": {"num1": 3, "num2": 4},
    "mixed_array": [0, -1, 127, 128, -33, 65535, 1 << 40, -(1 << 40), 2.5, True, False, None, "", "x" * 40],
    "nested": {"a": [{"b": [{"c": []}]}], "d": {}},
    "unicode": "h\u00e9llo \u2603 \U0001F600",
}


def seeds():
    corpus = {}

    corpus["fuzz_option"] = {
        "valid_msgpack": option(MSGPACK_TYPE),
        "valid_json": option(JSON_TYPE),
        "bad_magic": option(JSON_TYPE, magic=0x123456),
        "unknown_codec": option("application/gob"),
        "with_timeouts": option(JSON_TYPE, connect_timeout=10000000000, handle_timeout=0),
        "spaced_keys_reordered": b'{ "codec_type" : "application/msgpack", "magic_number" : 3927900 }',
        "magic_is_string": b'{"magic_number":"3927900","codec_type":"application/json"}',
        "not_an_object": b"[3927900,\"application/json\"]",
        "truncated": option(JSON_TYPE)[:25],
    }

    frames = {}
    for codec_type in (JSON_TYPE, MSGPACK_TYPE):
        short = SHORT[codec_type]
        frames[f"option_and_request_{short}"] = stream(codec_type, request(codec_type, 1))
    frames["empty_frame"] = option() + b"\n" + frame(b"") + frame(b"x")
    frames["truncated_frame"] = option() + b"\n" + struct.pack(">I", 64) + b"partial"
    frames["truncated_length"] = option() + b"\n" + b"\x00\x00"
    frames["oversized_length"] = option() + b"\n" + b"\x7f\xff\xff\xff"
    frames["just_over_64k"] = option() + b"\n" + struct.pack(">I", 64 * 1024 + 1) + b"ab"
    frames["no_newline"] = option()
    frames["long_line"] = b"{" + b" " * 1100 + b"}\n" + frame(b"after")
    frames["frames_without_line"] = frame(b"one") + frame(b"two")
    corpus["fuzz_frames"] = frames

    for codec_type in (JSON_TYPE, MSGPACK_TYPE):
        short = SHORT[codec_type]
        encode = ENCODE[codec_type]
        corpus[f"fuzz_header_{short}"] = {name: encode(h) for name, h in HEADERS.items()}
        corpus[f"fuzz_body_{short}"] = {name: encode(b) for name, b in BODIES.items()}
    corpus["fuzz_header_json"]["truncated"] = json_bytes(header())[:20]
    corpus["fuzz_header_json"]["escapes"] = b'{"error":"\\"\\\\\\/\\b\\f\\n\\r\\t","seq":7,"service_method":"\\u0046\\ud83d\\ude00"}'
    corpus["fuzz_header_msgpack"]["truncated"] = msgpack(header())[:20]
    corpus["fuzz_header_msgpack"]["map16"] = b"\xde\x00\x03" + msgpack(header())[1:]
    corpus["fuzz_body_json"]["truncated"] = json_bytes(BODIES["mixed_array"])[:30]
    corpus["fuzz_body_json"]["oops"] = b"{oops"
    corpus["fuzz_body_msgpack"]["truncated"] = msgpack(BODIES["mixed_array"])[:30]
    # Nesting deep enough to matter to a decoder that recurses per level (see fuzz_util.cpp's stack
    # limit), small enough to be a seed.
    corpus["fuzz_body_json"]["deep_nesting"] = b"[" * 1500 + b"]" * 1500
    corpus["fuzz_body_msgpack"]["deep_nesting"] = b"\x91" * 3000 + b"\xc0"
    corpus["fuzz_body_msgpack"]["bin_float32_ext"] = (
        b"\x93" + msgpack(b"\x00\x01\xff") + b"\xca\x3f\xc0\x00\x00" + b"\xd4\x01\x2a"
    )

    requests = {}
    for codec_type in (JSON_TYPE, MSGPACK_TYPE):
        short = SHORT[codec_type]
        encode = ENCODE[codec_type]
        requests[f"two_requests_{short}"] = stream(codec_type, request(codec_type, 1), request(codec_type, 2, {"num1": 3, "num2": 4}))
        requests[f"bad_body_then_request_{short}"] = stream(
            codec_type, frame(encode(header("Foo.Sum", 3))) + frame(b"\xc1{oops"), request(codec_type, 4)
        )
        requests[f"bad_header_{short}"] = stream(codec_type, frame(b"hello"))
        requests[f"truncated_body_{short}"] = stream(codec_type, request(codec_type, 5)[:-3])
        requests[f"oversized_length_{short}"] = stream(codec_type, request(codec_type, 6), b"\x7f\xff\xff\xff")
    requests["deep_body_msgpack"] = stream(MSGPACK_TYPE, frame(msgpack(header("Foo.Sum", 8))) + frame(b"\x91" * 3000 + b"\xc0"))
    requests["deep_body_json"] = stream(JSON_TYPE, frame(json_bytes(header("Foo.Sum", 8))) + frame(b"[" * 1800 + b"]" * 1800))
    requests["bad_magic"] = option(magic=0x123456) + b"\n" + request(MSGPACK_TYPE, 1)
    requests["unknown_codec"] = option("application/gob") + b"\n" + request(MSGPACK_TYPE, 1)
    requests["option_only"] = option(JSON_TYPE) + b"\n"
    corpus["fuzz_request"] = requests

    # Day 5 on: HTTP before the RPC protocol (CONNECT), and the debug page.
    def connect(rest=b"", path=b"/_geerpc_", method=b"CONNECT", version=b"1.0"):
        return method + b" " + path + b" HTTP/" + version + b"\r\n\r\n" + rest

    corpus["fuzz_http_server"] = {
        "connect_then_requests_json": connect(requests["two_requests_json"]),
        "connect_then_requests_msgpack": connect(requests["two_requests_msgpack"]),
        "connect_then_bad_body": connect(requests["bad_body_then_request_json"]),
        "connect_only": connect(),
        "connect_with_headers": b"CONNECT /_geerpc_ HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n" + requests["option_only"],
        "connect_lf_only": b"CONNECT /_geerpc_ HTTP/1.0\n\n" + requests["two_requests_json"],
        "get_on_rpc_path": connect(method=b"GET"),
        "debug_html": connect(path=b"/debug/geerpc", method=b"GET", version=b"1.1"),
        "debug_json": connect(path=b"/debug/geerpc?x=1&format=json", method=b"GET", version=b"1.1"),
        "debug_post": b"POST /debug/geerpc HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        "not_found": connect(path=b"/nope", method=b"GET", version=b"1.1"),
        "garbage_head": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        "bad_version": b"GET / HTTP/9.x\r\n\r\n",
        "cut_off_head": b"CONNECT /_geerpc_ HTTP/1.0\r\nHost: ",
        "long_header": b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 1100 + b"\r\n\r\n",
        "plain_rpc": requests["two_requests_json"],
    }

    # Day 7: responses from a peer that the HTTP client reads (registry, etcd's gateway).
    def response(status=b"200 OK", headers=(), body=b"", length=True):
        head = b"HTTP/1.1 " + status + b"\r\n"
        for name, value in headers:
            head += name + b": " + value + b"\r\n"
        if length:
            head += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        return head + b"\r\n" + body

    def chunked(*chunks):
        return b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"

    watch_line = json_bytes({"result": {"header": {"revision": "9"}, "events": [
        {"kv": {"key": "L2dlZXJwYy9zZXJ2ZXJzL3RjcEAxMjcuMC4wLjE6NzAwMQ==", "value": "dGNwQDEyNy4wLjAuMTo3MDAx"}},
        {"type": "DELETE", "kv": {"key": "L2dlZXJwYy9zZXJ2ZXJzL3RjcEAxMjcuMC4wLjE6NzAwMg=="}}]}})
    corpus["fuzz_http_client"] = {
        "registry_header": response(headers=[(b"X-Geerpc-Servers", b"tcp@127.0.0.1:7001,tcp@127.0.0.1:7002;weight=3")]),
        "registry_json": response(headers=[(b"Content-Type", b"application/json")],
                                  body=b'{"servers":["tcp@127.0.0.1:7001","unix@/tmp/a.sock;weight=2"]}\n'),
        "registry_json_not_a_list": response(body=b'{"servers":"tcp@127.0.0.1:7001"}'),
        "not_found": response(b"404 Not Found", body=b"404 page not found\n"),
        "chunked_watch": response(headers=[(b"Transfer-Encoding", b"chunked")], length=False,
                                  body=chunked(json_bytes({"result": {"created": True}}) + b"\n", watch_line[:40],
                                               watch_line[40:] + b"\n")),
        "chunked_bad_size": response(headers=[(b"Transfer-Encoding", b"chunked")], length=False, body=b"zz\r\nabc\r\n"),
        "until_close": b"HTTP/1.0 200 OK\r\n\r\nline one\nline two\npartial",
        "truncated_body": response(body=b"0123456789")[:-4],
        "long_line": response(body=b"x" * 300 + b"\n"),
        "continue_then_ok": b"HTTP/1.1 100 Continue\r\n\r\n" + response(body=b"ok\n"),
        "lf_only": b"HTTP/1.1 200 OK\nContent-Length: 3\n\nab\n",
        "garbage": b"SSH-2.0-OpenSSH_9.2\r\n",
    }

    def post(value=b"tcp@127.0.0.1:7003", path=b"/_geerpc_/registry", name=b"X-Geerpc-Server"):
        return b"POST " + path + b" HTTP/1.1\r\n" + name + b": " + value + b"\r\n\r\n"

    corpus["fuzz_registry"] = {
        "heartbeat": post(),
        "heartbeat_weight": post(b"http@127.0.0.1:7004;weight=10000"),
        "heartbeat_unix": post(b"unix@/tmp/geerpc.sock;weight=5"),
        "heartbeat_same_addr": post(b"tcp@127.0.0.1:7001"),
        "heartbeat_bad_weight": post(b"tcp@127.0.0.1:7005;weight=0"),
        "heartbeat_comma": post(b"tcp@127.0.0.1:7006,tcp@127.0.0.1:7007"),
        "heartbeat_no_header": post(name=b"X-Other"),
        "heartbeat_folded": b"POST /_geerpc_/registry HTTP/1.1\r\nX-Geerpc-Server: tcp@127.0.0.1:\r\n 7008\r\n\r\n",
        "heartbeat_lower_case": post(name=b"x-geerpc-server"),
        "heartbeat_with_body": b"POST /_geerpc_/registry HTTP/1.1\r\nX-Geerpc-Server: tcp@127.0.0.1:7009\r\nContent-Length: 4\r\n\r\nbody",
        "list": b"GET /_geerpc_/registry HTTP/1.1\r\n\r\n",
        "list_json": b"GET /_geerpc_/registry?format=json HTTP/1.1\r\n\r\n",
        "delete": b"DELETE /_geerpc_/registry HTTP/1.1\r\n\r\n",
        "not_found": post(path=b"/elsewhere"),
        "garbage": b"\x00\x01\x02\r\n\r\n",
    }

    # Day 7: etcd's gateway. The first byte picks the answer's status (0: 200, 1: 404, 2: 400, ...).
    def b64(text):
        import base64
        return base64.b64encode(text.encode()).decode()

    corpus["fuzz_etcd"] = {
        "grant": b"\x00" + json_bytes({"header": {"revision": "3"}, "ID": "7587869474342256906", "TTL": "10"}),
        "grant_number": b"\x00" + json_bytes({"ID": 7587869474342256906, "TTL": 10}),
        "range": b"\x00" + json_bytes({"header": {"revision": "12"}, "count": "1", "kvs": [
            {"key": b64("/geerpc/servers/tcp@127.0.0.1:7001"), "value": b64("tcp@127.0.0.1:7001;weight=2"),
             "create_revision": "5", "mod_revision": "5", "version": "1", "lease": "7587869474342256906"}]}),
        "range_empty": b"\x00" + json_bytes({"header": {"revision": "12"}}),
        "range_bad_base64": b"\x00" + json_bytes({"header": {"revision": "1"}, "kvs": [{"key": "*not*base64"}]}),
        "lease_not_found": b"\x01" + json_bytes({"error": "etcdserver: requested lease not found", "code": 5}),
        "error_500": b"\x03" + json_bytes({"error": "etcdserver: request timed out", "code": 14}),
        "keep_alive": b"\x00" + json_bytes({"result": {"header": {"revision": "3"}, "ID": "75", "TTL": "10"}}),
        "keep_alive_expired": b"\x00" + json_bytes({"result": {"header": {"revision": "3"}, "ID": "75"}}),
        "watch_created": b"\x00" + json_bytes({"result": {"header": {"revision": "12"}, "created": True}}),
        "watch_events": b"\x00" + watch_line,
        "watch_canceled": b"\x00" + json_bytes({"result": {"canceled": True, "compact_revision": "4"}}),
        "watch_error": b"\x00" + json_bytes({"error": {"grpc_code": 14, "message": "unavailable"}}),
        "not_json": b"\x00{oops",
    }
    return corpus


def main():
    root = pathlib.Path(__file__).resolve().parent / "corpus"
    shutil.rmtree(root, ignore_errors=True)
    for target, files in seeds().items():
        directory = root / target
        directory.mkdir(parents=True)
        for name, data in files.items():
            assert len(data) <= MAX_SEED, (target, name, len(data))
            (directory / name).write_bytes(data)
    print(f"wrote {sum(1 for _ in root.rglob('*') if _.is_file())} seeds under {root}")


if __name__ == "__main__":
    main()
