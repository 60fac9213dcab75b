"""Tests of bench/report.py, the report of bench/run.

Each folder in fixtures/ is a run's temp folder, cut down to what the report
reads, and fixtures/NAME.md the report bench/run printed for it: quick is a
real `bench/run --quick`; full is made up to have every part of a full run
(a baseline binary, the tuned and high-rate latency runs, a tuning sweep
with a failed configuration). The other tests change a copy of a fixture
and look at the rows that change.

  python3 -m unittest discover -s bench/tests
"""

import io
import os
import shutil
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
sys.path.insert(0, os.path.dirname(HERE))

import report  # noqa: E402  (bench/report.py)


def render(work):
    return "".join(line + "\n" for line in report.report(report.Run(work)))


class Folder:
    """A copy of a fixture folder, to change."""

    def __init__(self, test, fixture):
        self.path = tempfile.mkdtemp(prefix="report-test-")
        test.addCleanup(shutil.rmtree, self.path)
        shutil.copytree(os.path.join(FIXTURES, fixture), self.path, dirs_exist_ok=True)

    def set(self, file, **values):
        """Sets (a value of None: removes) `name=value` lines of a file."""
        path = os.path.join(self.path, file)
        kept = []
        if os.path.exists(path):
            with open(path) as f:
                kept = [line for line in f.read().splitlines() if line.partition("=")[0] not in values]
        kept += [f"{name}={value}" for name, value in values.items() if value is not None]
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in kept))
        return self

    def write(self, file, text):
        with open(os.path.join(self.path, file), "w") as f:
            f.write(text)
        return self

    def remove(self, *files):
        for file in files:
            path = os.path.join(self.path, file)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        return self

    def report(self):
        return render(self.path)

    def row(self, start):
        """The report's first line that starts with START."""
        for line in self.report().splitlines():
            if line.startswith(start):
                return line
        raise AssertionError(f"no line starts with {start!r}")


def quick_like(folder):
    """The full fixture as a quick run without the optional contenders."""
    return folder.set("run.env", quick="1", mode="quick", LAT_RATE_HIGH="0", KV_TUNED_WAIT_MS="0", baseline="",
                      baseline_label="", sweep_results="", debezium_configs="1:5000:true:true:string",
                      MACHINE_NOTE="")


class GoldenTest(unittest.TestCase):
    def test_each_fixture_gives_the_report_bench_run_printed(self):
        names = sorted(n[:-3] for n in os.listdir(FIXTURES) if n.endswith(".md"))
        self.assertEqual(names[:2], ["full", "quick"])
        for name in names:
            with self.subTest(fixture=name):
                with open(os.path.join(FIXTURES, name + ".md")) as f:
                    expected = f.read()
                self.assertEqual(render(os.path.join(FIXTURES, name)), expected)

    def test_main_prints_the_report_and_writes_the_plot_data(self):
        plots = tempfile.mkdtemp(prefix="report-test-plots-")
        self.addCleanup(shutil.rmtree, plots)
        out = io.StringIO()
        with redirect_stdout(out):
            rc = report.main(["report.py", "--plots", plots, os.path.join(FIXTURES, "full")])
        self.assertEqual(rc, 0)
        self.assertEqual(out.getvalue(), render(os.path.join(FIXTURES, "full")))
        with open(os.path.join(plots, "throughput.dat")) as f:
            self.assertEqual(f.read(), '"kvstream\\n1 replica" 91234\n"kvstream\\n2 replicas" 88000\n'
                             '"database\\nceiling" 101234\n"Debezium\\nJDBC sink" 25000\n"naive\\nconsumer" 305\n')
        with open(os.path.join(plots, "latency.dat")) as f:
            self.assertEqual(f.read(), '"kvstream" 3.2 9.85 14.25\n"Debezium JDBC sink" 520.0 1020.5 1500.25\n'
                             '"naive consumer" 7.5 25.0 48.0\n')
        with open(os.path.join(plots, "resources.dat")) as f:
            self.assertEqual(f.read(), '"kvstream" 60 6.27\n"Debezium\\n+ Connect" 793 36.40\n"naive" 12 830.50\n')

    def test_main_without_a_folder_is_a_usage_error(self):
        with redirect_stderr(io.StringIO()):
            self.assertEqual(report.main(["report.py"]), 2)
            self.assertEqual(report.main(["report.py", os.path.join(FIXTURES, "no-such-run")]), 2)


class VerdictTest(unittest.TestCase):
    def test_targets_met(self):
        f = Folder(self, "full")
        self.assertEqual(f.row("| throughput over the baseline binary"),
                         "| throughput over the baseline binary | 1.52x (91234 vs 60000 events/s) | >= 1.5x | met |")
        self.assertEqual(f.row("| throughput over the Debezium JDBC sink"),
                         "| throughput over the Debezium JDBC sink | 3.6x | >= 3x | met |")
        self.assertEqual(f.row("| peak RSS catching up"),
                         "| peak RSS catching up | 60 MiB; Debezium + Connect 793 MiB (1/13) | <= 64 MiB | met |")

    def test_targets_missed(self):
        f = Folder(self, "full")
        f.set("kvstream-1.out", events_per_s="50000", replica_peak_rss_kib="70000", replica_total_cpu_s="3.5")
        f.set("latency-kvstream.out", p50_ms="5.05", p99_ms="1500", p999_ms="1500.25", idle_rss_kib="30000")
        f.set("latency-high-kvstream.out", p99_ms="50.01")
        f.set("kvstream-2.out", events_per_s="47000")
        self.assertEqual(f.row("| throughput over the baseline binary"),
                         "| throughput over the baseline binary | 0.83x (50000 vs 60000 events/s) | >= 1.5x "
                         "| **missed** |")
        self.assertEqual(f.row("| throughput over the Debezium JDBC sink"),
                         "| throughput over the Debezium JDBC sink | 2.0x | >= 3x | **missed** |")
        self.assertEqual(f.row("| throughput over the best database ceiling"),
                         "| throughput over the best database ceiling | 49.4% of 101234 (copy-binary) | >= 90% "
                         "| **missed** |")
        self.assertEqual(f.row("| p50 at"), "| p50 at 150/s | 5.0 ms | <= 5 ms | **missed** |")
        self.assertEqual(f.row("| p99 at 150/s"), "| p99 at 150/s | 1500.0 vs Debezium's 1020.5 ms | below | **missed** |")
        # Equal is not below.
        self.assertEqual(f.row("| p99.9 at"), "| p99.9 at 150/s | 1500.2 vs Debezium's 1500.2 ms | below | **missed** |")
        self.assertTrue(f.row("| p99 at 10000/s").endswith("| <= 50 ms and below | **missed** |"))
        self.assertEqual(f.row("| peak RSS catching up"),
                         "| peak RSS catching up | 68 MiB; Debezium + Connect 793 MiB (1/12) | <= 64 MiB | **missed** |")
        self.assertEqual(f.row("| RSS idle"), "| RSS idle | 29.3 MiB | < 25 MB | **missed** |")
        self.assertEqual(f.row("| CPU s per million events, the replica"),
                         "| CPU s per million events, the replica | 1.75; baseline 1.55 | <= 1.5 | **missed** |")
        self.assertEqual(f.row("| two replicas"), "| two replicas, one database | 0.94x of one | >= 0.95x | **missed** |")

    def test_a_target_is_met_at_its_bound(self):
        f = Folder(self, "full")
        f.set("run.env", best_ceiling="100000")
        f.set("kvstream-1.out", events_per_s="90000", replica_peak_rss_kib="65536", replica_total_cpu_s="3.0")
        f.set("bench_dbz.out", events_per_s="30000")
        f.set("kvstream-2.out", events_per_s="85500")
        f.set("latency-kvstream.out", p50_ms="5", drain_seconds="1.0")
        f.set("latency-high-kvstream.out", p99_ms="50")
        self.assertTrue(f.row("| throughput over the baseline binary").endswith("| 1.50x (90000 vs 60000 events/s) "
                                                                                 "| >= 1.5x | met |"))
        self.assertEqual(f.row("| throughput over the Debezium JDBC sink"),
                         "| throughput over the Debezium JDBC sink | 3.0x | >= 3x | met |")
        self.assertTrue(f.row("| throughput over the best database ceiling").endswith("| >= 90% | met |"))
        self.assertEqual(f.row("| p50 at"), "| p50 at 150/s | 5.0 ms | <= 5 ms | met |")
        self.assertTrue(f.row("| p99 at 10000/s").endswith("| met |"))
        self.assertTrue(f.row("| peak RSS catching up").endswith("| <= 64 MiB | met |"))
        self.assertEqual(f.row("| CPU s per million events, the replica"),
                         "| CPU s per million events, the replica | 1.50; baseline 1.55 | <= 1.5 | met |")
        self.assertEqual(f.row("| two replicas"), "| two replicas, one database | 0.95x of one | >= 0.95x | met |")
        self.assertTrue(f.row("| kvstream, 1 replica |").endswith("kept up: yes |"))

    def test_the_bound_of_a_strict_target_misses(self):
        f = Folder(self, "full")
        f.set("latency-kvstream.out", idle_rss_kib="24414.0625")  # 25,000,000 bytes
        self.assertEqual(f.row("| RSS idle"), "| RSS idle | 23.8 MiB | < 25 MB | **missed** |")
        f.set("latency-kvstream.out", idle_rss_kib="24414")
        self.assertEqual(f.row("| RSS idle"), "| RSS idle | 23.8 MiB | < 25 MB | met |")

    def test_a_ratio_is_compared_as_shown_to_6_digits(self):
        # 100 * 18000000 / 20000001 = 89.9999955: 90 to 6 digits, so met.
        f = Folder(self, "full").set("run.env", best_ceiling="20000001").set("kvstream-1.out", events_per_s="18000000")
        self.assertEqual(f.row("| throughput over the best database ceiling"),
                         "| throughput over the best database ceiling | 90.0% of 20000001 (copy-binary) | >= 90% | met |")
        # 100 * 17999980 / 20000001 = 89.9998955: 89.9999, so missed.
        f.set("kvstream-1.out", events_per_s="17999980")
        self.assertTrue(f.row("| throughput over the best database ceiling").endswith("| **missed** |"))
        # 2999999 / 1000000 = 2.999999: 3 to 6 digits, so met.
        f.set("kvstream-1.out", events_per_s="2999999").set("bench_dbz.out", events_per_s="1000000")
        self.assertEqual(f.row("| throughput over the Debezium JDBC sink"),
                         "| throughput over the Debezium JDBC sink | 3.0x | >= 3x | met |")

    def test_the_reads_targets(self):
        f = Folder(self, "full")
        self.assertEqual(f.row("| cache-hit GET over the Beast ceiling"),
                         "| cache-hit GET over the Beast ceiling | 81.9% (50123 vs 61234 requests/s) | >= 80% | met |")
        self.assertEqual(f.row("| cache-hit GET over pgbench's"),
                         "| cache-hit GET over pgbench's point select | 1.25x (40000 transactions/s) | >= 1.2x | met |")
        with open(os.path.join(f.path, "http.out")) as http:
            f.write("http.out", http.read().replace("50123", "40000"))
        self.assertTrue(f.row("| cache-hit GET over the Beast ceiling").endswith("| >= 80% | **missed** |"))
        self.assertTrue(f.row("| cache-hit GET over pgbench's").endswith("| 1.00x (40000 transactions/s) | >= 1.2x "
                                                                          "| **missed** |"))


class FiguresTest(unittest.TestCase):
    def test_cpu_per_million_events_and_memory(self):
        f = Folder(self, "full")
        self.assertEqual(f.row("| kvstream, 1 replica |"),
                         "| kvstream, 1 replica | 91234 | 1.19 | 6.27 | 60 | 3.2 / 9.8 / 14.2 | defaults; 21.9 s first "
                         "to last commit; kept up: yes |")
        # The naive consumer's CPU is per its own sample of events.
        self.assertEqual(f.row("| naive consumer |"),
                         "| naive consumer | 305 | 160.50 | 830.50 | 12 | 7.5 / 25.0 / 48.0 | a sample: 20000 events "
                         "in 65.6 s; kept up: yes |")
        self.assertEqual(f.row("| CPU s per million events, all"),
                         "| CPU s per million events, all | 6.27; Debezium 36.40 (1/5.8) | | |")

    def test_rounding_is_printf_rounding_of_the_binary_value(self):
        f = Folder(self, "full")
        f.set("latency-kvstream.out", p50_ms="0.25", p99_ms="0.35", p999_ms="2.675")
        self.assertIn("| 0.2 / 0.3 / 2.7 |", f.row("| kvstream, 1 replica |"))
        f.set("kvstream-1.out", replica_peak_rss_kib="1536")  # 1.5 MiB: to even
        self.assertIn("| 2 |", f.row("| kvstream, 1 replica |"))
        f.set("kvstream-1.out", replica_peak_rss_kib="2560")
        self.assertIn("| 2 |", f.row("| kvstream, 1 replica |"))

    def test_share_of_hot_updates(self):
        f = Folder(self, "full")
        self.assertEqual(f.row("| updates of `kv` that are HOT"),
                         "| updates of `kv` that are HOT | 98.7654% (987654 of 1000000); baseline 0% | most | |")
        f.set("kvstream-1.out", kv_hot_updates="1000000")
        self.assertTrue(f.row("| updates of `kv` that are HOT").startswith("| updates of `kv` that are HOT | 100% "))
        f.set("kvstream-1.out", kv_hot_updates="2", kv_updates="3")
        self.assertTrue(f.row("| updates of `kv` that are HOT").startswith("| updates of `kv` that are HOT | 66.6667% "))

    def test_where_the_cpu_went(self):
        f = Folder(self, "full")
        self.assertEqual(f.row("| kvstream, 1 replica | 37.2 |"),
                         "| kvstream, 1 replica | 37.2 | 69% | 10.2 | 8.3 | 6.0 | 4.5 | 1.1 |")

    def test_the_load_average(self):
        f = Folder(self, "full")
        self.assertIn("Load average during the run: 0.98 / 1.75 / 2.75 (min / mean / max of the 1-minute load average, "
                      "3 samples every 5 s).", f.row("- **Machine:**"))
        f.remove("loadavg.log")
        self.assertTrue(f.row("- **Machine:**").endswith("Nothing else ran. Load average during the run: ."))

    def test_a_zero_rate_does_not_stop_the_report(self):
        f = Folder(self, "full").set("bench_dbz.out", events_per_s="0").set("naive.out", events="0")
        self.assertEqual(f.row("| throughput over the Debezium JDBC sink"),
                         "| throughput over the Debezium JDBC sink | 0.0x | >= 3x | **missed** |")
        self.assertIn("| inf | inf |", f.row("| naive consumer |"))

    def test_a_missing_figure_leaves_its_cell_empty(self):
        f = Folder(self, "full").remove("latency-dbz_latency.out")
        self.assertEqual(f.row("| p99 at 150/s"), "| p99 at 150/s | 9.8 vs Debezium's  ms | below |  |")
        self.assertTrue(f.row("| Debezium JDBC sink |").endswith(
            "|  /  /  | Kafka Connect JVM; CPU over its apply window (27.62 s/M over its whole life, JVM start "
            "included); kept up: **no** (drained  s after the last send) |"))


class OptionalPartsTest(unittest.TestCase):
    def test_without_the_debezium_outputs(self):
        f = quick_like(Folder(self, "full"))
        f.remove("bench_dbz.out", "latency-dbz_latency.out", "publish-bench-debezium-string-2000000.out")
        self.assertEqual(f.row("| Debezium JDBC sink |"),
                         "| Debezium JDBC sink |  |  |  |  |  /  /  | Kafka Connect JVM; CPU over its apply window ( s/M "
                         "over its whole life, JVM start included); kept up: **no** (drained  s after the last send) |")
        self.assertEqual(f.row("| throughput over the Debezium JDBC sink"),
                         "| throughput over the Debezium JDBC sink | x | >= 3x |  |")
        self.assertEqual(f.row("| p99 at 150/s"), "| p99 at 150/s | 9.8 vs Debezium's  ms | below |  |")
        self.assertEqual(f.row("| CPU s per million events, all"), "| CPU s per million events, all | 6.27; Debezium  (1/) | | |")
        self.assertIn("(about -byte keys and -byte values instead of 11 and 100;", f.row("- **Workload:**"))
        self.assertEqual(f.row("- Debezium JDBC sink:"), "- Debezium JDBC sink: ")

    def test_full_run_parts(self):
        text = Folder(self, "full").report()
        self.assertIn("- **Command:** `bench/run` (25 minutes).\n", text)
        self.assertIn("| kvstream baseline, 1 replica | 60000 | 1.55 | 7.60 | 68 | 6.0 / 19.2 / 31.0 | `v0.1 (abc1234)`, "
                      "the same run; kept up: yes |\n", text)
        self.assertIn("| kvstream, KVSTREAM_BATCH_MAX_WAIT_MS=5 | | | | | 4.1 / 7.2 / 9.9 | latency run only "
                      "(default: 0 ms); kept up: yes |\n", text)
        self.assertIn("\nAt 10000 events/s for 30 s (the naive consumer cannot sustain it):\n", text)
        self.assertIn("| kvstream baseline | 12.0 / 60.0 / 99.0 / 150.0 | **no** (drained 2.5 s after the last send) |\n",
                      text)
        self.assertIn("\nDebezium tuning on the first 400000 events", text)
        self.assertIn("From `bench/http_bench` (its own broker", text)

    def test_quick_run_without_baseline_tuning_high_rate_or_sweep(self):
        f = quick_like(Folder(self, "full"))
        text = f.report()
        self.assertIn("- **Command:** `bench/run --quick` (25 minutes).\n", text)
        self.assertTrue(f.row("- **Machine:**").endswith("Linux 6.1.0-example. Load average during the run: 0.98 / "
                                                          "1.75 / 2.75 (min / mean / max of the 1-minute load average, "
                                                          "3 samples every 5 s)."))
        for absent in ("baseline", "KVSTREAM_BATCH_MAX_WAIT_MS", "At 10000 events/s", "| p99 at 10000/s",
                       "Where the CPU went", "Debezium tuning", "A failed configuration"):
            self.assertNotIn(absent, text)
        self.assertEqual(f.row("| CPU s per million events, the replica"),
                         "| CPU s per million events, the replica | 1.19 | <= 1.5 | met |")
        self.assertIn("From `bench/http_bench --quick` (its own broker", text)

    def test_reads_skipped_failed_or_missing(self):
        f = Folder(self, "full")
        for status, text in (("skipped", "Skipped (`HTTP_BENCH=0`)."),
                             ("failed", "`bench/http_bench` failed in this run (its log is in the kept temp folder); "
                                        "no read figures."),
                             ("missing", "TODO: `bench/http_bench` (cache-hit GET, cache-miss GET, direct Postgres "
                                         "point select) is not in this tree yet; bench/run calls it when it is.")):
            with self.subTest(status=status):
                f.set("run.env", http_status=status)
                self.assertEqual(f.row("| reads (bench/http_bench)"), f"| reads (bench/http_bench) | {status} | | |")
                self.assertIn("\nReads:\n\n" + text + "\n\n", f.report())
                self.assertNotIn("cache-hit GET over", f.report())

    def test_reads_with_rows_missing(self):
        f = Folder(self, "full").write("http.out", "kvstream GET, cache hit    \nHTTP ceiling (Beast)        12\n")
        text = f.report()
        self.assertIn("| kvstream GET, cache hit | - | - | - |\n", text)
        self.assertIn("| HTTP ceiling (Beast) | 12 | - | - |\n", text)
        self.assertIn("| pgbench point select | - | - | - |\n", text)
        self.assertNotIn("cache-hit GET over", text)

    def test_the_tuning_sweep_with_a_failed_configuration(self):
        f = Folder(self, "full")
        text = f.report()
        self.assertIn("| `1:500:false:false:bytes` | 21000 | 28.4 |\n| `1:5000:true:false:bytes` | 22000 | 30.9 |\n"
                      "| `1:5000:true:true:string` | 23000 | 33.4 |\n| `1:20000:true:true:string` | failed (see below) | - |\n"
                      "| `2:5000:true:true:string` | 25000 | 38.4 |\n", text)
        error = f.row("A failed configuration's connector task died; its first error: ")
        self.assertEqual(len(error.encode()) - len("A failed configuration's connector task died; its first error: "), 200)
        self.assertTrue(error.endswith("Caused by: org.postgresql.util.PSQLException: ERROR: value too long for type "
                                       "character varying(255) while inserting a batch of twenty thousand rows into "
                                       "the table kv_debezium, which is longer than two"))
        f.remove("dbz-failed-configs")
        self.assertNotIn("A failed configuration", f.report())

    def test_a_stalled_two_replica_run(self):
        f = Folder(self, "full").set("run.env", kv2_stalled="600000 of 2000000 events applied when the watch gave up "
                                     "after 150 s; stuck: 0 (at 1 of 5)")
        f.write("kvstream-2a.log", "t1 assigned partitions [0, 1, 2]\nt2 other\nt3 revoked partitions [0, 1, 2] "
                + "x" * 200 + "\n")
        f.write("kvstream-2b.log", "t1 assigned partitions [3, 4, 5]\n")
        f.write("kvstream-2a.metrics", "# TYPE kvstream_paused_partitions gauge\nkvstream_paused_partitions 2\n")
        f.write("kvstream-2a.status", '{"partitions": [{"partition": 0, "next_offset": 1, "end_offset": 5}]}')
        text = f.report()
        self.assertEqual(f.row("| kvstream, 2 replicas"),
                         "| kvstream, 2 replicas | **stalled** | | | 51 + 49 | | one group, one database: 600000 of "
                         "2000000 events applied when the watch gave up after 150 s; stuck: 0 (at 1 of 5) (see the "
                         "notes below the table) |")
        self.assertNotIn("| two replicas, one database", text)
        assignments = text.split("```\n")[1].splitlines()
        self.assertEqual(assignments[0], "A t1 assigned partitions [0, 1, 2]")
        self.assertEqual(len(assignments[1]), 160)
        self.assertEqual(assignments[2], "B t1 assigned partitions [3, 4, 5]")
        self.assertIn("What the replicas reported then: paused partitions (kvstream_paused_partitions) A 2, B ?; "
                      "/v1/status partitions: A `[(0, 1, 5)]`, B `?` (partition, applied, end).\n", text)
        self.assertIn("Checks: kvstream's tables (1 replica; the stalled two-replica run's is not checked) and", text)
        with tempfile.TemporaryDirectory() as plots:
            with redirect_stdout(io.StringIO()):
                report.main(["report.py", "--plots", plots, f.path])
            with open(os.path.join(plots, "throughput.dat")) as data:
                self.assertNotIn("2 replicas", data.read())

    def test_a_wrong_final_table_is_reported(self):
        f = Folder(self, "full").set("run.env", check="MISMATCH")
        self.assertTrue(f.row("Checks: ").endswith(": **MISMATCH**."))


class NumbersTest(unittest.TestCase):
    def test_short(self):
        self.assertEqual(report.short(10.000000000000002), "10")
        self.assertEqual(report.short(100 * 0.1), "10")
        self.assertEqual(report.short(1 / 3), "0.333333")
        self.assertEqual(report.short(123456789.5), "1.23457e+08")
        self.assertEqual(report.short(2147483647.0), "2147483647")
        self.assertEqual(report.short(2147483648.0), "2.14748e+09")
        self.assertEqual(report.short(-0.0), "0")
        self.assertEqual(report.short(float("inf")), "inf")
        self.assertEqual(report.short(None), "")

    def test_num(self):
        self.assertEqual(report.num("12.5"), 12.5)
        self.assertEqual(report.num(" -3 "), -3.0)
        self.assertEqual(report.num("1e3"), 1000.0)
        self.assertEqual(report.num("inf"), 0.0)
        self.assertIsNone(report.num(""))
        self.assertIsNone(report.num("1.2.3"))

    def test_fmt_and_div(self):
        self.assertEqual(report.fmt("%.1f", 0.25), "0.2")
        self.assertEqual(report.fmt("%.1f", None), "")
        self.assertEqual(report.fmt("%.1f", report.div(1.0, 0.0)), "inf")
        self.assertEqual(report.fmt("%.1f", report.div(0.0, 0.0)), "-nan")
        self.assertEqual(report.per_million(["1.5", "0.5"], "2000000"), "1.00")
        self.assertEqual(report.per_million(["1.5", ""], "2000000"), "")


if __name__ == "__main__":
    unittest.main()
