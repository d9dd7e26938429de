"""1,000 deferred waits in one triggerer: memory per wait, CPU while idle, requests to Stripe.

    .venv/bin/python bench/deferred_waits.py [--count 1000] [--idle 30] [--poll 60] [--observe 240]
                                             [--mode both|in-process|triggerer]

Run by hand (never from tests; about 15 minutes with the defaults); the tables go to the README's
performance section. Two ways, both by default:

**In process** (``--mode in-process``): each scenario in a fresh Python process that does what
Airflow's triggerer does with its triggers (``TriggerRunner.run_trigger`` in
``airflow.jobs.triggerer_job_runner``): one asyncio task per trigger, ``await
greenback.ensure_portal()``, then ``async for event in trigger.run()``, all on one ``asyncio.run``
loop (blocking work in the loop's default thread pool, as there). Only the triggers' own cost:

- ``wait_until``: ``WaitUntilTrigger`` with a moment 7 days ahead, as ``StripeDelayOperator`` and
  ``StripeInvoiceRetryOperator`` defer it: RSS before and after starting them (after a
  ``gc.collect()``), the Python heap they hold (``tracemalloc``, a second batch), and CPU time
  (``getrusage``, every thread) over consecutive idle windows of ``--idle`` seconds;
- ``datetime``: the yardstick, Airflow's own ``DateTimeTrigger`` (``DateTimeSensorAsync``), alike;
- ``sensor``: ``StripeObjectsTrigger`` as a deferrable ``StripeInvoicePaidSensor`` defers it (the
  last hour, nothing paid in it, so it polls every ``--poll`` seconds) against the local Stripe
  server, which runs in a process of its own so that its CPU is not counted: RSS after the first
  round of polls, open file descriptors (HTTP connections), requests as the server logged them
  (per minute, and the busiest second against Stripe's test-mode limit of 25 a second), CPU per
  minute and CPU in the quiet seconds between rounds. The first round is detected by wrapping the
  finder's ``find`` (one counter; nothing else changes).

**The real triggerer** (``--mode triggerer``): ``airflow db migrate`` on a throw-away SQLite
home, ``airflow triggerer --skip-serve-logs`` started and measured idle with no trigger, then
``--count`` DAG runs of a one-task DAG inserted with their task instance deferred on the
scenario's trigger (as the task's ``defer()`` leaves it), and the triggerer's processes (its
supervisor and its trigger runner) measured again once every trigger has started (each writes its
own log file). This includes what Airflow adds per trigger: its supervisor's bookkeeping, the
once-a-second sync, a logger and log file per trigger, and the runner's watchdog warnings when
its loop was blocked. ``wait_until`` and ``sensor`` only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchutil
from benchutil import REPO, cpu_seconds, descendants, open_fds, process_cpu_seconds, rss_kb, table

WEEK = 7 * 86400
TEST_MODE_LIMIT = 25  # Stripe's rate limit in test mode, requests per second (live: 100)
SCENARIOS = ("wait_until", "datetime", "sensor")
NAMES = {
    "wait_until": "WaitUntilTrigger, 7 days ahead",
    "datetime": "Airflow's DateTimeTrigger, 7 days ahead (yardstick)",
    "sensor": "StripeObjectsTrigger (invoice paid, last hour)",
}

# The DAGs whose task instances the real triggerer's triggers belong to.
BENCH_DAGS = '''"""Deferred tasks for bench/deferred_waits.py: a grace period and a deferrable sensor."""

import pendulum
from airflow.sdk import DAG

from airflow_stripe_automation.operators.delay import StripeDelayOperator
from airflow_stripe_automation.sensors.invoices import StripeInvoicePaidSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")
with DAG(dag_id="bench_waits", schedule=None, start_date=START):
    StripeDelayOperator(task_id="wait", delay=7)
with DAG(dag_id="bench_sensors", schedule=None, start_date=START):
    StripeInvoicePaidSensor(task_id="find", deferrable=True, poke_interval={poll})
'''


def make_triggers(scenario: str, count: int, poll: float) -> list[Any]:
    """``count`` triggers of the scenario, each as the operator or sensor would defer it."""
    now = time.time()
    if scenario == "wait_until":
        from airflow_stripe_automation.triggers.wait_until import WaitUntilTrigger

        return [WaitUntilTrigger(moment=now + WEEK, state={"about": "7 days"}) for _ in range(count)]
    if scenario == "datetime":
        import pendulum
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        moment = pendulum.from_timestamp(now + WEEK, tz="UTC")
        return [DateTimeTrigger(moment=moment) for _ in range(count)]
    from airflow_stripe_automation.finders import InvoicePaidFinder
    from airflow_stripe_automation.triggers.objects import StripeObjectsTrigger

    finder = InvoicePaidFinder().to_dict()
    hour = int(now) // 3600 * 3600
    return [
        StripeObjectsTrigger(
            finder=finder,
            window_start=hour - 3600,
            window_end=hour,
            poll_interval=poll,
            deadline=now + WEEK,
            clock_lead=0,  # the sensor read Stripe's clock before deferring, and passes its lead on
        )
        for _ in range(count)
    ]


def with_ids(triggers: list[Any], first: int = 1) -> list[Any]:
    """Give each trigger an id, as the triggerer does before running it (its row in the metadata DB)."""
    for i, trigger in enumerate(triggers):
        trigger.trigger_id = first + i
    return triggers


# -- in process: one scenario in a fresh Python process ---------------------------------------------


class PollCounter:
    """Polls started and finished (the finder's ``find`` runs in worker threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = 0
        self.finished = 0

    def wrap(self, cls: Any) -> None:
        find = cls.find

        def counted(finder: Any, *args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.started += 1
            try:
                return find(finder, *args, **kwargs)
            finally:
                with self.lock:
                    self.finished += 1

        cls.find = counted


async def run_trigger(trigger: Any, events: list[Any]) -> None:
    """What ``TriggerRunner.run_trigger`` does around a trigger (minus logging the event and its span)."""
    import greenback

    await greenback.ensure_portal()
    async for event in trigger.run():
        events.append(event)


async def in_process(scenario: str, args: argparse.Namespace) -> dict[str, Any]:
    count = args.count
    polls = PollCounter()
    if scenario == "sensor":
        from airflow_stripe_automation.finders import InvoicePaidFinder

        polls.wrap(InvoicePaidFinder)
    make_triggers(scenario, 1, args.poll)  # the classes are loaded before the first reading
    import greenback  # noqa: F401 - loaded before the first reading, as in the triggerer

    events: list[Any] = []
    gc.collect()
    out: dict[str, Any] = {"rss_before": rss_kb(), "fds_before": open_fds()}
    tasks = [asyncio.create_task(run_trigger(t, events)) for t in with_ids(make_triggers(scenario, count, args.poll))]
    began = time.monotonic()
    if scenario == "sensor":
        while polls.finished < count:
            if time.monotonic() - began > 600:
                raise RuntimeError(f"first round of polls unfinished after 600 s: {polls.finished}/{count}")
            await asyncio.sleep(0.1)
        out["first_round_s"] = time.monotonic() - began
    else:
        await asyncio.sleep(2)  # every trigger has reached its first sleep
    gc.collect()
    out.update(rss_after=rss_kb(), fds_after=open_fds())

    if scenario == "sensor":
        # One sample a second: (unix time, CPU seconds, polls started, polls finished).
        samples = []
        end = time.monotonic() + args.observe
        while time.monotonic() < end:
            samples.append((time.time(), cpu_seconds(), polls.started, polls.finished))
            await asyncio.sleep(1)
        samples.append((time.time(), cpu_seconds(), polls.started, polls.finished))
        out.update(samples=samples, rss_end=rss_kb(), fds_end=open_fds())
    else:
        out["windows"] = []
        for _ in range(args.windows):
            cpu, wall = cpu_seconds(), time.monotonic()
            await asyncio.sleep(args.idle)
            out["windows"].append([cpu_seconds() - cpu, time.monotonic() - wall])
        # The Python heap a second batch holds, traced from its creation on.
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tasks += [asyncio.create_task(run_trigger(t, events)) for t in make_triggers(scenario, count, args.poll)]
        await asyncio.sleep(2)
        gc.collect()
        out["heap_per_wait"] = (tracemalloc.get_traced_memory()[0] - before) / count
        tracemalloc.stop()
    out["events"] = len(events)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return out


# -- the real triggerer ---------------------------------------------------------------------------


def insert_deferred(scenario: str, count: int, poll: float) -> None:
    """``--insert``: DAG runs whose one task instance is deferred on the scenario's trigger (the env names the home)."""
    import pendulum
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    DagBundlesManager().sync_bundles_to_db()
    bag = BundleDagBag(dag_folder=str(dags), bundle_path=dags, bundle_name="bench")
    if bag.import_errors:
        raise SystemExit(f"bench DAGs: {bag.import_errors}")
    sync_bag_to_db(bag, "bench", None)
    dag_id, task_id = ("bench_sensors", "find") if scenario == "sensor" else ("bench_waits", "wait")
    with create_session() as session:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        assert dag is not None, dag_id
        now = pendulum.now("UTC")
        for i, trigger in enumerate(make_triggers(scenario, count, poll)):
            run = dag.create_dagrun(
                run_id=f"manual__bench_{i:05d}",
                run_after=now,
                run_type=DagRunType.MANUAL,
                triggered_by=DagRunTriggeredByType.TEST,
                state=DagRunState.RUNNING,
                session=session,
            )
            ti = run.get_task_instance(task_id, session=session)
            assert ti is not None, task_id
            row = Trigger.from_object(trigger)
            session.add(row)
            session.flush()
            ti.state = TaskInstanceState.DEFERRED
            ti.trigger_id = row.id
            ti.next_method = "execute_complete"
            ti.next_kwargs = {"about": "7 days"} if scenario == "wait_until" else {}


def tree(pid: int) -> tuple[float, list[int]]:
    """CPU seconds of ``pid`` and its descendants, and their RSS in KB (``pid`` first)."""
    cpu, rss = 0.0, []
    for p in descendants(pid):
        try:
            cpu += process_cpu_seconds(p)
            rss.append(rss_kb(p))
        except (OSError, RuntimeError):
            pass
    return cpu, rss


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            raise SystemExit(f"waited {timeout:g} s for {what}")
        time.sleep(1)
    return time.monotonic() - began


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the triggerer (it stops its runner), then kill by pid whatever of it is left."""
    left = descendants(proc.pid)[1:]
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def real_triggerer(scenario: str, args: argparse.Namespace, base_env: dict[str, str], logs: Path) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"deferred-waits-triggerer-{scenario}-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "bench_deferred.py").write_text(BENCH_DAGS.replace("{poll}", repr(args.poll)))
    bundles = [
        {
            "name": "bench",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(dags)},
        }
    ]
    env = dict(
        base_env,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=json.dumps(bundles),
        AIRFLOW__TRIGGERER__CAPACITY=str(max(1000, args.count)),
    )
    airflow = [sys.executable, "-m", "airflow"]
    out: dict[str, Any] = {"home": str(home)}
    log_path = logs / f"triggerer-{scenario}.log"
    with log_path.open("w") as log:
        subprocess.run([*airflow, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
        proc = subprocess.Popen(
            [*airflow, "triggerer", "--skip-serve-logs"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda: len(descendants(proc.pid)) >= 2, 180, "the triggerer's runner process")
            time.sleep(10)
            cpu, _ = tree(proc.pid)
            time.sleep(args.idle)
            cpu_end, rss = tree(proc.pid)
            fds = sum(open_fds(p) for p in descendants(proc.pid))
            out["empty"] = {"cpu": cpu_end - cpu, "wall": args.idle, "rss": rss, "fds": fds}

            command = [
                sys.executable,
                __file__,
                "--insert",
                scenario,
                "--count",
                str(args.count),
                "--poll",
                str(args.poll),
            ]
            subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
            started = lambda: sum(1 for _ in (home / "logs").rglob("*.log.trigger.*.log")) >= args.count  # noqa: E731
            out["pickup_s"] = wait_for(started, 600, f"{args.count} triggers to start")
            time.sleep(5)
            if scenario == "sensor":
                samples = []
                end = time.monotonic() + args.observe
                while time.monotonic() < end:
                    samples.append((time.time(), tree(proc.pid)[0]))
                    time.sleep(1)
                samples.append((time.time(), tree(proc.pid)[0]))
                out["samples"] = samples
            else:
                out["windows"] = []
                for _ in range(args.windows):
                    cpu, wall = tree(proc.pid)[0], time.monotonic()
                    time.sleep(args.idle)
                    out["windows"].append([tree(proc.pid)[0] - cpu, time.monotonic() - wall])
            out.update(rss=tree(proc.pid)[1], fds=sum(open_fds(p) for p in descendants(proc.pid)))
        finally:
            stop(proc)
    # The runner's watchdog: "Triggerer's async thread was blocked for 0.41 seconds, exceeding ..."
    out["blocked"] = [
        float(m) for m in re.findall(r"async thread was blocked for ([0-9.]+) seconds", log_path.read_text())
    ]
    return out


# -- the parent: the server, one child per scenario, the tables -----------------------------------


def start_server(log: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_stripe_automation.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise SystemExit(f"the local Stripe server did not start: {line!r}; see {log}")
    return proc, line.split("listening on ", 1)[1].split()[0]


def spawn(scenario: str, args: argparse.Namespace, env: dict[str, str], log: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", scenario]
    for flag in ("count", "idle", "windows", "poll", "observe"):
        command += [f"--{flag}", str(getattr(args, flag))]
    with log.open("w") as err:
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scenario {scenario} failed ({done.returncode}):\n{log.read_text()[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def server_requests(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/_testing/requests", timeout=60) as response:
        return list(json.load(response)["data"])


def quiet_cpu(samples: list[list[float]], busy: Callable[[float, float], bool]) -> tuple[float, float]:
    """CPU and wall seconds over the sample intervals (time, cpu, ...) in which ``busy(t0, t1)`` is false."""
    cpu = wall = 0.0
    for before, after in zip(samples, samples[1:], strict=False):
        if not busy(before[0], after[0]):
            cpu += after[1] - before[1]
            wall += after[0] - before[0]
    return cpu, wall


def sensor_table(r: dict[str, Any], requests: list[dict[str, Any]], args: argparse.Namespace) -> str:
    samples = r["samples"]
    start, end = samples[0][0], samples[-1][0]
    minutes = (end - start) / 60
    seen = sorted(q["time"] for q in requests if start <= q.get("time", 0) < end)
    seconds = set(seen)

    def busy(t0: float, t1: float) -> bool:
        # The server logs whole seconds: a second with a request, or next to one, is not quiet.
        return any(s in seconds for s in range(math.floor(t0) - 1, math.ceil(t1) + 2))

    per_second = Counter(seen)
    peak = max(per_second.values(), default=0)
    over = sum(1 for n in per_second.values() if n > TEST_MODE_LIMIT)
    cpu_quiet, wall_quiet = quiet_cpu(samples, busy)
    rss = r["rss_after"] if "rss_after" in r else sum(r["rss"])
    headers = [
        "sensors",
        "RSS MB",
        "requests / min",
        "peak requests / s",
        f"seconds > {TEST_MODE_LIMIT}/s",
        "CPU s / min",
        f"CPU / {args.idle:g} s quiet",
    ]
    row = [
        NAMES["sensor"],
        f"{rss / 1024:.0f}",
        f"{len(seen) / minutes:,.0f}",
        str(peak),
        f"{over} of {len(per_second)} busy",
        f"{(samples[-1][1] - samples[0][1]) / minutes:.2f}",
        f"{cpu_quiet / wall_quiet * args.idle * 1000:.0f} ms ({wall_quiet:.0f} s quiet)" if wall_quiet else "none",
    ]
    return table(headers, [row])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="triggers per scenario")
    parser.add_argument("--idle", type=float, default=30, help="seconds per idle CPU window")
    parser.add_argument(
        "--windows", type=int, default=2, help="idle windows in a row (WaitUntilTrigger wakes every 60 s)"
    )
    parser.add_argument("--poll", type=float, default=60, help="the sensors' poll interval, seconds")
    parser.add_argument("--observe", type=float, default=240, help="seconds the polling sensors are watched")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="which to run, comma-separated")
    parser.add_argument("--mode", choices=("both", "in-process", "triggerer"), default="both")
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--insert", choices=SCENARIOS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with benchutil.airflow_home("deferred-waits-", log_level="INFO"):
            result = asyncio.run(in_process(args.child, args))
        print(json.dumps(result), flush=True)
        return
    if args.insert:
        insert_deferred(args.insert, args.count, args.poll)
        return

    scenarios = [s for s in args.scenarios.split(",") if s]
    in_proc = scenarios if args.mode != "triggerer" else []
    real = [s for s in scenarios if s != "datetime"] if args.mode != "in-process" else []
    logs = Path(tempfile.mkdtemp(prefix="deferred-waits-logs-"))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "bench"), os.environ.get("PYTHONPATH")]))
    )
    results: dict[str, dict[str, Any]] = {}
    triggerer: dict[str, dict[str, Any]] = {}
    server, url, requests = None, "", []
    try:
        if "sensor" in scenarios:
            server, url = start_server(logs / "server.log")
            env["AIRFLOW_CONN_STRIPE_DEFAULT"] = json.dumps(
                {
                    "conn_type": "stripe",
                    "password": "sk_test_bench",
                    "extra": {"api_base": url, "max_network_retries": 0},
                }
            )
        for scenario in in_proc:
            results[scenario] = spawn(scenario, args, env, logs / f"{scenario}.log")
        for scenario in real:
            triggerer[scenario] = real_triggerer(scenario, args, env, logs)
        if server is not None:
            requests = server_requests(url)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    print("\n".join(benchutil.machine_lines()))
    print(f"logs      {logs}")
    waits = [s for s in in_proc if s != "sensor"]
    if waits:
        print(
            f"\nIn process: {args.count:,} triggers, each an asyncio task as the triggerer's run_trigger runs it"
            f" (greenback portal, async for over run()); CPU over {args.windows} idle {args.idle:g} s windows in a row\n"
        )
        rows = []
        for s in waits:
            r = results[s]
            rows.append(
                [
                    NAMES[s],
                    f"{r['rss_before'] / 1024:.1f}",
                    f"{r['rss_after'] / 1024:.1f}",
                    f"{(r['rss_after'] - r['rss_before']) / args.count:.1f}",
                    f"{r['heap_per_wait'] / 1024:.1f}",
                    " / ".join(f"{cpu * 1000:.1f}" for cpu, _ in r["windows"]),
                    f"{sum(c for c, _ in r['windows']) / sum(w for _, w in r['windows']) * 100:.3f} %",
                    r["events"],
                ]
            )
        headers = [
            "waits",
            "RSS before MB",
            "RSS after MB",
            "KB / wait (RSS)",
            "KB / wait (heap)",
            "idle CPU ms",
            "of a core",
            "events",
        ]
        print(table(headers, rows))
    if "sensor" in in_proc:
        r = results["sensor"]
        print(
            f"\nIn process: {args.count:,} deferrable sensors polling every {args.poll:g} s, watched {args.observe:g} s"
            f" after their first round ({r['first_round_s']:.1f} s for all {args.count:,}); {r['events']} events\n"
        )
        print(sensor_table(r, requests, args))
        print(
            f"RSS {r['rss_before'] / 1024:.1f} MB before, {r['rss_after'] / 1024:.1f} after the first round"
            f" ({(r['rss_after'] - r['rss_before']) / args.count:.0f} KB per sensor), {r['rss_end'] / 1024:.1f} at the end;"
            f" open file descriptors {r['fds_before']} -> {r['fds_after']} -> {r['fds_end']};"
            f" paths: {', '.join(sorted({q['path'] for q in requests}))}"
        )
    if triggerer:
        print(
            f"\nThe real triggerer (airflow triggerer --skip-serve-logs, SQLite): idle with no trigger, then with"
            f" {args.count:,} deferred task instances; RSS of its supervisor + its trigger runner\n"
        )

        def blocked(r: dict[str, Any]) -> str:
            return f"{len(r['blocked'])}, up to {max(r['blocked']):.2f} s" if r["blocked"] else "0"

        e = next(iter(triggerer.values()))["empty"]
        rows = [
            [
                "no trigger",
                " + ".join(f"{kb / 1024:.0f}" for kb in e["rss"]),
                "",
                e["fds"],
                "",
                f"{e['cpu'] * 1000:.0f}",
                f"{e['cpu'] / e['wall'] * 100:.2f} %",
                "",
            ]
        ]
        for s, r in triggerer.items():
            if s != "sensor":
                rows.append(
                    [
                        f"{args.count:,} x {NAMES[s]}",
                        " + ".join(f"{kb / 1024:.0f}" for kb in r["rss"]),
                        f"{(sum(r['rss']) - sum(r['empty']['rss'])) / args.count:.1f}",
                        r["fds"],
                        f"{r['pickup_s']:.0f}",
                        " / ".join(f"{cpu * 1000:.0f}" for cpu, _ in r["windows"]),
                        f"{sum(c for c, _ in r['windows']) / sum(w for _, w in r['windows']) * 100:.2f} %",
                        blocked(r),
                    ]
                )
        headers = [
            "triggerer",
            "RSS MB",
            "KB / wait",
            "open fds",
            "all started in s",
            f"CPU ms per {args.idle:g} s",
            "of a core",
            "loop blocked",
        ]
        print(table(headers, rows))
        if "sensor" in triggerer:
            r = triggerer["sensor"]
            print(
                f"\nThe real triggerer with {args.count:,} deferrable sensors (poll {args.poll:g} s),"
                f" watched {args.observe:g} s\n"
            )
            print(sensor_table(r, requests, args))
            print(
                f"RSS {' + '.join(f'{kb / 1024:.0f}' for kb in r['rss'])} MB (supervisor + runner), with no trigger"
                f" {' + '.join(f'{kb / 1024:.0f}' for kb in r['empty']['rss'])}"
                f" ({(sum(r['rss']) - sum(r['empty']['rss'])) / args.count:.0f} KB per sensor); open file descriptors"
                f" {r['empty']['fds']} -> {r['fds']}; all started in {r['pickup_s']:.0f} s;"
                f" the runner's watchdog saw its loop blocked {blocked(r)}"
            )


if __name__ == "__main__":
    main()
