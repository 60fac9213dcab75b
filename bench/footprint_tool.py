#!/usr/bin/env python3
"""Helpers of bench/footprint (bench/README.md, "Footprint").

  footprint_tool.py probe PORT READY_FILE [TIMEOUT_S]
      Polls http://127.0.0.1:PORT/healthz, then /readyz, every millisecond
      until each answers 200. Touches READY_FILE once it is polling (so the
      caller starts the replica only then), and prints
      `healthz_us=<epoch µs>` and `readyz_us=<epoch µs>` (the start of the
      first request that got a 200). Exit 1 on timeout.

  footprint_tool.py log LOGFILE
      The epoch µs of the replica's start-up log lines (text format,
      millisecond timestamps): `migrated_us` ("database schema at version"),
      `http_us` ("HTTP API on": the listener is up and the group
      subscription comes next), `assigned_us` (the first "assigned
      partitions"); absent lines are left out.

  footprint_tool.py smaps PID
      What the resident memory of PID is made of, from /proc/PID/smaps, as
      `name=KiB` lines: file-backed memory by file (the executable, each
      shared library), and anonymous memory split into the main heap, thread
      stacks (8 MiB mappings, the default stack size), glibc malloc arenas
      (the rw part of a 64 MiB reservation) and other anonymous mappings
      (mmap'd allocations). `threads=` and `arenas=` count them.
"""

import datetime
import http.client
import os
import re
import sys
import time


def now_us():
    return time.time_ns() // 1000


def get_status(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def probe(port, ready_file, timeout_s):
    deadline = time.monotonic() + timeout_s
    with open(ready_file, "w"):
        pass
    results = {}
    for path, name in (("/healthz", "healthz_us"), ("/readyz", "readyz_us")):
        while True:
            if time.monotonic() > deadline:
                print(f"probe: no 200 from {path} within {timeout_s} s", file=sys.stderr)
                return 1
            started = now_us()
            try:
                if get_status(port, path) == 200:
                    results[name] = started
                    break
            except OSError:
                pass  # not listening yet
            time.sleep(0.001)
    for name, value in results.items():
        print(f"{name}={value}")
    return 0


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:Z|[+-]\d\d:?\d\d)) ")


def log_times(path):
    marks = {
        "migrated_us": "database schema at version",
        "http_us": "HTTP API on ",
        "assigned_us": "assigned partitions [",
    }
    found = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LOG_TIME.match(line)
            if not m:
                continue
            for name, text in marks.items():
                if name not in found and text in line:
                    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f%z")
                    found[name] = int(t.timestamp() * 1_000_000)
    for name in marks:
        if name in found:
            print(f"{name}={found[name]}")
    return 0


MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")


def smaps(pid):
    maps = []  # [start, end, perms, path, rss_kib]
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = MAPPING.match(line)
            if m:
                maps.append([int(m.group(1), 16), int(m.group(2), 16), m.group(3),
                             m.group(4).strip(), 0])
            elif line.startswith("Rss:") and maps:
                maps[-1][4] = int(line.split()[1])
    exe = os.path.realpath(f"/proc/{pid}/exe")
    totals = {}
    threads = arenas = 0

    def add(name, kib):
        totals[name] = totals.get(name, 0) + kib

    for i, (start, end, perms, path, rss) in enumerate(maps):
        size_kib = (end - start) // 1024
        if path.startswith("/"):
            add("file:" + ("(executable)" if path == exe else os.path.basename(path)), rss)
        elif path == "[heap]":
            add("anon:heap (main malloc arena)", rss)
        elif path == "[stack]":
            add("anon:thread stacks", rss)  # the main thread's
        elif path.startswith("["):
            add("other:" + path, rss)
        elif perms.startswith("rw"):
            # glibc arena: a 64 MiB (HEAP_MAX_SIZE) reservation, its used part
            # rw, the rest ---p right after it.
            nxt = maps[i + 1] if i + 1 < len(maps) else None
            if size_kib == 8192 and (i == 0 or maps[i - 1][2].startswith("---")):
                threads += 1
                add("anon:thread stacks", rss)
            elif (nxt and nxt[2].startswith("---") and nxt[0] == end and not nxt[3]
                  and size_kib + (nxt[1] - nxt[0]) // 1024 == 65536) or size_kib == 65536:
                arenas += 1
                add("anon:malloc arenas (threads)", rss)
            else:
                add("anon:other (mmap'd blocks)", rss)
        else:
            add("anon:other (mmap'd blocks)", rss)
    for name, kib in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{name}={kib}")
    print(f"threads={threads}")
    print(f"arenas={arenas}")
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "probe":
        return probe(int(argv[2]), argv[3], float(argv[4]) if len(argv) > 4 else 60.0)
    if len(argv) == 3 and argv[1] == "log":
        return log_times(argv[2])
    if len(argv) == 3 and argv[1] == "smaps":
        return smaps(int(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
