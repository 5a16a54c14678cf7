#!/usr/bin/env python3
"""The cross-language check: protoc, not our code, decodes the bytes the protobuf codec wrote.

usage: protoc_decode.py CAPTURE PROTOC PROTO_DIR
CAPTURE prints one request's frames; each frame is a 4-byte big-endian length, then a message.
"""
import subprocess
import sys

capture, protoc, proto_dir = sys.argv[1:4]
data = subprocess.run([capture], check=True, capture_output=True).stdout

frames = []
while data:
    assert len(data) >= 4, "a frame length is cut short"
    n = int.from_bytes(data[:4], "big")
    frames.append(data[4:4 + n])
    assert len(frames[-1]) == n, "a frame is cut short"
    data = data[4 + n:]
assert len(frames) == 2, f"expected a header and a body frame, got {len(frames)}"


def decode(message_type, proto, frame):
    result = subprocess.run([protoc, f"--decode={message_type}", f"-I{proto_dir}", f"{proto_dir}/{proto}"],
                            input=frame, capture_output=True, check=True)
    return result.stdout.decode()


header = decode("geerpc.pb.Header", "geerpc_header.proto", frames[0])
body = decode("geerpc.SumArgs", "foo.proto", frames[1])
print(header + body, end="")
assert header == 'service_method: "Foo.Sum"\nseq: 7\n', header
assert body == "num1: 3\nnum2: 4\n", body
print("protoc decodes both frames")
