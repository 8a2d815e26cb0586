"""A large FAQ's load on two cores: the forked half, its failures, and when no child is forked.

Each case runs in a fresh Python process: the pytest process may have threads of other tests
running, and then (rightly) nothing is forked.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2, reason="the parallel load needs Linux and two cores"
)


def run(script: str) -> dict:
    """Run a script in a new interpreter; it prints one JSON object, which is returned."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


HEADER = """
    import json, logging, os, sys, threading, time
    from faq import parallel
    logging.basicConfig(stream=sys.stderr)
    parent = os.getpid()

    def halves(func, items, worth_it=True):
        second = parallel.beside(lambda: [func(item) for item in items[5:]], worth_it)
        return [func(item) for item in items[:5]] + second()
"""


def test_the_second_half_is_computed_in_a_child_with_the_same_results():
    out = run(HEADER + """
    results = halves(lambda n: (n * n, os.getpid()), list(range(10)))
    print(json.dumps({"values": [v for v, _ in results], "parent": parent, "pids": [p for _, p in results]}))
    """)
    assert out["values"] == [n * n for n in range(10)]
    assert out["pids"][:5] == [out["parent"]] * 5
    assert len(set(out["pids"][5:])) == 1 and out["pids"][5] != out["parent"]


def test_a_failing_child_costs_time_not_results():
    out = run(HEADER + """
    def square(n):
        if os.getpid() != parent:
            raise RuntimeError("the child breaks")
        return n * n
    warned = []
    parallel.log.warning = lambda message, *args: warned.append(message % args)
    print(json.dumps({"values": halves(square, list(range(10))), "warned": warned}))
    """)
    assert out["values"] == [n * n for n in range(10)]
    assert out["warned"] == ["parallel load: the child process failed (status 1); doing its part here"]


def test_a_stuck_child_is_killed_and_its_half_computed_here():
    out = run(HEADER + """
    parallel.MIN_WAIT_SECONDS = 0.5
    def square(n):
        if os.getpid() != parent:
            time.sleep(60)
        return n * n
    started = time.monotonic()
    values = halves(square, list(range(10)))
    print(json.dumps({"values": values, "seconds": time.monotonic() - started}))
    """)
    assert out["values"] == [n * n for n in range(10)]
    assert out["seconds"] < 30


def test_a_child_whose_parent_fails_meanwhile_is_killed_and_reaped():
    out = run(HEADER + """
    def square(n):
        if os.getpid() == parent:
            raise ValueError("the parent's half breaks")
        time.sleep(60)  # the child would still be at work
        return n * n
    started = time.monotonic()
    try:
        halves(square, list(range(10)))
    except ValueError:
        pass
    try:
        os.waitpid(-1, os.WNOHANG)
        children = "some"
    except ChildProcessError:
        children = "none"
    print(json.dumps({"children": children, "seconds": time.monotonic() - started}))
    """)
    assert out == {"children": "none", "seconds": out["seconds"]} and out["seconds"] < 30


def test_nothing_is_forked_when_not_worth_it_beside_another_thread_or_for_workers_sharing_the_cores():
    out = run(HEADER + """
    few = halves(lambda n: os.getpid(), list(range(10)), worth_it=False)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    beside_thread = halves(lambda n: os.getpid(), list(range(10)))
    stop.set()
    thread.join()
    # As many server workers as cores, all loading at once: none forks.
    parallel.loading_together(len(os.sched_getaffinity(0)))
    workers = halves(lambda n: os.getpid(), list(range(10)))
    parallel.loading_together(1)
    alone = halves(lambda n: os.getpid(), list(range(10)))
    print(json.dumps({"parent": parent, "pids": sorted(set(few + beside_thread + workers)), "alone": sorted(set(alone))}))
    """)
    assert out["pids"] == [out["parent"]]
    assert len(out["alone"]) == 2  # and with the cores to itself, it does


def test_a_large_faq_decides_the_same_whether_loaded_on_one_core_or_two(tmp_path):
    """The matcher gathers half a large FAQ's entries on a second core; nothing it decides may change with that."""
    script = HEADER + """
    sys.path.insert(0, "bench")
    import matcher_bench
    from faq.loader import load_faq
    from faq.matcher import Matcher
    from faq.text import segmenter
    if sys.argv[1] == "one":
        parallel.MIN_ITEMS = 10**9
    forked = []
    fork = os.fork
    os.fork = lambda: forked.append(1) or fork()
    text, listed, fresh = matcher_bench.labelled_faq(1000)
    path = os.path.join(sys.argv[2], "faq.yaml")
    open(path, "w", encoding="utf-8").write(text)
    matcher = Matcher(load_faq(path))
    simplified = sum(answer is not None for answer in matcher._answers)
    decisions = [matcher.decide(q) for q in listed[:40] + fresh[:80]]
    print(json.dumps({"forks": len(forked), "simplified": simplified, "decisions": [[d.kind, d.faq_id, d.score, [(c.faq_id, c.score) for c in d.candidates]] for d in decisions]}))
    """
    outs = {}
    for cores in ("one", "two"):
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), cores, str(tmp_path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "parallel load" not in done.stderr  # no child failed, with its part done again here
        outs[cores] = json.loads(done.stdout.strip().splitlines()[-1])
    # Two steps run beside the parent: gathering the second half of the entries and summing their vectors.
    assert outs["one"]["forks"] == 0 and outs["two"]["forks"] == 2
    # On two cores every answer is simplified at load, while the child gathers; on one, each when its entry is first a candidate.
    assert outs["one"]["simplified"] == 0 and outs["two"]["simplified"] == 1000
    assert outs["one"]["decisions"] == outs["two"]["decisions"]
    assert {kind for kind, *_ in outs["two"]["decisions"]} >= {"answer", "escalate"}
