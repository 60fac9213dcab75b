#!/usr/bin/env python3
"""The report of bench/run (bench/README.md, "Side by side: bench/run").

  report.py [--plots DIR] WORK

Prints the Markdown section of the run whose temp folder is WORK, from what
the run left there:
  run.env          the run's settings and what bench/run decided while it
                   ran (the best ceiling run, the Debezium configuration, the
                   two-replica run's stall, the checks, the machine), as
                   `name=value` lines
  *.out            each tool's `name=value` lines (kvstream-1.out, naive.out,
                   bench_dbz.out, latency-*.out, the ceiling runs, ...)
  http.out         bench/http_bench's report, when it ran
  loadavg.log      the load average every 5 s
  and, when the two-replica run stalled, the replicas' logs, metrics and
  /v1/status.
With --plots, also writes the data of the plots bench/run draws
(throughput.dat, latency.dat, resources.dat) into DIR.

Numbers are formatted as C's printf formats them. A ratio that the report
shows and also compares (kvstream over Debezium, ...) is first rounded to 6
significant digits, and both use that. A figure that a tool did not write
leaves its cell empty. Exit 2 on a usage error.
"""

import glob
import json
import math
import os
import re
import sys

# --- numbers ----------------------------------------------------------------

_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PREFIX = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# 0/0 as x86 computes it: a NaN with the sign bit set (printf: "-nan").
_NAN = -math.nan


def num(text):
    """The number TEXT stands for in a formula: None when absent or not a
    number. A word (nan, inf) counts as 0, with its sign: a ratio over a zero
    rate is shown as inf, and compared and formatted again as 0."""
    if text is None:
        return None
    text = text.strip()
    sign = 1.0
    if text[:1] in ("-", "+"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:].strip()
    if _NUMBER.fullmatch(text):
        return sign * float(text)
    if _NAME.fullmatch(text):
        return sign * 0.0
    return None


def leading_number(text):
    """The number at the start of TEXT, 0 if none (a metric's value)."""
    m = _PREFIX.match(text or "")
    return float(m.group(0)) if m else 0.0


def known(*values):
    return all(v is not None for v in values)


def div(a, b):
    """a / b, with IEEE results for a zero divisor; None if either is None."""
    if a is None or b is None:
        return None
    if b == 0:
        if a == 0 or math.isnan(a):
            return _NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def fmt(spec, x):
    """printf(spec, x); "" for an absent figure."""
    if x is None:
        return ""
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return spec % x


def short(x):
    """x with at most 6 significant digits; an integer that fits 32 bits in
    full."""
    if x is None:
        return ""
    if math.isfinite(x) and x == int(x) and -2147483647 <= x <= 2147483647:
        return "%d" % x
    return fmt("%.6g", x)


def rounded(x):
    """x as the report shows and compares it: through short()."""
    return num(short(x)) if x is not None else None


def verdict(ok):
    if ok is None:
        return ""
    return "met" if ok else "**missed**"


def per_million(terms, events):
    """CPU seconds (the sum of TERMS) per million EVENTS, "%.2f"."""
    values = [num(t) for t in terms]
    n = num(events)
    if not known(n, *values):
        return ""
    total = values[0]
    for v in values[1:]:
        total += v
    return fmt("%.2f", div(total, n / 1000000))


def mib(kib):
    x = num(kib)
    return fmt("%.0f", x / 1024 if x is not None else None)


def cut(text, width):
    """The first WIDTH bytes of TEXT."""
    return text.encode("utf-8", "surrogateescape")[:width].decode("utf-8", "surrogateescape")


# --- the run's files ----------------------------------------------------------


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError:
        return None


def lines(text):
    """The lines of TEXT, split at newlines only."""
    if not text:
        return []
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def read_values(path):
    """The `name=value` lines of a file; the last of a name wins."""
    values = {}
    for line in lines(read_text(path)):
        name, sep, value = line.partition("=")
        if sep:
            values[name] = value
    return values


class Run:
    """A run's temp folder."""

    def __init__(self, work):
        self.work = work
        self._files = {}
        self.env = read_values(os.path.join(work, "run.env"))

    def path(self, name):
        return os.path.join(self.work, name)

    def get(self, name):
        """A setting of run.env, "" if absent."""
        return self.env.get(name, "")

    def val(self, file, name):
        """The value of a `name=value` line of a tool's output, "" if absent."""
        if file not in self._files:
            self._files[file] = read_values(self.path(file)) if file else {}
        return self._files[file].get(name, "")

    def lat(self, file, name):
        return fmt("%.1f", num(self.val(file, name)))

    def kept(self, file):
        drained = num(self.val(file, "drain_seconds"))
        if drained is not None and drained <= 1.0:
            return "yes"
        return f"**no** (drained {fmt('%.1f', drained)} s after the last send)"

    def lats(self, file, names=("p50_ms", "p99_ms", "p999_ms")):
        return " / ".join(self.lat(file, n) for n in names)

    def metric(self, file, name):
        """A Prometheus metric's value, "%.0f"; "?" if the file is absent."""
        text = read_text(self.path(file))
        if text is None:
            return "?"
        value = ""
        for line in lines(text):
            fields = line.split()
            if fields and fields[0] == name:
                value = fields[1] if len(fields) > 1 else ""
        return "%.0f" % leading_number(value)

    def http_row(self, label):
        """[requests/s, p50, p99] of http_bench's row LABEL: the first fields
        from column 28; "" for what is not there."""
        for line in lines(read_text(self.path("http.out"))):
            if line.startswith(label) and line[len(label):len(label) + 1] == " ":
                fields = line[27:].split()[:3]
                return fields + [""] * (3 - len(fields))
        return ["", "", ""]

    def load_summary(self):
        loads = []
        for line in lines(read_text(self.path("loadavg.log"))):
            fields = line.split()
            loads.append(leading_number(fields[1]) if len(fields) > 1 else 0.0)
        if not loads:
            return ""
        return "%.2f / %.2f / %.2f (min / mean / max of the 1-minute load average, %d samples every 5 s)" % (
            min(loads), sum(loads) / len(loads), max([0.0] + loads), len(loads))

    def assignments(self, replica, tag):
        """The assignment history in a replica's log, each line tagged."""
        found = []
        for line in lines(read_text(self.path(f"kvstream-2{replica}.log"))):
            if "assigned partitions" in line or "revoked partitions" in line:
                found.append(cut(f"{tag} {line}", 160))
        return found

    def status_partitions(self, replica):
        try:
            with open(self.path(f"kvstream-2{replica}.status")) as f:
                status = json.load(f)
            return str([(p["partition"], p["next_offset"], p["end_offset"]) for p in status["partitions"]])
        except Exception:  # absent or not what a replica answers: unknown
            return "?"

    def first_connector_error(self):
        for log in sorted(glob.glob(self.path("bench_dbz_sweep_*/connect.log"))):
            for line in lines(read_text(log)):
                if "Caused by" in line:
                    return cut(line, 200)
        return ""


# --- the figures ------------------------------------------------------------


class Figures:
    """The figures of the report, computed once from the run's files."""

    def __init__(self, run):
        self.run = run
        get, val = run.get, run.val
        events = get("EVENTS")
        self.baseline = get("baseline")
        self.stalled = get("kv2_stalled")
        k, k2, n, d = "kvstream-1.out", "kvstream-2.out", "naive.out", "bench_dbz.out"
        c = get("best_ceiling_out")
        self.k, self.k2, self.n, self.d, self.c = k, k2, n, d, c
        self.kv_rate = val(k, "events_per_s")
        self.kv2_rate = "0" if self.stalled else val(k2, "events_per_s")
        self.dbz_rate = val(d, "events_per_s")
        self.naive_rate = val(n, "events_per_s")
        self.best_ceiling = get("best_ceiling")

        # CPU seconds per million events: own (the contender's process) and
        # all (with Postgres and the broker over its run).
        self.kv_own = per_million([val(k, "replica_total_cpu_s")], events)
        self.kv_all = per_million([val(k, "replica_total_cpu_s"), val(k, "pg_cpu_s"), val(k, "broker_cpu_s")], events)
        self.kv2_own = self.kv2_all = "-"
        if not self.stalled:
            self.kv2_own = per_million([val(k2, "replica_total_cpu_s"), val(k2, "b_total_cpu_s")], events)
            self.kv2_all = per_million([val(k2, "replica_total_cpu_s"), val(k2, "b_total_cpu_s"), val(k2, "pg_cpu_s"),
                                        val(k2, "broker_cpu_s")], events)
        self.dbz_own = per_million([val(d, "replica_apply_cpu_s")], events)
        self.dbz_all = per_million([val(d, "replica_apply_cpu_s"), val(d, "pg_cpu_s"), val(d, "broker_cpu_s")], events)
        self.dbz_total = per_million([val(d, "replica_total_cpu_s")], events)
        self.naive_n = val(n, "events")
        self.naive_own = per_million([val(n, "self_cpu_s")], self.naive_n)
        self.naive_all = per_million([val(n, "self_cpu_s"), val(n, "pg_cpu_s"), val(n, "broker_cpu_s")], self.naive_n)
        self.ceil_own = per_million([val(c, "self_cpu_s")], events)
        self.ceil_all = per_million([val(c, "self_cpu_s"), val(c, "pg_cpu_s")], events)
        self.kv_rss = val(k, "replica_peak_rss_kib")
        self.dbz_rss = val(d, "replica_peak_rss_kib")
        self.naive_rss = val(n, "peak_rss_kib")
        self.kv2_rss_a = val(k2, "a_peak_rss_kib")
        self.kv2_rss_b = val(k2, "b_peak_rss_kib")
        self.kv_idle = val("latency-kvstream.out", "idle_rss_kib")
        self.kv_hot = self.hot_share(k)
        kb = "kvstream-base.out"
        if self.baseline:
            self.base_rate = val(kb, "events_per_s")
            self.base_own = per_million([val(kb, "replica_total_cpu_s")], events)
            self.base_all = per_million([val(kb, "replica_total_cpu_s"), val(kb, "pg_cpu_s"), val(kb, "broker_cpu_s")],
                                        events)
            self.base_rss = val(kb, "replica_peak_rss_kib")
            self.base_hot = self.hot_share(kb)

        kv = num(self.kv_rate)
        self.ratio_dbz = rounded(div(kv, num(self.dbz_rate)))
        self.ratio_naive = rounded(div(kv, num(self.naive_rate)))
        self.ratio_ceiling = rounded(div(100 * kv if kv is not None else None, num(self.best_ceiling)))
        self.ratio_rss = rounded(div(num(self.dbz_rss), num(self.kv_rss)))

    def hot_share(self, file):
        """The share of kv's updates that were HOT, in %."""
        hot = num(self.run.val(file, "kv_hot_updates"))
        updates = num(self.run.val(file, "kv_updates"))
        if not known(hot, updates):
            return ""
        return short(div(100 * hot, updates + (1 if updates == 0 else 0)))


# --- the report -------------------------------------------------------------


def report(run):
    """The Markdown section, as a list of lines."""
    f = Figures(run)
    get, val, lat, lats, kept = run.get, run.val, run.lat, run.lats, run.kept
    k, n, d, c = f.k, f.n, f.d, f.c
    lk, ln, ld = "latency-kvstream.out", "latency-naive.out", "latency-dbz_latency.out"
    lb = "latency-base.out"
    lh, ldh = "latency-high-kvstream.out", "latency-dbz_latency_high.out"
    quick = get("quick") == "1"
    baseline = f.baseline
    lat_rate, lat_rate_high = get("LAT_RATE"), get("LAT_RATE_HIGH")
    high = (num(lat_rate_high) or 0) > 0
    out = []
    add = out.append

    add(f"### {get('stamp')}: {get('mode')} run")
    add("")
    started, finished = num(get("started_at")), num(get("finished_at"))
    minutes = int((finished - started + 30) // 60) if known(started, finished) else ""
    command_line = "bench/run" + (" --quick" if quick else "")
    add(f"- **Command:** `{command_line}` ({minutes} minutes).")
    note = get("MACHINE_NOTE")
    add(f"- **Machine:** {get('cores')} cores ({get('cpu_model')}), {get('mem_gib')} GiB, {get('os')}, "
        f"Linux {get('kernel')}. {note + ' ' if note else ''}Load average during the run: {run.load_summary()}.")
    add(f"- **Software:** kvstream {get('commit')}; Apache Kafka {get('kafka_version')} (KRaft, one broker); "
        f"{get('pg_version')} (fsync and synchronous_commit on); Kafka Connect {get('connect_version')} (standalone); "
        f"Debezium JDBC sink {get('dbz_version')}; {get('java_version')}.")
    ratio = num(get("DELETE_RATIO"))
    publish_dbz = f"publish-{get('dbz_topic')}.out"
    add(f"- **Workload:** {get('EVENTS')} events over {get('KEYS')} keys, {get('VALUE_BYTES')}-byte values, "
        f"{short(100 * ratio if ratio is not None else None)}% deletes, {get('PARTITIONS')} partitions, "
        f"seed {get('SEED')}. kvstream, the naive consumer and the ceiling read kvstream's records (key = the key, "
        "value = the bytes, null = delete). The Debezium sink reads the same events, on the same partitions at the "
        "same offsets, in Kafka Connect's JSON-with-schema envelope from its own topic "
        f"(about {val(publish_dbz, 'mean_key_bytes')}-byte keys and {val(publish_dbz, 'mean_put_value_bytes')}-byte "
        f"values instead of 11 and {get('VALUE_BYTES')}; deletes are tombstones).")
    add("- **Debezium configuration:** `tasks.max:batch.size:use.reduction.buffer:"
        f"dialect.postgres.unnest.insert.enabled:value type` = `{get('best_config')}` "
        "(consumer.max.poll.records = batch.size), insert.mode=upsert, primary.key.mode=record_key, "
        "delete.enabled=true.")
    add("")

    # The contenders.
    add(f"| contender | events/s | CPU s/M own | CPU s/M all | peak RSS MiB | p50 / p99 / p99.9 ms at {lat_rate}/s "
        "| notes |")
    add("|---|---:|---:|---:|---:|---|---|")
    add(f"| kvstream, 1 replica | {f.kv_rate} | {f.kv_own} | {f.kv_all} | {mib(f.kv_rss)} | {lats(lk)} | defaults; "
        f"{fmt('%.1f', num(val(k, 'seconds_applying')))} s first to last commit; kept up: {kept(lk)} |")
    if baseline:
        add(f"| kvstream baseline, 1 replica | {f.base_rate} | {f.base_own} | {f.base_all} | {mib(f.base_rss)} "
            f"| {lats(lb)} | `{get('baseline_label')}`, the same run; kept up: {kept(lb)} |")
    tuned_wait = get("KV_TUNED_WAIT_MS")
    if (num(tuned_wait) or 0) > 0:
        lt = "latency-kvstream-tuned.out"
        add(f"| kvstream, KVSTREAM_BATCH_MAX_WAIT_MS={tuned_wait} | | | | | {lats(lt)} | latency run only "
            f"(default: 0 ms); kept up: {kept(lt)} |")
    if f.stalled:
        add(f"| kvstream, 2 replicas | **stalled** | | | {mib(f.kv2_rss_a)} + {mib(f.kv2_rss_b)} | | one group, "
            f"one database: {f.stalled} (see the notes below the table) |")
    else:
        add(f"| kvstream, 2 replicas | {f.kv2_rate} | {f.kv2_own} | {f.kv2_all} | {mib(f.kv2_rss_a)} + "
            f"{mib(f.kv2_rss_b)} | | one group, one database; CPU: both replicas |")
    add(f"| Debezium JDBC sink | {f.dbz_rate} | {f.dbz_own} | {f.dbz_all} | {mib(f.dbz_rss)} | {lats(ld)} | Kafka "
        f"Connect JVM; CPU over its apply window ({f.dbz_total} s/M over its whole life, JVM start included); "
        f"kept up: {kept(ld)} |")
    add(f"| naive consumer | {f.naive_rate} | {f.naive_own} | {f.naive_all} | {mib(f.naive_rss)} | {lats(ln)} "
        f"| a sample: {f.naive_n} events in {fmt('%.1f', num(val(n, 'seconds')))} s; kept up: {kept(ln)} |")
    add(f"| database ceiling | {f.best_ceiling} | {f.ceil_own} | {f.ceil_all} | n/a | n/a | {val(c, 'method')}, "
        f"{val(c, 'connections')} connection(s), {val(c, 'batch_events')} events per transaction; no Kafka "
        f"(runs: {get('ceiling_runs')}) |")
    add("")
    add("CPU s/M: CPU seconds per million events; own: the contender's process; all: with Postgres and the broker.")
    add("Latency: send (the record's timestamp) to the first poll that sees the event committed, every event, "
        f"probe every {get('PROBE_MS')} ms;")
    add(f"{lat_rate} events/s for {get('LAT_SECONDS')} s, a rate all three sustain (half the naive consumer's "
        "measured rate unless `LAT_RATE` is set).")
    add(f"Every latency run starts with {get('WARMUP_SECONDS')} s of uncounted events at the same rate "
        "(connections, metadata and the producer id;")
    add("the Debezium sink's JVM compiles its hot paths in its first seconds of work), and the publisher sends each "
        "record with")
    add(f"linger.ms {get('LAT_LINGER_MS')}, the same for every contender.")
    add("")

    # The targets.
    add("| target | measured | goal | verdict |")
    add("|---|---|---|---|")
    kv, dbz_rss, kv_rss = num(f.kv_rate), num(f.dbz_rss), num(f.kv_rss)
    if baseline:
        base = num(f.base_rate)
        add(f"| throughput over the baseline binary | {fmt('%.2f', div(kv, base))}x ({f.kv_rate} vs {f.base_rate} "
            f"events/s) | >= 1.5x | {verdict(kv >= 1.5 * base if known(kv, base) else None)} |")
    add(f"| throughput over the Debezium JDBC sink | {fmt('%.1f', f.ratio_dbz)}x | >= 3x "
        f"| {verdict(f.ratio_dbz >= 3 if known(f.ratio_dbz) else None)} |")
    add(f"| throughput over the best database ceiling | {fmt('%.1f', f.ratio_ceiling)}% of {f.best_ceiling} "
        f"({val(c, 'method')}) | >= 90% | {verdict(f.ratio_ceiling >= 90 if known(f.ratio_ceiling) else None)} |")
    base_hot = f"; baseline {f.base_hot}%" if baseline else ""
    add(f"| updates of `kv` that are HOT | {f.kv_hot}% ({val(k, 'kv_hot_updates')} of {val(k, 'kv_updates')})"
        f"{base_hot} | most | |")
    p50 = num(val(lk, "p50_ms"))
    add(f"| p50 at {lat_rate}/s | {lat(lk, 'p50_ms')} ms | <= 5 ms | {verdict(p50 <= 5 if known(p50) else None)} |")
    for name, label in (("p99_ms", "p99"), ("p999_ms", "p99.9")):
        ours, theirs = num(val(lk, name)), num(val(ld, name))
        add(f"| {label} at {lat_rate}/s | {lat(lk, name)} vs Debezium's {lat(ld, name)} ms | below "
            f"| {verdict(ours < theirs if known(ours, theirs) else None)} |")
    if high:
        ours, theirs = num(val(lh, "p99_ms")), num(val(ldh, "p99_ms"))
        add(f"| p99 at {lat_rate_high}/s | {lat(lh, 'p99_ms')} vs Debezium's {lat(ldh, 'p99_ms')} ms | <= 50 ms "
            f"and below | {verdict(ours <= 50 and ours < theirs if known(ours, theirs) else None)} |")
    add(f"| peak RSS catching up | {mib(f.kv_rss)} MiB; Debezium + Connect {mib(f.dbz_rss)} MiB "
        f"(1/{fmt('%.0f', f.ratio_rss)}) | <= 64 MiB | {verdict(kv_rss <= 65536 if known(kv_rss) else None)} |")
    idle = num(f.kv_idle)
    add(f"| RSS idle | {fmt('%.1f', idle / 1024 if known(idle) else None)} MiB | < 25 MB "
        f"| {verdict(idle * 1024 < 25000000 if known(idle) else None)} |")
    kv_own = num(f.kv_own)
    base_own = f"; baseline {f.base_own}" if baseline else ""
    add(f"| CPU s per million events, the replica | {f.kv_own}{base_own} | <= 1.5 "
        f"| {verdict(kv_own <= 1.5 if known(kv_own) else None)} |")
    add(f"| CPU s per million events, all | {f.kv_all}; Debezium {f.dbz_all} "
        f"(1/{fmt('%.1f', div(num(f.dbz_all), num(f.kv_all)))}) | | |")
    if not f.stalled:
        kv2 = num(f.kv2_rate)
        add(f"| two replicas, one database | {fmt('%.2f', div(kv2, kv))}x of one | >= 0.95x "
            f"| {verdict(kv2 >= 0.95 * kv if known(kv, kv2) else None)} |")
    add(f"| throughput over the naive consumer | {fmt('%.1f', f.ratio_naive)}x | | |")
    out.extend(http_verdicts(run))
    add("")

    if high:
        add(f"At {lat_rate_high} events/s for {get('LAT_SECONDS')} s (the naive consumer cannot sustain it):")
        add("")
        add("| contender | p50 / p99 / p99.9 / max ms | kept up |")
        add("|---|---|---|")
        every = ("p50_ms", "p99_ms", "p999_ms", "max_ms")
        lhb = "latency-high-base.out"
        add(f"| kvstream, 1 replica | {lats(lh, every)} | {kept(lh)} |")
        if baseline:
            add(f"| kvstream baseline | {lats(lhb, every)} | {kept(lhb)} |")
        add(f"| Debezium JDBC sink | {lats(ldh, every)} | {kept(ldh)} |")
        add("")
        add("Where the CPU went in those runs (seconds over each run's window, warm-up included):")
        add("")
        add("| contender | window s | machine busy | broker | Postgres | publisher and probe | contender "
            "| contender waited for a CPU |")
        add("|---|---:|---:|---:|---:|---:|---:|---:|")
        add(cpu_row(run, "kvstream, 1 replica", lh))
        if baseline:
            add(cpu_row(run, "kvstream baseline", lhb))
        add(cpu_row(run, "Debezium JDBC sink (Connect)", ldh))
        add("")
        add("Machine busy: CPU seconds of the whole machine over the window's core-seconds; the publisher sends each "
            "record")
        add("with linger.ms 0, so the broker handles one produce request per event.")
        add("")

    sweep = sweep_rows(run)
    if sweep:
        add(f"Debezium tuning on the first {get('SWEEP_EVENTS')} events (`tasks.max:batch.size:use.reduction.buffer:"
            "unnest:value type`; the best ran on the whole workload):")
        add("")
        add("| configuration | events/s | Connect CPU s/M |")
        add("|---|---:|---:|")
        out.extend(sweep)
        if os.path.isfile(run.path("dbz-failed-configs")):
            add("")
            add(f"A failed configuration's connector task died; its first error: {run.first_connector_error()}")
        add("")

    add("Reads:")
    add("")
    status = get("http_status")
    if status == "ok":
        add("| contender | requests/s | p50 ms | p99 ms |")
        add("|---|---:|---:|---:|")
        for label in ("kvstream GET, cache hit", "kvstream GET, cache miss", "pgbench point select",
                      "HTTP ceiling (Beast)"):
            rps, p50s, p99s = (v or "-" for v in run.http_row(label))
            add(f"| {label} | {rps} | {p50s} | {p99s} |")
        add("")
        add(f"From `bench/http_bench{' --quick' if quick else ''}` (its own broker and Postgres, after ours stopped; "
            "100k keys;")
        add("the cache-miss replica runs with its cache off; pgbench: `SELECT value FROM kv WHERE key = :k`, "
            "prepared).")
    elif status == "failed":
        add("`bench/http_bench` failed in this run (its log is in the kept temp folder); no read figures.")
    elif status == "skipped":
        add("Skipped (`HTTP_BENCH=0`).")
    else:
        add("TODO: `bench/http_bench` (cache-hit GET, cache-miss GET, direct Postgres point select) is not in this "
            "tree yet; bench/run calls it when it is.")
    add("")

    if f.stalled:
        add(f"**The two-replica run stalled.** {f.stalled}. The replicas' assignment history (their logs):")
        add("")
        add("```")
        out.extend(run.assignments("a", "A"))
        out.extend(run.assignments("b", "B"))
        add("```")
        add("")
        add("What the replicas reported then: paused partitions (kvstream_paused_partitions) "
            f"A {run.metric('kvstream-2a.metrics', 'kvstream_paused_partitions')}, "
            f"B {run.metric('kvstream-2b.metrics', 'kvstream_paused_partitions')}; /v1/status partitions: "
            f"A `{run.status_partitions('a')}`, B `{run.status_partitions('b')}` (partition, applied, end).")
        add("")

    add("Where the time went (sampled every 10 ms from `pg_stat_activity`, the contender's connections):")
    add("")
    add(f"- kvstream, 1 replica: {val(k, 'pg_activity')}")
    add(f"- Debezium JDBC sink: {val(d, 'pg_activity')}")
    add(f"- naive consumer: {val(n, 'pg_activity')}")
    add(f"- database ceiling: {val(c, 'pg_activity')}")
    add("")

    def s1(file, name):
        return fmt("%.1f", num(val(file, name)))

    add(f"Waiting for a CPU (run queue) during the throughput runs: kvstream replica {s1(k, 'replica_runq_s')} s "
        f"of {s1(k, 'window_s')} s, Postgres {s1(k, 'pg_runq_s')} s; Kafka Connect {s1(d, 'replica_runq_s')} s "
        f"of {s1(d, 'window_s')} s, Postgres {s1(d, 'pg_runq_s')} s.")
    add("")
    tables = ("1 replica; the stalled two-replica run's is not checked" if f.stalled else "1 and 2 replicas")
    add(f"Checks: kvstream's tables ({tables}) and every ceiling run's are identical ({get('expected')} rows and "
        "digest); the Debezium table equals the workload's final state and kvstream's live rows "
        f"({get('kv_live')}): **{get('check')}**.")
    add("")
    stamp = get("stamp")
    add(f"![throughput](benchmarks/{stamp}-throughput.png)")
    add(f"![latency](benchmarks/{stamp}-latency.png)")
    add(f"![footprint](benchmarks/{stamp}-resources.png)")
    return out


def cpu_row(run, label, file):
    """A latency run's CPU by process (the tools' CostWindow)."""
    val, lat = run.val, run.lat
    machine, window, cores = (num(val(file, n)) for n in ("machine_cpu_s", "window_s", "cores"))
    busy = rounded(div(100 * machine, window * cores)) if known(machine, window, cores) else None
    return (f"| {label} | {lat(file, 'window_s')} | {fmt('%.0f', busy)}% | {lat(file, 'broker_cpu_s')} "
            f"| {lat(file, 'pg_cpu_s')} | {lat(file, 'self_cpu_s')} | {lat(file, 'replica_cpu_s')} "
            f"| {lat(file, 'replica_runq_s')} |")


def http_verdicts(run):
    """The target rows of the reads."""
    status = run.get("http_status")
    if status != "ok":
        return [f"| reads (bench/http_bench) | {status} | | |"]
    hit_s = run.http_row("kvstream GET, cache hit")[0]
    ceil_s = run.http_row("HTTP ceiling (Beast)")[0]
    pg_s = run.http_row("pgbench point select")[0]
    if not (hit_s and ceil_s and pg_s):
        return []
    hit, ceil, pg = num(hit_s), num(ceil_s), num(pg_s)
    ok = known(hit, ceil, pg)
    return [
        f"| cache-hit GET over the Beast ceiling | {fmt('%.1f', div(100 * hit, ceil) if ok else None)}% "
        f"({hit_s} vs {ceil_s} requests/s) | >= 80% | {verdict(hit >= 0.8 * ceil if ok else None)} |",
        f"| cache-hit GET over pgbench's point select | {fmt('%.2f', div(hit, pg) if ok else None)}x "
        f"({pg_s} transactions/s) | >= 1.2x | {verdict(hit >= 1.2 * pg if ok else None)} |",
    ]


def sweep_rows(run):
    """The rows of the Debezium tuning: one per configuration tried."""
    configs = run.get("debezium_configs").split()
    results = run.get("sweep_results").split()
    events = num(run.get("SWEEP_EVENTS"))
    rows = []
    for i, (config, result) in enumerate(zip(configs, results), start=1):
        if result != "ok":
            rows.append(f"| `{config}` | failed (see below) | - |")
            continue
        out = f"bench_dbz_sweep_{i}.out"
        cpu = num(run.val(out, "replica_apply_cpu_s"))
        per_m = div(cpu, events / 1000000) if known(cpu, events) else None
        rows.append(f"| `{config}` | {run.val(out, 'events_per_s')} | {fmt('%.1f', per_m)} |")
    return rows


def plot_data(run):
    """The data files of the plots: {name: text}."""
    f = Figures(run)
    val = run.val
    throughput = [f'"kvstream\\n1 replica" {f.kv_rate}']
    if not f.stalled:
        throughput.append(f'"kvstream\\n2 replicas" {f.kv2_rate}')
    throughput += [f'"database\\nceiling" {f.best_ceiling}', f'"Debezium\\nJDBC sink" {f.dbz_rate}',
                   f'"naive\\nconsumer" {f.naive_rate}']
    latency = [f'"{label}" {val(file, "p50_ms")} {val(file, "p99_ms")} {val(file, "p999_ms")}'
               for label, file in (("kvstream", "latency-kvstream.out"),
                                   ("Debezium JDBC sink", "latency-dbz_latency.out"),
                                   ("naive consumer", "latency-naive.out"))]
    resources = [f'"kvstream" {mib(f.kv_rss)} {f.kv_all}',
                 f'"Debezium\\n+ Connect" {mib(f.dbz_rss)} {f.dbz_all}',
                 f'"naive" {mib(f.naive_rss)} {f.naive_all}']
    return {"throughput.dat": throughput, "latency.dat": latency, "resources.dat": resources}


def main(argv):
    args = argv[1:]
    plots = None
    if len(args) == 3 and args[0] == "--plots":
        plots, args = args[1], args[2:]
    if len(args) != 1 or not os.path.isdir(args[0]):
        print(__doc__, file=sys.stderr)
        return 2
    run = Run(args[0])
    if plots is not None:
        for name, lines in plot_data(run).items():
            with open(os.path.join(plots, name), "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write("".join(line + "\n" for line in lines))
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")
    sys.stdout.write("".join(line + "\n" for line in report(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
