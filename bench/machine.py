"""python-statemachine: restore a machine from a stored state and run one transition.

No I/O. Rows of the table:
  * library: construct   - `MachineClass(model=row, state_field="state")` with a stored state
                           (restores without activation), the onboarding v1 class
  * library: restore + 1 transition (sync) - the above plus one `send`
  * Flow.run, new input  - workflows.engine.Flow.run(state, event, now, context, data), what the
                           service calls per transition (one reused machine per flow, effects,
                           timer planning), with a context it has not seen (a counter in it): the
                           machine runs every time
  * Flow.run, repeated input - the same calls with the five inputs repeating: Flow.run returns
                           its remembered result for a deterministic flow (no machine)

Events, cycling: resend (invited->invited, mail), complete_profile (guarded, with data),
activate_device (set_flag + mail), expire (invited->expired), remind_inactive (internal).

    python -m bench.machine --seconds 2
"""

from __future__ import annotations

import argparse
import gc
import itertools
import time

import statemachine

from bench.common import T0, latency_summary, print_environment, print_table, verdict
from workflows.actions import Effects
from workflows.engine import Flow, _Row
from workflows.registry import FlowRegistry

TARGET_US = 300.0
CASES = [
    ("invited", "resend", {}, None),
    ("invited", "complete_profile", {}, {"first_name": "Erika", "last_name": "Mustermann"}),
    ("in_progress", "activate_device", {}, None),
    ("invited", "expire", {}, None),
    ("invited", "remind_inactive", {}, None),
]


def _measure(fn, seconds: float) -> tuple[int, list[float]]:
    """Call fn() repeatedly for `seconds` (after a short warm-up), timing each call."""
    for _ in range(200):
        fn()
    latencies: list[float] = []
    gc.collect()
    stop = time.perf_counter() + seconds
    perf = time.perf_counter
    while True:
        start = perf()
        fn()
        end = perf()
        latencies.append(end - start)
        if end >= stop:
            return len(latencies), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measured time per row")
    args = parser.parse_args()
    print_environment()

    flow: Flow = FlowRegistry.from_directory().current("onboarding")
    machine_class = flow.machine_class
    cases = itertools.cycle(CASES)

    def construct() -> None:
        state = next(cases)[0]
        machine_class(model=_Row(state), state_field="state")

    def restore_and_send() -> None:
        state, event, context, data = next(cases)
        machine = machine_class(model=_Row(state), state_field="state")
        machine.send(event, effects=Effects(context=dict(context), data=dict(data or {})))

    counter = itertools.count()

    def flow_run_new() -> None:
        state, event, context, data = next(cases)
        flow.run(state, event, T0, context={**context, "n": next(counter)}, data=data)

    def flow_run_repeated() -> None:
        state, event, context, data = next(cases)
        flow.run(state, event, T0, context=context, data=data)

    rows = []
    for name, fn, target in [
        ("library: construct (restore only)", construct, None),
        ("library: restore + 1 transition (sync)", restore_and_send, TARGET_US),
        ("Flow.run, new input (machine)", flow_run_new, TARGET_US),
        ("Flow.run, repeated input (remembered)", flow_run_repeated, None),
    ]:
        count, latencies = _measure(fn, args.seconds)
        summary = latency_summary(latencies)
        mean_us = sum(latencies) / count * 1e6
        rows.append(
            [
                name,
                count,
                mean_us,
                summary["p50_ms"] * 1000,
                summary["p99_ms"] * 1000,
                f"<= {target:.0f} us" if target else "",
                verdict(summary["p50_ms"] * 1000, target, False) if target else "",
            ]
        )
    print_table(
        f"python-statemachine {statemachine.__version__}, {flow.name} v{flow.version}, sync",
        ["path", "calls", "mean us", "p50 us", "p99 us", "target (p50)", "verdict"],
        rows,
    )


if __name__ == "__main__":
    main()
