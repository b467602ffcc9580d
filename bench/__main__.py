"""`python -m bench widget|cpu|capacity|latency|faults|fuzz|all [--quick]` — see bench/__init__.py."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("what", choices=["widget", "cpu", "capacity", "latency", "faults", "fuzz", "all", "report"])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in a minute or two")
    parser.add_argument("--hold", type=float, default=None, help="capacity: seconds to hold each step (default 60)")
    parser.add_argument("--final-hold", type=float, default=None,
                        help="capacity: seconds to hold the largest step (default 600: the 10-minute target)")
    parser.add_argument("--steps", default=None, help="capacity: comma-separated agent counts (default 100,1000,2000,5000)")
    parser.add_argument("--examples", type=int, default=None, help="fuzz: examples in total (default 120,000)")
    args = parser.parse_args(argv)

    from . import report

    ok = True
    if args.what in ("widget", "all"):
        from . import widget

        ok &= widget.run(quick=args.quick)["passed_all"]
    if args.what in ("cpu", "all"):
        from . import functions_cpu

        ok &= all(t["met"] for t in functions_cpu.run(quick=args.quick)["targets"])
    if args.what in ("latency", "all"):
        from . import latency

        latency.run(quick=args.quick)
    if args.what in ("capacity", "all"):
        from . import capacity

        steps = [int(s) for s in args.steps.split(",")] if args.steps else None
        ok &= capacity.run(quick=args.quick, hold=args.hold, steps=steps, final_hold=args.final_hold)["passed_all"]
    if args.what in ("faults", "all"):
        from . import faults

        ok &= faults.run(quick=args.quick)["passed_all"]
    if args.what in ("fuzz", "all"):
        from . import fuzz

        ok &= fuzz.run(quick=args.quick, examples=args.examples)["passed_all"]
    print(f"\nwrote {report.write_markdown()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
