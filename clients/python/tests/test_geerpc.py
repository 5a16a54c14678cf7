"""Tests of geerpc.py against a real geerpc-cpp server.

Run:  GEERPC_TEST_SERVER=/path/to/geerpc_test_server \
      /usr/bin/python3 -m unittest discover -s clients/python/tests -v

The module starts ONE server for all tests (``--tcp 127.0.0.1:0 --unix <tmp>/s.sock --name N``),
reads its one-line JSON announcement of the three addresses, and stops it with SIGTERM at the end.
"""
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import geerpc  # noqa: E402

SERVER = os.environ.get("GEERPC_TEST_SERVER")
if not SERVER:
    raise unittest.SkipTest("GEERPC_TEST_SERVER is not set: point it at the geerpc_test_server "
                            "program to run the geerpc Python client tests")

HAVE_MSGPACK = geerpc.msgpack is not None
needs_msgpack = unittest.skipUnless(HAVE_MSGPACK, "the Python msgpack module is not installed")
SERVER_NAME = "py-test-server"
ECHO_METHOD = "Echo.Back"  # the interface the brief gives for geerpc_test_server
CODECS = ("json", "msgpack")

_proc = _tmpdir = _stderr = None
ADDR = {}


def setUpModule():
    global _proc, _tmpdir, _stderr
    _tmpdir = tempfile.mkdtemp(prefix="geerpc-py-")
    _stderr = open(os.path.join(_tmpdir, "server.stderr"), "w+b")
    _proc = subprocess.Popen([SERVER, "--tcp", "127.0.0.1:0", "--unix",
                              os.path.join(_tmpdir, "s.sock"), "--name", SERVER_NAME],
                             stdout=subprocess.PIPE, stderr=_stderr)
    ready, _, _ = select.select([_proc.stdout], [], [], 20)
    line = _proc.stdout.readline() if ready else b""
    try:
        ADDR.update(json.loads(line))
        assert {"tcp", "http", "unix"} <= ADDR.keys(), line
    except Exception:
        _stop_server()
        _stderr.seek(0)
        raise RuntimeError(f"{SERVER} did not announce its addresses; stdout line {line!r}, "
                           f"stderr {_stderr.read()[-2000:]!r}")


def _stop_server():
    if _proc is not None and _proc.poll() is None:
        _proc.terminate()
        try:
            _proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _proc.kill()
            _proc.wait()
            raise


def tearDownModule():
    try:
        _stop_server()
    finally:
        _proc.stdout.close()
        _stderr.close()
        shutil.rmtree(_tmpdir, ignore_errors=True)


class ServerTest(unittest.TestCase):
    def dial(self, transport="tcp", codec="json", **kwargs):
        client = geerpc.dial(ADDR[transport], codec=codec, **kwargs)
        self.addCleanup(client.close)
        return client

    def check_sum(self, transport, codec):
        client = self.dial(transport, codec)
        self.assertEqual(client.call("Foo.Sum", {"num1": 1, "num2": 2}), 3)
        self.assertEqual(client.call("Foo.Sum", {"num1": -40, "num2": 1000}, timeout=10), 960)

    # --- one call over each transport with each codec -------------------------------------
    def test_call_over_tcp_json(self):
        self.check_sum("tcp", "json")

    @needs_msgpack
    def test_call_over_tcp_msgpack(self):
        self.check_sum("tcp", "msgpack")

    def test_call_over_unix_json(self):
        self.check_sum("unix", "json")

    @needs_msgpack
    def test_call_over_unix_msgpack(self):
        self.check_sum("unix", "msgpack")

    def test_call_over_http_json(self):
        self.check_sum("http", "json")

    @needs_msgpack
    def test_call_over_http_msgpack(self):
        self.check_sum("http", "msgpack")

    def test_long_codec_names_are_accepted(self):
        client = self.dial("tcp", "application/json")
        self.assertEqual(client.call("Foo.Sum", {"num1": 5, "num2": 6}), 11)

    def test_echo_name_returns_the_server_name(self):
        self.assertEqual(self.dial().call("Echo.Name", None), SERVER_NAME)

    # --- concurrency ------------------------------------------------------------------------
    def check_concurrent(self, codec):
        client = self.dial("tcp", codec)
        results, errors = {}, []

        def worker(t):
            try:
                for i in range(t, 1000, 16):
                    # Sleep 0-3 ms so that replies come back out of order.
                    results[i] = client.call("Foo.Sleep", {"num1": i % 4, "num2": i * 1000})
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(results, {i: i % 4 + i * 1000 for i in range(1000)})

    def test_1000_concurrent_calls_from_16_threads_json(self):
        self.check_concurrent("json")

    @needs_msgpack
    def test_1000_concurrent_calls_from_16_threads_msgpack(self):
        self.check_concurrent("msgpack")

    def test_go_futures_complete_out_of_order(self):
        client = self.dial()
        slow = client.go("Foo.Sleep", {"num1": 1000, "num2": 1})
        fast = client.go("Foo.Sum", {"num1": 2, "num2": 3})
        self.assertEqual(fast.result(timeout=10), 5)
        self.assertFalse(slow.done())  # its reply comes ~1 s after Sum's
        self.assertEqual(slow.result(timeout=10), 1001)

    # --- server errors ----------------------------------------------------------------------
    def test_unknown_method_raises_UnknownMethod(self):
        with self.assertRaises(geerpc.UnknownMethod) as cm:
            self.dial().call("Foo.Nope", {"num1": 1, "num2": 2})
        self.assertEqual(cm.exception.message, "rpc server: can't find method Nope")
        self.assertEqual(str(cm.exception), cm.exception.message)

    def test_ill_formed_service_method_raises_UnknownMethod(self):
        with self.assertRaises(geerpc.UnknownMethod) as cm:
            self.dial().call("FooSum", {"num1": 1, "num2": 2})
        self.assertEqual(cm.exception.message,
                         "rpc server: service/method request ill-formed: FooSum")

    def test_unknown_service_raises_UnknownService(self):
        with self.assertRaises(geerpc.UnknownService) as cm:
            self.dial().call("Bar.Sum", {"num1": 1, "num2": 2})
        self.assertEqual(cm.exception.message, "rpc server: can't find service Bar")

    def test_bad_arguments_raise_BadArguments_naming_the_field(self):
        for codec in CODECS if HAVE_MSGPACK else CODECS[:1]:
            with self.subTest(codec=codec), self.assertRaises(geerpc.BadArguments) as cm:
                self.dial("tcp", codec).call("Foo.Sum", {"num1": "x", "num2": 2})
            message = cm.exception.message
            self.assertTrue(message.startswith("rpc server: read argv err: "), message)
            self.assertIn("field 'num1': expected a whole number, got a string", message)

    def test_a_number_its_field_cannot_hold_raises_BadArguments(self):
        cases = [(1.5, "expected a whole number, got 1.5"), (True, "expected a whole number, got true"),
                 (2**40, "1099511627776 is out of range (-2147483648 to 2147483647)")]
        for codec in CODECS if HAVE_MSGPACK else CODECS[:1]:
            for value, words in cases:
                with self.subTest(codec=codec, value=value), self.assertRaises(geerpc.BadArguments) as cm:
                    self.dial("tcp", codec).call("Foo.Sum", {"num1": value, "num2": 0})
                self.assertIn("field 'num1': " + words, cm.exception.message)

    def test_method_error_raises_plain_ServerError_with_exact_text(self):
        text = "Echo.Fail: überall kaputt \u2603 (42)"
        for codec in CODECS if HAVE_MSGPACK else CODECS[:1]:
            with self.subTest(codec=codec), self.assertRaises(geerpc.ServerError) as cm:
                self.dial("tcp", codec).call("Echo.Fail", text)
            self.assertIs(type(cm.exception), geerpc.ServerError)
            self.assertEqual(cm.exception.message, text)
            self.assertEqual(str(cm.exception), text)

    def test_server_handle_timeout_raises_HandleTimeout(self):
        client = self.dial(handle_timeout=0.05)
        with self.assertRaises(geerpc.HandleTimeout) as cm:
            client.call("Foo.Sleep", {"num1": 2000, "num2": 1}, timeout=10)
        self.assertEqual(cm.exception.message,
                         "rpc server: request handle timeout: expect within 50ms")

    def test_connection_keeps_working_after_server_errors(self):
        client = self.dial()
        for method, args in (("Bar.Sum", 1), ("Foo.Nope", 1), ("Foo.Sum", {"num1": "x"}),
                             ("Echo.Fail", "no")):
            with self.assertRaises(geerpc.ServerError):
                client.call(method, args)
        self.assertEqual(client.call("Foo.Sum", {"num1": 20, "num2": 22}), 42)

    # --- client-side errors -----------------------------------------------------------------
    def test_client_timeout_raises_CallTimeout_and_client_still_works(self):
        client = self.dial()
        with self.assertRaises(geerpc.CallTimeout):
            client.call("Foo.Sleep", {"num1": 1000, "num2": 0}, timeout=0.1)
        self.assertEqual(client.call("Foo.Sum", {"num1": 1, "num2": 1}, timeout=10), 2)
        # The late reply to the given-up call is read and dropped; the client goes on.
        self.assertEqual(client.call("Foo.Sleep", {"num1": 1200, "num2": 7}, timeout=10), 1207)

    def test_dial_to_a_port_nobody_listens_on_raises_DialError(self):
        with socket.socket() as s:  # take a free port, then release it
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with self.assertRaises(geerpc.DialError):
            geerpc.dial(f"tcp@127.0.0.1:{port}", timeout=5)

    def test_dial_with_a_wrong_address_format_raises_DialError(self):
        with self.assertRaises(geerpc.DialError):
            geerpc.dial("127.0.0.1:1")

    def test_close_fails_pending_calls_with_ConnectionClosed(self):
        client = geerpc.dial(ADDR["tcp"])
        pending = [client.go("Foo.Sleep", {"num1": 2000, "num2": i}) for i in range(3)]
        client.close()
        for call in pending:
            with self.assertRaises(geerpc.ConnectionClosed):
                call.result(timeout=5)
        with self.assertRaises(geerpc.ConnectionClosed):
            client.call("Foo.Sum", {"num1": 1, "num2": 2})

    def test_context_manager_closes_the_client(self):
        with geerpc.dial(ADDR["unix"]) as client:
            self.assertEqual(client.call("Foo.Sum", {"num1": 1, "num2": 2}), 3)
        with self.assertRaises(geerpc.ConnectionClosed):
            client.call("Foo.Sum", {"num1": 1, "num2": 2})

    def test_reply_frame_over_max_frame_size_closes_the_connection(self):
        text = "x" * 1000  # request body 1002 bytes; the reply header repeats it plus ~50 bytes
        client = self.dial(max_frame_size=1010)
        with self.assertRaises(geerpc.ConnectionClosed) as cm:
            client.call("Echo.Fail", text, timeout=10)
        self.assertIn("max_frame_size", str(cm.exception))

    def test_request_frame_over_max_frame_size_is_not_sent(self):
        client = self.dial(max_frame_size=100)
        with self.assertRaises(geerpc.FrameTooLarge):
            client.call(ECHO_METHOD, "y" * 200)
        self.assertEqual(client.call(ECHO_METHOD, "small"), "small")

    def test_msgpack_codec_without_the_module_is_a_clear_error(self):
        with mock.patch.object(geerpc, "msgpack", None):
            with self.assertRaisesRegex(geerpc.Error, "msgpack"):
                geerpc.dial(ADDR["tcp"], codec="msgpack")

    # --- Echo round trips -------------------------------------------------------------------
    def check_echo(self, codec, value):
        self.assertEqual(self.dial("tcp", codec).call(ECHO_METHOD, value, timeout=20), value)

    UNICODE = "héllo wörld, Привет, 你好, \U0001F600 \u2028 \x00\x1f \" \\ /"
    NESTED = {"a": [1, -2, 3.5, True, False, None, "s", {"b": {"c": []}}], "d": {},
              "e": {"f": [[[["deep"]]]]}, "ü": "key"}
    LARGE = "0123456789abcdef" * (1 << 16)  # 1 MiB

    def test_echo_unicode_json(self):
        self.check_echo("json", self.UNICODE)

    @needs_msgpack
    def test_echo_unicode_msgpack(self):
        self.check_echo("msgpack", self.UNICODE)

    def test_echo_nested_json(self):
        self.check_echo("json", self.NESTED)

    @needs_msgpack
    def test_echo_nested_msgpack(self):
        self.check_echo("msgpack", self.NESTED)

    def test_echo_1mib_string_json(self):
        self.check_echo("json", self.LARGE)

    @needs_msgpack
    def test_echo_1mib_string_msgpack(self):
        self.check_echo("msgpack", self.LARGE)

    def test_echo_64bit_integer_limits_json(self):
        self.check_echo("json", [0, 2 ** 64 - 1, -2 ** 63, 2 ** 63 - 1])

    @needs_msgpack
    def test_echo_64bit_integer_limits_msgpack(self):
        self.check_echo("msgpack", [0, 2 ** 64 - 1, -2 ** 63, 2 ** 63 - 1])


if __name__ == "__main__":
    unittest.main()
