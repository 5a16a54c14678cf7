"""A Python client for geerpc-cpp servers, written from notes/protocol.md alone.

Standard library only; the MessagePack codec needs the ``msgpack`` module (Debian: python3-msgpack).

    import geerpc
    with geerpc.dial("tcp@127.0.0.1:7001", codec="msgpack", handle_timeout=1.0) as client:
        print(client.call("Foo.Sum", {"num1": 1, "num2": 2}))           # -> 3
        pending = client.go("Foo.Sum", {"num1": 3, "num2": 4})          # -> a Call (a future)
        print(pending.result(timeout=5))                                # -> 7

How the protocol goes (read this as a worked example for a client in any language):

1. ``dial`` opens the stream (TCP, a Unix socket, or TCP plus ``CONNECT /_geerpc_ HTTP/1.0``),
   sends ONE line of JSON, the Option (magic number + codec + timeouts), and reads the server's
   one-line answer, which must repeat the magic number and the codec. All reading goes through
   ONE buffered reader for the whole life of the connection, so bytes that arrive after the
   CONNECT blank line or after the answer line are kept for the frames that follow.
2. A message is two frames, header then body; a frame is a 4-byte big-endian length and that many
   bytes of JSON or MessagePack. Requests are ``{"error": "", "seq": N, "service_method": "S.M"}``
   plus the argument; replies repeat ``seq`` and carry ``error`` ("" on success).
3. Any number of threads call at once on one connection. Each request gets a fresh ``seq``
   (1, 2, 3, ... modulo 2**64, never one still pending) and is written with one ``sendall``
   under a write lock. A single reader thread reads header + body (ALWAYS both, even after an
   error header), finds the waiting call by ``seq`` and completes it; replies come in any order.
4. When the connection ends (our ``close`` or the peer), every pending call fails with
   ``ConnectionClosed``; nothing is retried.
"""
import json
import socket
import struct
import threading
import time

try:
    import msgpack
except ImportError:  # only the MessagePack codec needs it
    msgpack = None

__all__ = ["dial", "Client", "Call", "Error", "DialError", "ConnectTimeout", "ConnectionClosed",
           "CallTimeout", "ProtocolError", "FrameTooLarge", "ServerError", "UnknownService",
           "UnknownMethod", "BadArguments", "HandleTimeout"]

MAGIC_NUMBER = 3927900
JSON, MSGPACK = "application/json", "application/msgpack"
CODECS = {"json": JSON, "msgpack": MSGPACK, JSON: JSON, MSGPACK: MSGPACK}
DEFAULT_MAX_FRAME_SIZE = 16 << 20    # 16 MiB, per frame; a frame of exactly this size is allowed
OPTION_LINE_MAX = 1023               # bytes without the "\n"; the answer is shorter too
HTTP_HEAD_MAX = 8192                 # our own bound on the CONNECT answer
MAX_TIMEOUT_MS = 10 ** 12            # larger timeouts make the server refuse the Option
SEQ_MODULUS = 1 << 64                # seq is an unsigned 64-bit integer


class Error(Exception):
    """Base class of every error this module raises on purpose."""

class DialError(Error):
    """Cannot connect, CONNECT refused, or the Option handshake refused/closed/garbled."""

class ConnectTimeout(DialError):
    """Connect + CONNECT + Option exchange took longer than dial's ``timeout``."""

class ConnectionClosed(Error):
    """The client was closed or the connection failed; the call has no reply."""

class CallTimeout(Error):
    """The caller's own timeout passed before the reply came (the server is not told)."""

class ProtocolError(Error):
    """The server sent bytes the protocol does not allow (e.g. a reply body that does not decode)."""

class FrameTooLarge(Error):
    """A request frame is over ``max_frame_size``; nothing was sent."""

class ServerError(Error):
    """The reply header carried a non-empty ``error``; ``message`` is the server's exact text."""
    def __init__(self, message, service_method=None, seq=None):
        super().__init__(message)
        self.message, self.service_method, self.seq = message, service_method, seq

    def __str__(self):
        return self.message

class UnknownService(ServerError):
    """``rpc server: can't find service <Service>``."""

class UnknownMethod(ServerError):
    """``rpc server: can't find method <Method>`` or ``... service/method request ill-formed: ...``."""

class BadArguments(ServerError):
    """``rpc server: read body err: ...`` or ``rpc server: read argv err: <ArgType>: <what>``."""

class HandleTimeout(ServerError):
    """``rpc server: request handle timeout: expect within <d>`` (dial's ``handle_timeout``)."""

# Classification by the documented prefixes. Anything else (a method's own error text, "threw",
# "cannot encode ...") is a plain ServerError. A method may of course return a text that happens
# to start with one of these prefixes; the wire cannot tell the two apart.
_PREFIXES = (("rpc server: can't find service ", UnknownService),
             ("rpc server: can't find method ", UnknownMethod),
             ("rpc server: service/method request ill-formed: ", UnknownMethod),
             ("rpc server: read body err: ", BadArguments),
             ("rpc server: read argv err: ", BadArguments),
             ("rpc server: request handle timeout: ", HandleTimeout))

def server_error(message, service_method=None, seq=None):
    """The ServerError subclass for a reply header's ``error`` text."""
    cls = next((c for p, c in _PREFIXES if message.startswith(p)), ServerError)
    return cls(message, service_method, seq)


def _encode(codec, value):
    """One value -> frame payload. JSON: compact, UTF-8, no NaN/Infinity (they are not JSON);
    a lone surrogate makes .encode() raise. MessagePack: str as str, bytes as bin, and Python
    writes non-negative ints in the unsigned forms the header's seq requires."""
    if codec == JSON:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    return msgpack.packb(value, use_bin_type=True)

def _decode(codec, data):
    """Frame payload -> one value. The server's MessagePack strings need not be valid UTF-8,
    so undecodable bytes become surrogates instead of an error."""
    if codec == JSON:
        return json.loads(data.decode("utf-8"))
    return msgpack.unpackb(data, raw=False, unicode_errors="surrogateescape")

def _frame(payload):
    return struct.pack(">I", len(payload)) + payload

def _to_ms(seconds, name):
    """Seconds (float or None) -> the Option's non-negative integer milliseconds (None -> 0).
    A positive value never rounds down to 0, which would mean 'no limit'."""
    if seconds is None:
        return 0
    if not seconds >= 0:
        raise ValueError(f"{name} must be None or >= 0 seconds, not {seconds!r}")
    ms = max(round(seconds * 1000), 1 if seconds > 0 else 0)
    if ms > MAX_TIMEOUT_MS:
        raise ValueError(f"{name} is over {MAX_TIMEOUT_MS} ms")
    return ms


class Call:
    """One request in flight, future-like: ``done()`` and ``result(timeout=None)``."""
    def __init__(self, seq, service_method):
        self.seq, self.service_method = seq, service_method
        self._event, self._value, self._error = threading.Event(), None, None

    def _finish(self, value=None, error=None):
        # Only whoever removed the call from Client._pending calls this, so exactly once.
        self._value, self._error = value, error
        self._event.set()

    def done(self):
        return self._event.is_set()

    def result(self, timeout=None):
        """The reply value; raises the call's error, or CallTimeout if ``timeout`` seconds pass
        first (the call stays pending: ask again later; ``Client.call`` gives it up instead)."""
        if not self._event.wait(timeout):
            raise CallTimeout(f"rpc client: call failed: no reply to {self.service_method} "
                              f"(seq {self.seq}) within {timeout}s")
        if self._error is not None:
            raise self._error
        return self._value


class Client:
    """One connection after the handshake. Use ``dial`` to make one."""
    def __init__(self, sock, rfile, codec, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        self._sock, self._rfile, self.codec, self.max_frame_size = sock, rfile, codec, max_frame_size
        self._lock = threading.Lock()        # guards _pending, _next_seq, _closed
        self._write_lock = threading.Lock()  # one whole message at a time on the wire
        self._pending = {}                   # seq -> Call, sent and not yet answered
        self._next_seq = 1
        self._closed = None                  # the ConnectionClosed text once closed
        self._reader = threading.Thread(target=self._read_loop, daemon=True, name="geerpc-reader")
        self._reader.start()

    def go(self, service_method, args=None):
        """Send a request and return its Call at once."""
        body = _encode(self.codec, args)     # encoding errors raise here, before anything else
        with self._lock:
            if self._closed is not None:
                raise ConnectionClosed(self._closed)
            seq = self._next_seq
            while seq in self._pending:      # only after 2**64 calls, but never reuse a pending seq
                seq = (seq + 1) % SEQ_MODULUS
            self._next_seq = (seq + 1) % SEQ_MODULUS
            call = self._pending[seq] = Call(seq, service_method)
        try:
            if not isinstance(service_method, str):
                raise TypeError("service_method must be a str like 'Service.Method'")
            header = _encode(self.codec, {"error": "", "seq": seq, "service_method": service_method})
            for what, payload in (("header", header), ("body", body)):
                if len(payload) > self.max_frame_size:
                    raise FrameTooLarge(f"request {what} of {len(payload)} bytes is over "
                                        f"max_frame_size {self.max_frame_size}")
        except BaseException:
            with self._lock:
                self._pending.pop(seq, None)
            raise
        try:
            with self._write_lock:
                self._sock.sendall(_frame(header) + _frame(body))
        except OSError as e:  # a partial write desynchronises the stream: the connection is lost
            self._shutdown(f"connection is shut down: write failed: {e}")
        return call

    def call(self, service_method, args=None, timeout=None):
        """Call ``service_method`` with ``args`` and wait for the reply value (or raise).
        After ``timeout`` seconds of waiting for the reply the call is given up (CallTimeout); its
        late reply is read and dropped. (Writing the request is not timed: the server keeps reading
        a connection whose replies are read, and this client always reads them.)"""
        call = self.go(service_method, args)
        try:
            return call.result(timeout)
        except CallTimeout:
            with self._lock:
                given_up = self._pending.pop(call.seq, None) is not None
            if given_up:
                raise
            return call.result()  # the reply (or the close) won the race; it is being delivered

    def close(self):
        """Close the connection; pending and later calls raise ConnectionClosed. Idempotent."""
        self._shutdown("connection is shut down: closed by the client")
        if threading.current_thread() is not self._reader:
            self._reader.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _shutdown(self, reason):
        with self._lock:
            if self._closed is not None:
                return
            self._closed = reason
            pending, self._pending = list(self._pending.values()), {}
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader (end-of-stream)
        except OSError:
            pass
        for call in pending:
            call._finish(error=ConnectionClosed(reason))

    def _read_frame(self, eof_ok):
        prefix = self._rfile.read(4)
        if not prefix and eof_ok:
            return None  # a clean end between messages
        if len(prefix) < 4:
            raise ProtocolError("the connection ended in the middle of a message")
        (length,) = struct.unpack(">I", prefix)
        if length > self.max_frame_size:  # refuse before reading (or allocating) anything
            raise ProtocolError(f"reply frame of {length} bytes is over max_frame_size "
                                f"{self.max_frame_size}")
        data = self._rfile.read(length)
        if len(data) < length:
            raise ProtocolError("the connection ended in the middle of a frame")
        return data

    def _read_loop(self):
        reason = "connection is shut down: the server closed the connection"
        try:
            while True:
                raw_header = self._read_frame(eof_ok=True)
                if raw_header is None:
                    break
                try:
                    header = _decode(self.codec, raw_header)
                    seq, error = header["seq"], header["error"]
                    service_method = header.get("service_method")
                    if not (type(seq) is int and 0 <= seq < SEQ_MODULUS and isinstance(error, str)):
                        raise TypeError("seq or error has the wrong type")
                except Exception as e:  # we no longer know where we are in the stream
                    raise ProtocolError(f"bad reply header {raw_header[:200]!r}: {e}") from None
                raw_body = self._read_frame(eof_ok=False)  # always, even after an error header
                with self._lock:
                    call = self._pending.pop(seq, None)
                if call is None:
                    continue  # a call given up on: read whole and dropped
                if error:
                    call._finish(error=server_error(error, service_method, seq))
                    continue
                try:
                    call._finish(value=_decode(self.codec, raw_body))
                except Exception as e:  # the frame was read whole, so the stream is still in step
                    call._finish(error=ProtocolError(f"cannot decode the reply body: {e}"))
        except Exception as e:
            reason = f"connection is shut down: {e}"
        self._shutdown(reason)
        self._rfile.close()
        self._sock.close()


def _split_host_port(where):
    host, sep, port = where.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise DialError(f"rpc client err: bad host:port '{where}'")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return ("127.0.0.1" if host == "localhost" else host), int(port)

def dial(address, codec=JSON, timeout=10.0, handle_timeout=None,
         max_frame_size=DEFAULT_MAX_FRAME_SIZE):
    """Connect to ``"tcp@host:port"``, ``"unix@/path"`` or ``"http@host:port"`` and return a Client.

    codec: "application/json" (or "json") / "application/msgpack" (or "msgpack").
    timeout: seconds for connect + CONNECT + Option exchange together (None or 0: no limit, sent as 0), each
      step bounded by what is left; ConnectTimeout when it runs out. Sent as connect_timeout_ms.
    handle_timeout: seconds the server may spend on each call of this connection before it
      answers HandleTimeout (None or 0: no limit). Sent as handle_timeout_ms.
    max_frame_size: the largest frame accepted from the server, and sent to it (16 MiB).
    """
    codec_type = CODECS.get(codec)
    if codec_type is None:
        raise ValueError(f"unknown codec {codec!r}: use one of {sorted(CODECS)}")
    if codec_type == MSGPACK and msgpack is None:
        raise Error("the msgpack codec needs the Python 'msgpack' module "
                    "(Debian: apt install python3-msgpack; else pip install msgpack)")
    proto, sep, where = address.partition("@")
    if not sep or proto not in ("tcp", "unix", "http"):
        raise DialError(f"rpc client err: wrong format '{address}', expect protocol@addr")
    option = {"codec_type": codec_type, "connect_timeout_ms": _to_ms(timeout, "timeout"),
              "handle_timeout_ms": _to_ms(handle_timeout, "handle_timeout"),
              "magic_number": MAGIC_NUMBER}
    option_line = json.dumps(option, separators=(",", ":")).encode() + b"\n"  # begins with "{"
    deadline = time.monotonic() + timeout if timeout else None

    def left():  # seconds left for the next blocking step (None = no limit)
        if deadline is None:
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError()
        return remaining

    sock = rfile = None
    try:
        if proto == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(left())
            sock.connect(where)
        else:
            sock = socket.create_connection(_split_host_port(where), timeout=left())
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rfile = sock.makefile("rb")  # THE read buffer of this connection, from now on
        if proto == "http":
            sock.settimeout(left())
            sock.sendall(b"CONNECT /_geerpc_ HTTP/1.0\r\n\r\n")
            head = []
            while True:  # read the answer up to and including its blank line, no further
                sock.settimeout(left())
                line = rfile.readline(HTTP_HEAD_MAX)
                if not line.endswith(b"\n") or sum(map(len, head)) + len(line) > HTTP_HEAD_MAX:
                    raise DialError(f"rpc client: bad answer to CONNECT: {b''.join(head) + line!r}")
                if line in (b"\r\n", b"\n"):
                    break
                head.append(line)
            status = head[0].split(None, 2) if head else []
            if len(status) < 2 or not status[0].startswith(b"HTTP/") or status[1] != b"200":
                raise DialError("unexpected HTTP response: "
                                + (head[0] if head else b"").decode("latin-1").strip())
        sock.settimeout(left())
        sock.sendall(option_line)
        sock.settimeout(left())
        line = rfile.readline(OPTION_LINE_MAX + 2)
        if not line.endswith(b"\n"):
            raise DialError("rpc client: handshake failed: " + (
                "the server closed the connection (Option refused?)" if len(line) <= OPTION_LINE_MAX
                else "the answer line is too long"))
        try:
            answer = json.loads(line)
            ok = answer.get("magic_number") == MAGIC_NUMBER and answer.get("codec_type") == codec_type
        except (ValueError, AttributeError):
            ok = False
        if not ok:
            raise DialError(f"rpc client: handshake failed: the server answered {line!r}")
        sock.settimeout(None)  # from now on only calls have time limits, and those are local
        return Client(sock, rfile, codec_type, max_frame_size)
    except BaseException as e:
        for f in (rfile, sock):
            if f is not None:
                f.close()
        if isinstance(e, TimeoutError):
            raise ConnectTimeout(f"rpc client: connect timeout: expect within {timeout}s") from None
        if isinstance(e, OSError):
            raise DialError(f"rpc client: cannot dial {address}: {e}") from e
        raise
