"""The watch (GET /v1/watch) as its two kinds of clients receive it.

A real kvstream-consumer replica, on a topic, consumer group and database of
its own on the broker and Postgres of scripts/test (KVSTREAM_TEST_BROKERS,
KVSTREAM_TEST_PG_URL), is watched while kvstream-producer publishes puts and
deletes:

- by `curl -sN`, whose raw stream is checked line by line: the headers, the
  opening `retry:` and `id:`, each event's type, resume token and data, and
  a heartbeat once the stream is idle;
- by headless Chromium's EventSource (Debian's chromium and chromedriver,
  driven by Selenium), on a page of the replica's own origin (/healthz), so
  that no CORS is involved. Its connection goes through a forwarder of this
  test that can drop it: the browser reconnects by itself, sends the last id
  it received as Last-Event-ID, and receives the changes published while it
  was away, each once.

Everything listens on 127.0.0.1; every wait is bounded; what the test starts
it stops, by pid (README.md).
"""

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PARTITIONS = 3
HEARTBEAT_MS = 1000

# Set by main() from the command line (CMake passes the built binaries).
ARGS = None
# What the tests started, stopped in reverse order at the end, also when a
# setup fails half-way or the run is interrupted.
CLEANUP = contextlib.ExitStack()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, predicate, timeout_s, interval_s=0.1):
    """Polls `predicate` until it answers something truthy, which it returns;
    fails the test with `what` once `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(interval_s)


# Straight to loopback, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(port, path, timeout_s=5):
    """The status and body of GET `path`, or (0, "") when nothing answers."""
    try:
        with OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def stop(process, grace_s=30):
    """SIGTERM, then SIGKILL after `grace_s`: the process this test started."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path, lines=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def parse_vector(text):
    """A position vector ("0:41,1:-1,2:17") as {partition: offset}."""
    return {int(p): int(o) for p, o in (item.split(":") for item in text.split(","))}


def parse_stream(text):
    """The complete messages of an event stream, each a list of (field, value)
    lines in order; a comment is the field ""."""
    messages = []
    for block in text.split("\n\n")[:-1]:  # the last one is not complete yet
        lines = []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            lines.append((field, value[1:] if value.startswith(" ") else value))
        messages.append(lines)
    return messages


class Replica:
    """A topic, database and consumer group of their own, and one
    kvstream-consumer replica on them with its HTTP API on a free port."""

    def __init__(self, work):
        brokers = os.environ.get("KVSTREAM_TEST_BROKERS")
        admin_url = os.environ.get("KVSTREAM_TEST_PG_URL")
        if not brokers or not admin_url:
            raise RuntimeError(
                "KVSTREAM_TEST_BROKERS and KVSTREAM_TEST_PG_URL are not set: run the test "
                "through scripts/test, which starts Kafka and Postgres and sets them")
        run = f"browser{os.getpid()}x{os.urandom(3).hex()}"
        self.brokers = brokers
        self.topic = f"kvstream-{run}"
        self.port = free_port()
        self.log = os.path.join(work, "replica.log")

        database = f"kv_{run}"
        subprocess.run(["psql", "-q", admin_url, "-c", f"CREATE DATABASE {database}"],
                       check=True, timeout=30)
        CLEANUP.callback(subprocess.run, [
            "psql", "-q", admin_url, "-c", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        ], timeout=30, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pg_url = urllib.parse.urlunsplit(
            urllib.parse.urlsplit(admin_url)._replace(path="/" + database))

        # The topic and its dead-letter topic at once (each is a Java start).
        creating = []
        for topic, config in ((self.topic, ["--config", "cleanup.policy=compact"]),
                              (self.topic + ".dlq", [])):
            command = [
                os.path.join(ROOT, "tests/env/kafka-env"), "java",
                "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", brokers, "--create",
                "--if-not-exists", "--topic", topic, "--partitions", str(PARTITIONS),
                "--replication-factor", "1", *config
            ]
            creating.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        for p in creating:
            if p.wait(120) != 0:
                raise RuntimeError("creating the topics failed")

        # Its settings are these alone: no KVSTREAM_* variable of the
        # caller's (the harness's own, or a developer's token) reaches it.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KVSTREAM_")}
        env = dict(self.env)
        env.update(KVSTREAM_BROKERS=brokers, KVSTREAM_TOPIC=self.topic, KVSTREAM_GROUP=self.topic,
                   KVSTREAM_PG_URL=pg_url, KVSTREAM_HTTP_ADDR=f"127.0.0.1:{self.port}",
                   KVSTREAM_WATCH_HEARTBEAT_MS=str(HEARTBEAT_MS))
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([ARGS.consumer], env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        CLEANUP.callback(stop, self.process)

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"the replica exited ({self.process.returncode}):\n" +
                                     tail(self.log))
            return http_get(self.port, "/readyz")[0] == 200

        wait_until("the replica is ready", ready, 90)

        # It owns every partition, and has caught up with them, before the
        # watches start.
        def owns_all():
            status, body = http_get(self.port, "/v1/status")
            return status == 200 and len(json.loads(body)["partitions"]) == PARTITIONS

        wait_until("the replica owns the topic's partitions", owns_all, 60)
        wait_until("the replica is ready with its partitions", ready, 60)

    def publish(self, op, key, value=None, content_type=None):
        """kvstream-producer put/delete; the position it printed, (partition, offset).
        A bytes value goes through stdin."""
        command = [ARGS.producer]
        if content_type is not None:
            command += ["--content-type", content_type]
        command += [op, key]
        stdin = None
        if isinstance(value, bytes):
            command.append("-")
            stdin = value
        elif value is not None:
            command.append(value)
        env = dict(self.env, KVSTREAM_BROKERS=self.brokers, KVSTREAM_TOPIC=self.topic)
        done = subprocess.run(command, input=stdin, env=env, capture_output=True, timeout=60,
                              check=False)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(command)}: exit {done.returncode}: " +
                                 done.stderr.decode(errors="replace"))
        partition, offset = done.stdout.decode().split()[-1].split(":")
        return int(partition), int(offset)


class Forwarder:
    """A TCP forwarder on 127.0.0.1 to the replica, for the browser. `drop()`
    closes every connection it carries and turns new ones away (accepted and
    closed at once: a network error, as the browser sees it) until `admit()`.
    It keeps what each connection's client sent, to read the requests' headers."""

    def __init__(self, target_port):
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets = set()
        self._admitting = True
        self._sent = []  # per connection, what its client sent
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                admitting = self._admitting
            if not admitting:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            sent = bytearray()
            with self._lock:
                self._sockets.update((client, upstream))
                self._sent.append(sent)
            threading.Thread(target=self._pump, args=(client, upstream, sent), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, source, sink, keep):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if keep is not None:
                    with self._lock:
                        keep += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _close(self, *sockets):
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
            with self._lock:
                self._sockets.discard(s)

    def drop(self):
        with self._lock:
            self._admitting = False
            sockets = list(self._sockets)
        self._close(*sockets)

    def admit(self):
        with self._lock:
            self._admitting = True

    def close(self):
        self._listener.close()
        self.drop()

    def requests(self):
        """The head of every request received, in order, as (request line,
        {lower-case header name: value})."""
        with self._lock:
            streams = [bytes(s) for s in self._sent]
        heads = []
        for stream in streams:
            for head in stream.split(b"\r\n\r\n")[:-1]:  # GETs: no bodies
                lines = head.decode(errors="replace").split("\r\n")
                fields = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    fields[name.strip().lower()] = value.strip()
                heads.append((lines[0], fields))
        return heads


# Runs in the page: an EventSource that keeps what it receives in window.kv.
# `error` is both a lost connection (an Event: the browser reconnects by
# itself, readyState CONNECTING) and the replica's own `event: error` (a
# MessageEvent with data).
OPEN_EVENT_SOURCE = """
const url = arguments[0];
window.kv = {events: [], opens: 0, errors: []};
const source = new EventSource(url);
window.kvSource = source;
source.onopen = () => { window.kv.opens += 1; };
source.onerror = (e) => {
  window.kv.errors.push({state: source.readyState, data: e.data === undefined ? null : e.data});
};
for (const type of ['put', 'delete']) {
  source.addEventListener(type, (e) => {
    window.kv.events.push({type: e.type, id: e.lastEventId, data: e.data, origin: e.origin});
  });
}
"""
SEEN = "return {events: window.kv.events, opens: window.kv.opens, errors: window.kv.errors, " \
       "state: window.kvSource.readyState};"


class WatchTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="kvstream-browser.")
        CLEANUP.callback(shutil.rmtree, cls.work, ignore_errors=True)
        cls.replica = Replica(cls.work)
        cls.run_id = cls.replica.topic

    def assert_event(self, event_type, event_id, data, expected):
        """One event against what was published: `expected` is (type, key,
        (partition, offset), data fields besides key and position)."""
        want_type, key, (partition, offset), fields = expected
        self.assertEqual(event_type, want_type, data)
        self.assertEqual(data, {"key": key, "position": f"{partition}:{offset}", **fields})
        # The resume token: every partition, this one at this event.
        vector = parse_vector(event_id)
        self.assertEqual(sorted(vector), list(range(PARTITIONS)), event_id)
        self.assertEqual(vector[partition], offset, event_id)

    def assert_in_log_order(self, positions):
        """Each partition's events in the order of its offsets."""
        last = {}
        for p, o in positions:
            self.assertGreater(o, last.get(p, -1), positions)
            last[p] = o

    def test_curl_receives_puts_and_deletes(self):
        replica = self.replica
        prefix = f"watch/{self.run_id}/curl/"
        output = os.path.join(self.work, "curl.out")
        headers = os.path.join(self.work, "curl.headers")
        url = f"http://127.0.0.1:{replica.port}/v1/watch?prefix={urllib.parse.quote(prefix)}"
        with open(output, "wb") as out:
            curl = subprocess.Popen(
                ["curl", "-sSN", "--noproxy", "*", "--max-time", "120", "-D", headers, url],
                stdout=out)
        CLEANUP.callback(stop, curl, 5)

        def stream():
            with open(output, encoding="utf-8", errors="replace") as f:
                return parse_stream(f.read())

        # The stream opens with the reconnection delay and where it starts,
        # before any event: from then on every change is sent.
        opening = wait_until("the watch's opening message", stream, 30)[0]
        self.assertEqual([f for f, _ in opening], ["retry", "id"], opening)
        self.assertEqual(opening[0][1], "2000")
        self.assertEqual(sorted(parse_vector(opening[1][1])), list(range(PARTITIONS)))

        with open(headers, encoding="latin-1", newline="") as f:
            head = f.read().split("\r\n")
        self.assertRegex(head[0], r"^HTTP/1\.1 200")
        fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        self.assertEqual(fields.get("content-type"), "text/event-stream")
        self.assertEqual(fields.get("cache-control"), "no-cache")
        self.assertEqual(fields.get("transfer-encoding"), "chunked")

        put_a = replica.publish("put", prefix + "a", "hello, watch", "text/plain; charset=utf-8")
        put_b = replica.publish("put", prefix + "b", '{"n":1}', "application/json")
        elsewhere = replica.publish("put", f"watch/{self.run_id}/other", "not under the prefix")
        delete_a = replica.publish("delete", prefix + "a")
        expected = [
            ("put", prefix + "a", put_a, {
                "value": "hello, watch",
                "value_encoding": "utf-8",
                "content_type": "text/plain; charset=utf-8"
            }),
            ("put", prefix + "b", put_b, {
                "value": '{"n":1}',
                "value_encoding": "utf-8",
                "content_type": "application/json"
            }),
            ("delete", prefix + "a", delete_a, {}),
        ]

        def events():
            got = [m for m in stream() if m and m[0][0] == "event"]
            return got if len(got) >= len(expected) else None

        got = wait_until("curl receives the three events", events, 60)
        self.assertEqual(len(got), len(expected), got)
        # No order across partitions: matched by position.
        by_position = {}
        for message in got:
            self.assertEqual([f for f, _ in message], ["event", "id", "data"], message)
            data = json.loads(message[2][1])
            by_position[data["position"]] = (message, data)
        self.assertEqual(sorted(by_position), sorted(f"{p}:{o}" for _, _, (p, o), _ in expected))
        for want in expected:
            message, data = by_position["%d:%d" % want[2]]
            self.assert_event(message[0][1], message[1][1], data, want)
        self.assert_in_log_order([tuple(map(int, d["position"].split(":")))
                                  for d in (json.loads(m[2][1]) for m in got)])

        # Idle, the stream carries heartbeat comments with the current id;
        # one comes whose id has gone past every change published, the one
        # of the key outside the prefix too, which was never sent.
        def heartbeat_past_all():
            for message in stream():
                if message[0] != ("", "heartbeat"):
                    continue
                self.assertEqual([f for f, _ in message], ["", "id"], message)
                vector = parse_vector(message[1][1])
                if all(vector[p] >= o for p, o in (put_a, put_b, elsewhere, delete_a)):
                    return message
            return None

        wait_until("a heartbeat past every change", heartbeat_past_all,
                   10 + 3 * HEARTBEAT_MS / 1000)
        self.assertEqual(len([m for m in stream() if m[0][0] == "event"]), len(expected))
        self.assertIsNone(curl.poll(), "curl's stream ended early")

    def test_browser_event_source_receives_and_resumes(self):
        replica = self.replica
        prefix = f"watch/{self.run_id}/browser/"
        # List, then watch from the listing's positions (the list-then-watch
        # of docs/openapi.yaml); the URL keeps this `from` when the browser
        # reconnects, and its Last-Event-ID must win over it.
        status, body = http_get(replica.port, f"/v1/kv?prefix={urllib.parse.quote(prefix)}")
        self.assertEqual(status, 200, body)
        listing = json.loads(body)
        self.assertEqual(listing["items"], [])

        forwarder = Forwarder(replica.port)
        CLEANUP.callback(forwarder.close)
        origin = f"http://127.0.0.1:{forwarder.port}"

        for path in (CHROMIUM, CHROMEDRIVER):
            self.assertTrue(os.access(path, os.X_OK),
                            f"{path} is missing: scripts/install-deps installs chromium and "
                            "chromium-driver")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
                "--headless=new",
                # As root (CI) Chromium runs only without its sandbox; the
                # page is the replica's own, on loopback.
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                # Nothing but the replica: no background connections to
                # hosts this machine may not reach, no proxy.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--no-proxy-server",
                "--user-data-dir=" + os.path.join(self.work, "chromium"),
        ):
            options.add_argument(arg)
        driver_log = os.path.join(self.work, "chromedriver.log")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=driver_log),
                                  options=options)
        CLEANUP.callback(driver.quit)
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)

        # A page of the replica's origin: its EventSource needs no CORS.
        driver.get(origin + "/healthz")
        self.assertIn('"ok"', driver.find_element("tag name", "body").text)
        watch_path = (f"/v1/watch?prefix={urllib.parse.quote(prefix, safe='')}"
                      f"&from={listing['positions']}")
        driver.execute_script(OPEN_EVENT_SOURCE, watch_path)

        def seen():
            return driver.execute_script(SEEN)

        wait_until("the EventSource opens", lambda: seen()["opens"] == 1, 30)

        def check(received, expected):
            self.assertEqual(len(received), len(expected), received)
            by_position = {}
            for event in received:
                self.assertEqual(event["origin"], origin, event)
                data = json.loads(event["data"])
                by_position[data["position"]] = (event, data)
            self.assertEqual(sorted(by_position),
                             sorted(f"{p}:{o}" for _, _, (p, o), _ in expected), received)
            for want in expected:
                event, data = by_position["%d:%d" % want[2]]
                self.assert_event(event["type"], event["id"], data, want)

        text_key = prefix + "ключ"
        binary = b"\xff\xfe\x00\x01kv"
        put_text = replica.publish("put", text_key, "héllo ☃", "text/plain; charset=utf-8")
        put_bytes = replica.publish("put", prefix + "bytes", binary, "application/octet-stream")
        replica.publish("put", f"watch/{self.run_id}/elsewhere", "not under the prefix")
        delete_text = replica.publish("delete", text_key)
        before = [
            ("put", text_key, put_text, {
                "value": "héllo ☃",
                "value_encoding": "utf-8",
                "content_type": "text/plain; charset=utf-8"
            }),
            ("put", prefix + "bytes", put_bytes, {
                "value": base64.b64encode(binary).decode(),
                "value_encoding": "base64",
                "content_type": "application/octet-stream"
            }),
            ("delete", text_key, delete_text, {}),
        ]
        wait_until("the browser receives the three events",
                   lambda: len(seen()["events"]) >= len(before), 60)
        first = seen()
        check(first["events"], before)
        self.assertEqual(first["errors"], [])
        last_id = first["events"][-1]["id"]

        # The connection drops: the browser keeps trying (CONNECTING, not
        # CLOSED), while more changes are published.
        forwarder.drop()

        def reconnecting():
            now = seen()
            return now["errors"] and now["state"] == 0

        wait_until("the browser notices the lost connection and tries again", reconnecting, 30)
        put_after = replica.publish("put", prefix + "after", '{"resumed":true}',
                                    "application/json")
        delete_bytes = replica.publish("delete", prefix + "bytes")
        after = [
            ("put", prefix + "after", put_after, {
                "value": '{"resumed":true}',
                "value_encoding": "utf-8",
                "content_type": "application/json"
            }),
            ("delete", prefix + "bytes", delete_bytes, {}),
        ]
        self.assertEqual(len(seen()["events"]), len(before))

        # Let through again: the browser resumes from the last id it
        # received and gets what it missed, each once, nothing before it.
        forwarder.admit()
        def resumed():
            now = seen()
            return now["opens"] == 2 and len(now["events"]) >= len(before) + len(after)

        wait_until("the browser reconnects and receives the two events it missed", resumed, 60)
        time.sleep(2 * HEARTBEAT_MS / 1000)  # anything more would come by now
        final = seen()
        self.assertEqual(final["state"], 1)  # OPEN
        self.assertEqual(final["opens"], 2)
        self.assertTrue(all(e["data"] is None and e["state"] == 0 for e in final["errors"]),
                        final["errors"])  # lost connections only, no event: error
        check(final["events"][:len(before)], before)
        check(final["events"][len(before):], after)
        self.assert_in_log_order([tuple(map(int, json.loads(e["data"])["position"].split(":")))
                                  for e in final["events"]])

        watches = [fields for line, fields in forwarder.requests() if "/v1/watch?" in line]
        self.assertGreaterEqual(len(watches), 2, watches)
        self.assertNotIn("last-event-id", watches[0])
        self.assertEqual(watches[-1].get("last-event-id"), last_id, watches[-1])
        self.assertEqual(watches[-1].get("accept"), "text/event-stream", watches[-1])
        driver.execute_script("window.kvSource.close();")


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--consumer", required=True, help="the kvstream-consumer binary")
    parser.add_argument("--producer", required=True, help="the kvstream-producer binary")
    ARGS, rest = parser.parse_known_args()
    # Ctrl-C or a SIGTERM (ctest's, a CI's) stops the run with the cleanups.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result = None
    try:
        result = unittest.main(argv=[sys.argv[0], *rest], exit=False, verbosity=2).result
    finally:
        failed = result is None or not result.wasSuccessful()
        if failed and WatchTest.__dict__.get("work"):
            for name in ("replica.log", "chromedriver.log"):
                lines = tail(os.path.join(WatchTest.work, name))
                if lines:
                    print(f"--- the last lines of {name}:\n{lines}", file=sys.stderr)
        CLEANUP.close()
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
