"""The geerpc command against servers these tests start: what it prints and its exit codes.

Needs GEERPC (the command), GEERPC_TEST_SERVER (clients/test_server.cpp) and GEERPC_DEMO (day 7's
demo, for its --registry mode); CTest sets all three. The etcd tests also need Debian's etcd.
"""
import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import unittest

GEERPC = os.environ.get("GEERPC")
TEST_SERVER = os.environ.get("GEERPC_TEST_SERVER")
DEMO = os.environ.get("GEERPC_DEMO")
ETCD = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)

USAGE, CONNECTION, TIMEOUT, SERVER = 2, 3, 4, 5


def start(argv, ready_line_timeout=30):
    """Starts a process and returns it with the first line it prints (its "ready" line)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    readable, _, _ = select.select([proc.stdout], [], [], ready_line_timeout)
    if not readable:
        proc.kill()
        proc.wait()
        raise RuntimeError("%s printed nothing within %ss" % (argv[0], ready_line_timeout))
    return proc, proc.stdout.readline()


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def geerpc(*args, stdin=None):
    return subprocess.run([GEERPC, *args], input=stdin, capture_output=True, text=True, timeout=60)


class ServerCase(unittest.TestCase):
    """One test server (tcp, its http, and a Unix socket) for the whole class."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.server, line = start([TEST_SERVER, "--unix", os.path.join(cls.dir.name, "s.sock"), "--name", "alpha"])
        cls.addr = json.loads(line)

    @classmethod
    def tearDownClass(cls):
        stop(cls.server)
        cls.dir.cleanup()

    def assertFails(self, result, code, words):
        self.assertEqual(result.returncode, code, result.stderr)
        self.assertEqual(result.stdout, "")
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("geerpc: "), lines[0])
        self.assertIn(words, lines[0])


@unittest.skipUnless(GEERPC and TEST_SERVER, "GEERPC and GEERPC_TEST_SERVER are not set")
class Call(ServerCase):
    def test_call_prints_the_reply_as_json(self):
        r = geerpc("call", self.addr["tcp"], "Foo.Sum", '{"num1":1,"num2":2}')
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "3\n", ""))

    def test_call_over_a_unix_socket_with_msgpack(self):
        r = geerpc("call", "--codec", "msgpack", self.addr["unix"], "Echo.Back", '{"b":[1,"ü"],"a":null}')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"a": None, "b": [1, "ü"]})

    def test_call_over_http_connect(self):
        r = geerpc("call", self.addr["http"], "Echo.Name")
        self.assertEqual((r.returncode, r.stdout), (0, '"alpha"\n'), r.stderr)

    def test_compact_prints_the_reply_on_one_line(self):
        r = geerpc("call", "--compact", self.addr["tcp"], "Echo.Back", '{"a":[1,2]}')
        self.assertEqual(r.stdout, '{"a":[1,2]}\n')

    def test_a_dash_reads_the_argument_from_standard_input(self):
        r = geerpc("call", self.addr["tcp"], "Foo.Sum", "-", stdin='{"num1": 5, "num2": 6}\n')
        self.assertEqual((r.returncode, r.stdout), (0, "11\n"), r.stderr)

    def test_a_negative_number_is_an_argument_not_a_flag(self):
        r = geerpc("call", "--compact", self.addr["tcp"], "Echo.Back", "-5")
        self.assertEqual((r.returncode, r.stdout), (0, "-5\n"), r.stderr)

    def test_an_unknown_method_is_a_server_error(self):
        self.assertFails(geerpc("call", self.addr["tcp"], "Foo.Nope"), SERVER, "rpc server: can't find method Nope")

    def test_wrong_arguments_are_a_server_error_naming_the_field(self):
        r = geerpc("call", self.addr["tcp"], "Foo.Sum", '{"num1":"x","num2":2}')
        self.assertFails(r, SERVER, "field 'num1': expected a whole number, got a string")

    def test_the_methods_own_error_is_printed_as_it_came(self):
        self.assertFails(geerpc("call", self.addr["tcp"], "Echo.Fail", '"out of coffee"'), SERVER, "geerpc: out of coffee")

    def test_a_call_slower_than_the_timeout_is_a_timeout(self):
        r = geerpc("call", "--timeout", "200ms", self.addr["tcp"], "Foo.Sleep", '{"num1":3000,"num2":0}')
        self.assertFails(r, TIMEOUT, "deadline exceeded")

    def test_nobody_listening_is_a_connection_error(self):
        r = geerpc("call", "tcp@127.0.0.1:%d" % free_port(), "Foo.Sum")
        self.assertFails(r, CONNECTION, "dial tcp@127.0.0.1:")


@unittest.skipUnless(GEERPC, "GEERPC is not set")
class Usage(unittest.TestCase):
    def assertUsage(self, result, words):
        self.assertEqual(result.returncode, USAGE, result.stderr)
        self.assertIn(words, result.stderr)

    def test_an_unknown_command_is_a_usage_error(self):
        self.assertUsage(geerpc("fetch"), "unknown command 'fetch'")

    def test_an_unknown_flag_is_a_usage_error(self):
        self.assertUsage(geerpc("call", "--colour", "tcp@127.0.0.1:1", "A.B"), "unknown flag --colour")

    def test_an_argument_that_is_not_json_is_a_usage_error(self):
        self.assertUsage(geerpc("call", "tcp@127.0.0.1:1", "A.B", "{num1:1}"), "the argument is not JSON")

    def test_an_address_without_its_protocol_is_a_usage_error(self):
        self.assertUsage(geerpc("call", "127.0.0.1:7001", "A.B"), "'127.0.0.1:7001' is not an address")

    def test_a_duration_without_a_unit_is_a_usage_error(self):
        self.assertUsage(geerpc("call", "--timeout", "5", "tcp@127.0.0.1:1", "A.B"), "--timeout wants a duration")

    def test_every_command_has_its_help(self):
        for command in ("call", "broadcast", "list", "servers"):
            r = geerpc(command, "--help")
            self.assertEqual(r.returncode, 0, command)
            self.assertTrue(r.stdout.startswith("usage: geerpc " + command), r.stdout)
        r = geerpc("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Exit codes", r.stdout)


@unittest.skipUnless(GEERPC and TEST_SERVER, "GEERPC and GEERPC_TEST_SERVER are not set")
class Load(ServerCase):
    def test_count_and_concurrency_print_a_latency_summary(self):
        r = geerpc("call", "--count", "500", "--concurrency", "8", self.addr["tcp"], "Foo.Sum", '{"num1":1,"num2":2}')
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 2, r.stdout)
        self.assertTrue(lines[0].startswith("calls    500 (500 ok, 0 failed) in "), lines[0])
        for word in ("min", "p50", "p90", "p99", "max"):
            self.assertIn(word, lines[1])

    def test_failed_calls_of_a_load_run_are_counted_and_the_first_is_shown(self):
        r = geerpc("call", "--count", "20", "--concurrency", "4", self.addr["tcp"], "Echo.Fail", '"no"')
        self.assertEqual(r.returncode, SERVER, r.stderr)
        self.assertIn("(0 ok, 20 failed)", r.stdout)
        self.assertIn("geerpc: 20 of 20 calls failed; the first: no", r.stderr)


@unittest.skipUnless(GEERPC and TEST_SERVER, "GEERPC and GEERPC_TEST_SERVER are not set")
class List(ServerCase):
    def test_list_shows_services_methods_signatures_and_call_counts(self):
        geerpc("call", self.addr["tcp"], "Foo.Sum", '{"num1":1,"num2":2}')
        r = geerpc("list", self.addr["http"])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[lines.index("Foo") + 2].split(), ["Sum(Args,", "int*)", "->", "error", "1", "call"])
        self.assertIn("  Back(nlohmann::json, nlohmann::json*) -> error", r.stdout)

    def test_list_json_is_the_debug_pages_json(self):
        r = geerpc("list", "--json", self.addr["http"])
        page = json.loads(r.stdout)
        self.assertEqual([s["name"] for s in page["services"]], ["Echo", "Foo"])

    def test_list_of_a_port_nobody_listens_on_is_a_connection_error(self):
        r = geerpc("list", "http@127.0.0.1:%d" % free_port())
        self.assertEqual(r.returncode, CONNECTION, r.stderr)
        self.assertIn("GET http://127.0.0.1:", r.stderr)


class TwoServers(unittest.TestCase):
    """Two test servers named alpha and beta, and the discovery the subclass sets up."""

    extra = []  # the servers' flags for registering

    def start_servers(self):
        self.servers = []
        for name in ("alpha", "beta"):
            proc, line = start([TEST_SERVER, "--name", name, *self.extra])
            self.addCleanup(stop, proc)
            self.servers.append(json.loads(line)["tcp"])


@unittest.skipUnless(GEERPC and TEST_SERVER, "GEERPC and GEERPC_TEST_SERVER are not set")
class Broadcast(TwoServers):
    def setUp(self):
        self.start_servers()

    def test_broadcast_to_two_addresses_prints_one_reply(self):
        r = geerpc("broadcast", ",".join(self.servers), "Echo.Name")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(json.loads(r.stdout), ("alpha", "beta"))

    def test_a_broadcast_fails_with_the_first_error(self):
        self.assertEqual(geerpc("broadcast", ",".join(self.servers), "Echo.Fail", '"x"').returncode, SERVER)

    def test_a_call_to_two_addresses_goes_to_one_of_them(self):
        r = geerpc("call", "--mode", "round_robin", ",".join(self.servers), "Echo.Name")
        self.assertIn(json.loads(r.stdout), ("alpha", "beta"))


@unittest.skipUnless(GEERPC and TEST_SERVER and DEMO, "GEERPC, GEERPC_TEST_SERVER and GEERPC_DEMO are not set")
class Registry(TwoServers):
    def setUp(self):
        self.registry, line = start([DEMO, "--registry", "127.0.0.1:0"])
        self.addCleanup(stop, self.registry)
        self.url = line.split()[-1]  # "registry at http://127.0.0.1:PORT/_geerpc_/registry"
        self.extra = ["--registry-url", self.url]
        self.start_servers()

    def test_servers_lists_what_the_registry_knows(self):
        r = geerpc("servers", "--registry", self.url)
        self.assertEqual((r.returncode, r.stdout.split()), (0, sorted(self.servers)), r.stderr)

    def test_call_through_the_registry(self):
        r = geerpc("call", "--registry", self.url, "Foo.Sum", '{"num1":2,"num2":3}')
        self.assertEqual((r.returncode, r.stdout), (0, "5\n"), r.stderr)

    def test_a_load_run_through_the_registry_reaches_both_servers(self):
        r = geerpc("call", "--registry", self.url, "--mode", "round_robin", "--count", "50", "--concurrency", "2",
                   "Foo.Sum", '{"num1":2,"num2":3}')
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("alpha", "beta"):
            page = json.loads(geerpc("list", "--json", self.servers[0 if name == "alpha" else 1]).stdout)
            foo = next(s for s in page["services"] if s["name"] == "Foo")
            self.assertEqual(next(m for m in foo["methods"] if m["name"] == "Sum")["calls"], 25, name)

    def test_a_registry_nobody_runs_is_a_connection_error(self):
        r = geerpc("servers", "--registry", "http://127.0.0.1:%d/_geerpc_/registry" % free_port())
        self.assertEqual(r.returncode, CONNECTION, r.stderr)


@unittest.skipUnless(GEERPC and TEST_SERVER and ETCD, "GEERPC, GEERPC_TEST_SERVER or etcd is missing")
class Etcd(TwoServers):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        client, peer = free_port(), free_port()
        cls.url = "http://127.0.0.1:%d" % client
        cls.etcd = subprocess.Popen(
            [ETCD, "--name", "cli-test", "--data-dir", os.path.join(cls.dir.name, "data"),
             "--listen-client-urls", cls.url, "--advertise-client-urls", cls.url,
             "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-cluster", "cli-test=http://127.0.0.1:%d" % peer],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Ready when `servers` answers (an empty list); each try waits at most its own --timeout.
        for _ in range(100):
            if geerpc("servers", "--etcd", cls.url, "--timeout", "200ms").returncode == 0:
                break
        else:
            stop(cls.etcd)
            raise RuntimeError("etcd did not start")

    @classmethod
    def tearDownClass(cls):
        stop(cls.etcd)
        cls.dir.cleanup()

    def setUp(self):
        self.extra = ["--etcd", self.url]
        self.start_servers()

    def test_servers_lists_what_etcd_holds(self):
        r = geerpc("servers", "--etcd", self.url)
        self.assertEqual((r.returncode, sorted(r.stdout.split())), (0, sorted(self.servers)), r.stderr)

    def test_broadcast_through_etcd(self):
        r = geerpc("broadcast", "--etcd", self.url, "Foo.Sum", '{"num1":2,"num2":3}')
        self.assertEqual((r.returncode, r.stdout), (0, "5\n"), r.stderr)


if __name__ == "__main__":
    unittest.main()
