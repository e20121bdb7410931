"""mcusim command line: run · infer · bench · check · sweep · serve · list · show (a thin layer over
the Python API in mcusim/api.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from mcusim.argcheck import nonnegative_float, nonnegative_int, positive_float, positive_int
from mcusim.errors import UserError

EXIT_USAGE, EXIT_FAULT, EXIT_LIMIT, EXIT_DIVERGED = 2, 3, 4, 5


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        print(f"mcusim: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help with the epilog (exit statuses, examples) kept as written."""


EXIT_STATUS_HELP = """\
exit status:
  0-255  the firmware's own status when it exits through semihosting (0: success)
  2      bad input or usage (one line on stderr, nothing simulated)
  3      firmware fault (a fault report on stderr)
  4      a limit reached: --max-cycles, --timeout, or asleep with nothing to wake it
  5      --verify: the reference CPU computed a different state
"""
MAIN_EXAMPLE = """
examples:
  mcusim run firmware_images/prebuilt/cortex-m4f/hello.elf --mcu stm32l4r5
  mcusim infer kws --mcu stm32l4r5 --layers
  mcusim bench --models ../shared/models/kws.tflite,ad
  mcusim <command> --help        (docs/guide.md walks through every command)
"""
RUN_DESCRIPTION = """\
Run a firmware ELF on a simulated MCU to its end (a semihosting exit), a fault or a limit,
and print a summary line: cycles, instructions, simulated time, energy."""
RUN_EXAMPLE = """
example:
  mcusim run firmware_images/prebuilt/cortex-m4f/hello.elf --mcu stm32l4r5 --profile
"""
MODEL_HELP = ("a .tflite file (e.g. ../shared/models/kws.tflite, the MLPerf Tiny model), "
              "or a built-in model kws, vww, ic, ad: the MLPerf Tiny architectures with "
              "random weights (same latency, meaningless outputs)")
INFER_DESCRIPTION = """\
Run inference of an int8 .tflite model in the model slot of the prebuilt inference image
for the MCU's core; print latency, cycles, energy, flash and RAM."""
INFER_EXAMPLE = """
example:
  mcusim infer ../shared/models/kws.tflite --mcu stm32l4r5 --count 3 --layers
"""
BENCH_DESCRIPTION = """\
One inference of each model on one MCU, as a table. The built-in models have the MLPerf
Tiny architectures with random weights: same operators, shapes and latency, but not the
trained networks; give the .tflite files to run the real ones."""
BENCH_EXAMPLE = """
example:
  mcusim bench --mcu stm32l4r5 --models kws,ad
  mcusim bench --models ../shared/models/kws.tflite,../shared/models/ad.tflite --csv out.csv
"""
SERVE_DESCRIPTION = """\
The simulated board on a serial link, speaking the MLPerf Tiny device protocol (name,
profile, db load N, db HEX, infer N [W], results, exit; replies end in m-ready, other
commands get e-[Unknown command: ...]). With --pty, the device path is printed once the firmware is
ready for commands; it stays up while hosts close and reopen the port (the MLPerf Tiny
runner does, between identifying the device and running a test) and exits on exit% or
a signal. Without --pty, on stdin/stdout, it exits at end of input or exit%."""
SERVE_EPILOG = """
exit status: 0 the host sent exit% (or closed stdin); 2 bad input; 3 the firmware failed

example:
  mcusim serve ../shared/models/kws.tflite --pty
"""

CHECK_EPILOG = """
exit status: 0 every metric within tolerance; 1 a regression or a failed run; 2 bad input,
or a baseline from another mcusim version or catalog (unless --allow-different)

examples:
  mcusim check --baseline base.json --update -- bench --models kws,ad
  mcusim check --baseline base.json -t cycles=1% -- bench --models kws,ad   (docs/ci.md)
"""
CATALOG_EPILOG = """
exit status: 0 done; 2 an unknown MCU or an invalid catalog file (one line)

example:
  mcusim {cmd}        (docs/catalogs.md, docs/guide.md)
"""


def _add_common(p):
    p.add_argument("--mcu", default="stm32l4r5", help="catalog MCU name or a .toml path (default stm32l4r5)")
    p.add_argument("--clock-mhz", type=positive_float, metavar="F",
                   help="core clock in MHz, > 0 (default: the catalog's run clock)")
    p.add_argument("--mode", choices=["fast", "detailed"], default="fast",
                   help="timing fidelity: fast (default) or detailed (every access modelled)")
    p.add_argument("--json", metavar="FILE", help="write the run record as JSON")
    p.add_argument("--max-cycles", type=positive_int, metavar="N",
                   help="end the run with outcome 'limit' (exit 4) after N >= 1 cycles")
    p.add_argument("--timeout", type=positive_float, metavar="S",
                   help="wall-clock limit in seconds, > 0 (exit 4 when reached)")
    _add_verify(p)


def _add_verify(p):
    p.add_argument("--verify", action="store_true",
                   help="run a hook-free reference CPU beside the timed one and stop with "
                        "exit status 5 if they ever compute different states")
    p.add_argument("--verify-interval", type=positive_int, metavar="CYCLES",
                   help="end CPU slices at least this often for finer --verify checkpoints "
                        "(default: at every scheduled event, at most 4 M cycles apart)")


def build_parser():
    ap = _Parser(prog="mcusim", description="Cycle-approximate Cortex-M simulator for TinyML firmware.",
                 epilog=EXIT_STATUS_HELP + MAIN_EXAMPLE, formatter_class=_Formatter)
    ap.add_argument("--version", action="store_true", help="print the version")
    sub = ap.add_subparsers(dest="cmd", parser_class=_Parser)

    r = sub.add_parser("run", help="run a firmware ELF", description=RUN_DESCRIPTION,
                       epilog=EXIT_STATUS_HELP + RUN_EXAMPLE, formatter_class=_Formatter)
    r.add_argument("elf", help="the firmware ELF (32-bit Arm, linked for the MCU's memory map)")
    _add_common(r)
    r.add_argument("--profile", action="store_true", help="print per-function cycles (exclusive, inclusive)")
    r.add_argument("--collapsed", metavar="FILE", help="write collapsed call stacks (flamegraph/speedscope)")
    r.add_argument("--uart-input", metavar="TEXT",
                   help="bytes the console UART receives (escapes: \\n \\r \\t \\xNN \\\\)")
    r.add_argument("--uart-input-file", metavar="FILE",
                   help="bytes the console UART receives, from a file (at most 16 MiB)")
    r.add_argument("--semihost-dir", metavar="DIR", help="let semihosting file calls use files inside DIR")
    r.add_argument("--quiet", action="store_true", help="do not echo firmware output")
    r.add_argument("--power-trace", metavar="CSV", help="write the power-state timeline (CSV)")
    r.add_argument("--power-plot", metavar="PNG", help="plot the power timeline (PNG)")
    r.add_argument("--reset-clock", action="store_true",
                   help="start from the reset state (reset clock, reset register values) even "
                        "if the firmware never touches its clock (docs/clocks.md)")
    r.add_argument("--gpio-trace", metavar="CSV", help="write the output pin changes (CSV)")
    r.add_argument("--force", action="store_true",
                   help="run an ELF built for another core than the MCU's (its build "
                        "attributes name the core; the numbers are then not that core's)")

    i = sub.add_parser("infer", help="run one inference of a .tflite model on an MCU",
                       description=INFER_DESCRIPTION, epilog=EXIT_STATUS_HELP + INFER_EXAMPLE,
                       formatter_class=_Formatter)
    i.add_argument("model", help=MODEL_HELP)
    _add_common(i)
    i.add_argument("--kernels", choices=["ref", "opt", "npu", "cx"], default=None,
                   help="kernel set of the image (default: opt where the core has DSP, else ref)")
    i.add_argument("--input", metavar="X.npy", help="input tensor (int8/uint8 raw, or float32 to quantize)")
    i.add_argument("--output", metavar="Y.npy", help="write the output tensor (int8)")
    i.add_argument("--count", type=positive_int, default=1, metavar="N",
                   help="measured inferences (default 1); with N > 1 the figures are the "
                        "mean, with min and max")
    i.add_argument("--warmup", type=nonnegative_int, default=0, metavar="N",
                   help="warm-up inferences before measuring (default 0)")
    i.add_argument("--layers", action="store_true", help="print the per-layer breakdown")
    i.add_argument("--profile", action="store_true", help="print per-function cycles")
    i.add_argument("--elf", help="use this inference image (built from firmware_images/) "
                                  "instead of the prebuilt one")
    i.add_argument("--power-trace", metavar="CSV", help="write the power-state timeline (CSV)")
    i.add_argument("--power-plot", metavar="PNG", help="plot the power timeline (PNG, PDF, SVG...)")

    b = sub.add_parser("bench", help="the MLPerf Tiny workloads on one MCU (built-in "
                                     "architecture-equivalent models, or .tflite files)",
                       description=BENCH_DESCRIPTION, epilog=EXIT_STATUS_HELP + BENCH_EXAMPLE,
                       formatter_class=_Formatter)
    b.add_argument("--mcu", default="stm32l4r5", help="catalog MCU name or a .toml path (default stm32l4r5)")
    b.add_argument("--clock-mhz", type=positive_float, metavar="F",
                   help="core clock in MHz, > 0 (default: the catalog's run clock)")
    b.add_argument("--mode", choices=["fast", "detailed"], default="fast",
                   help="timing fidelity: fast (default) or detailed")
    b.add_argument("--kernels", choices=["ref", "opt", "npu", "cx"], default=None,
                   help="kernel set of the image (default: opt where the core has DSP, else ref)")
    b.add_argument("--models", default="kws,vww,ic,ad", metavar="LIST",
                   help="comma-separated built-in names (kws, vww, ic, ad: random weights) "
                        "and/or .tflite files, e.g. ../shared/models/kws.tflite")
    b.add_argument("extra_models", nargs="*", metavar="FILE", help=".tflite files to add")
    b.add_argument("--warmup", type=nonnegative_int, default=0, metavar="N",
                   help="warm-up inferences before the measured one (default 0)")
    b.add_argument("--layers", action="store_true", help="print each model's per-layer breakdown")
    b.add_argument("--json", metavar="FILE", help="write the results (and each run record) as JSON")
    b.add_argument("--csv", metavar="FILE", help="write the results table as CSV")
    b.add_argument("--timeout", type=positive_float, metavar="S",
                   help="wall-clock limit per model in seconds, > 0")
    _add_verify(b)

    sv = sub.add_parser("serve", help="the simulated board on a serial link (MLPerf Tiny protocol)",
                        description=SERVE_DESCRIPTION, epilog=SERVE_EPILOG,
                        formatter_class=_Formatter)
    sv.add_argument("model", help=MODEL_HELP)
    sv.add_argument("--mcu", default="stm32l4r5", help="catalog MCU name or a .toml path (default stm32l4r5)")
    sv.add_argument("--clock-mhz", type=positive_float, metavar="F",
                    help="core clock in MHz, > 0 (default: the catalog's run clock)")
    sv.add_argument("--mode", choices=["fast", "detailed"], default="fast",
                    help="timing fidelity: fast (default) or detailed")
    sv.add_argument("--kernels", choices=["ref", "opt", "npu", "cx"], default=None,
                    help="kernel set of the image (default: opt where the core has DSP, else ref)")
    sv.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal (else stdin/stdout)")
    sv.add_argument("--keepalive", type=nonnegative_float, default=1.0, metavar="S",
                    help="send an empty line after S seconds of silence while the firmware "
                         "computes (the MLPerf Tiny runner waits 5-30 s per reply line and "
                         "ignores empty ones; 0: never)")

    ck = sub.add_parser(
        "check", help="compare a run or bench with a baseline: exit 0 within tolerance, "
                      "1 regression, 2 bad input or not comparable (docs/ci.md)",
        usage="mcusim check --baseline BASE.json [options] (CURRENT.json | -- run|infer|bench ARGS...)",
        epilog=CHECK_EPILOG, formatter_class=_Formatter)
    ck.add_argument("current", nargs="?", metavar="CURRENT.json",
                    help="the current record or bench JSON (or give a command after --)")
    ck.add_argument("--baseline", required=True, metavar="BASE.json",
                    help="the committed baseline (a run/infer record or bench JSON)")
    ck.add_argument("--update", action="store_true",
                    help="write the current results as the baseline (exit 0)")
    ck.add_argument("--tolerance", "-t", action="append", default=[], metavar="[METRIC=]SPEC",
                    help="e.g. cycles=1%%, flash_bytes=256, energy_uj=2%%,0.5; no METRIC: "
                         "every metric (default 0; also [tool.mcusim.check] in pyproject.toml)")
    ck.add_argument("--config", metavar="TOML", help="tolerances from this TOML file")
    ck.add_argument("--allow-different", action="store_true",
                    help="compare even across a different mcusim version or catalog (and "
                         "say what differs)")
    ck.add_argument("--junit", metavar="XML", help="write JUnit XML (a test case per "
                                                   "benchmark and metric)")
    ck.add_argument("--markdown", metavar="MD", help="write a Markdown summary")
    ck.add_argument("--top", type=positive_int, default=5, metavar="N",
                    help="layers and functions shown per benchmark (default 5)")

    sub.add_parser("list", help="list catalog entries (MCUs, cores, power models)",
                   epilog=CATALOG_EPILOG.format(cmd="list"), formatter_class=_Formatter)

    sh = sub.add_parser("show", help="print an MCU's merged catalog (with its core and power "
                                     "model), each value with the file that set it",
                        epilog=CATALOG_EPILOG.format(cmd="show stm32l4r5"),
                        formatter_class=_Formatter)
    sh.add_argument("mcu", help="catalog MCU name or a .toml path")

    from mcusim.sweep.cli import add_parser as add_sweep_parser
    add_sweep_parser(sub)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    run_argv = None
    if argv[:1] == ["check"] and "--" in argv:       # mcusim check ... -- bench --models ad
        i = argv.index("--")
        argv, run_argv = argv[:i], argv[i + 1:]
    args = ap.parse_args(argv)
    if args.version:
        from mcusim import __version__
        print(__version__)
        return 0
    try:
        if args.cmd == "run":
            return cmd_run(args)
        if args.cmd == "infer":
            return cmd_infer(args)
        if args.cmd == "bench":
            return cmd_bench(args)
        if args.cmd == "serve":
            from mcusim.serve import serve
            return serve(args.model, args.mcu, args.kernels or default_kernels(args.mcu), args.pty,
                         args.clock_mhz, args.mode, args.keepalive)
        if args.cmd == "check":
            from mcusim.check import main as check_main
            return check_main(args, run_argv, main)
        if args.cmd == "list":
            return cmd_list(args)
        if args.cmd == "show":
            return cmd_show(args)
        if args.cmd == "sweep":
            from mcusim.sweep.cli import main as sweep_main
            return sweep_main(args)
        ap.print_help()
        return EXIT_USAGE
    except UserError as e:
        print(f"mcusim: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mcusim: interrupted", file=sys.stderr)
        return 130


def _unescape(s: str) -> bytes:
    from mcusim.argcheck import unescape
    return unescape(s, "--uart-input")


# output-path options of the commands, checked before anything runs
_OUTPUTS = (("json", "--json"), ("csv", "--csv"), ("power_trace", "--power-trace"),
            ("collapsed", "--collapsed"), ("gpio_trace", "--gpio-trace"), ("output", "--output"))


def check_outputs(args) -> None:
    """Every output path of the command is writable (and a plot has a known format) before
    the run: a bad path fails in a second, not after the work."""
    from mcusim.argcheck import check_plot_path, check_writable
    seen: dict[str, str] = {}
    for attr, opt in _OUTPUTS + (("power_plot", "--power-plot"),):
        path = getattr(args, attr, None)
        if not path:
            continue
        key = os.path.abspath(path)
        if key in seen:
            raise UserError(f"{opt} and {seen[key]} name the same file {path}")
        seen[key] = opt
        if attr == "power_plot":
            check_plot_path(path, opt)
        else:
            check_writable(path, opt)


def cmd_list(args) -> int:
    from mcusim.catalog import list_catalog
    cat = list_catalog()
    for kind in ("mcus", "cores", "power_models"):
        print(f"{kind}:")
        for name, desc in cat.get(kind, []):
            print(f"  {name:16s} {desc}")
    return 0


def cmd_show(args) -> int:
    from mcusim.catalog import show
    sys.stdout.write(show(args.mcu))
    return 0


def outcome_status(m) -> int:
    if m.outcome == "exit":
        return int(m.exit_code or 0) & 0xFF
    if m.outcome == "fault":
        return EXIT_FAULT
    if m.outcome == "diverged":
        return EXIT_DIVERGED
    return EXIT_LIMIT


def cmd_run(args) -> int:
    from mcusim import api

    uart = b""
    if args.uart_input:
        uart += _unescape(args.uart_input)
    if args.uart_input_file:
        from mcusim.argcheck import read_bounded
        uart += read_bounded(args.uart_input_file, "--uart-input-file")
    if args.semihost_dir and not os.path.isdir(args.semihost_dir):
        raise UserError(f"--semihost-dir {args.semihost_dir}: not a directory")
    check_outputs(args)
    mcu = args.mcu
    if args.reset_clock:
        if args.clock_mhz:
            raise UserError("--reset-clock and --clock-mhz exclude each other (docs/clocks.md)")
        mcu = api.load_mcu(mcu).derive({"mcu.start_state": "reset"})
    rec = api.run(args.elf, mcu, clock_mhz=args.clock_mhz, mode=args.mode,
                  max_cycles=args.max_cycles, timeout=args.timeout, uart_input=uart,
                  semihost_dir=args.semihost_dir,
                  stdin=None if sys.stdin.isatty() else sys.stdin.buffer,  # SYS_READC/SYS_READ(0)
                  echo=not args.quiet, profile=bool(args.profile or args.collapsed or args.json),
                  verify=(args.verify_interval or True) if args.verify else False,
                  warn=_print_warning, force=args.force)
    if args.power_trace or args.power_plot:
        from mcusim.power.run_energy import write_trace
        write_trace(rec.trace, args.power_trace, args.power_plot)
    if args.json:
        rec.to_json(args.json)
    if args.collapsed:
        write_collapsed(rec, args.collapsed)
    if args.gpio_trace:
        from mcusim.record import write_gpio_trace
        try:
            write_gpio_trace(rec.trace, args.gpio_trace)
        except OSError as e:
            raise UserError(f"cannot write {args.gpio_trace}: {e.strerror}") from None
    _summary(rec, args.profile)
    _outcome_line(rec)
    return outcome_status(rec)


def _print_warning(msg: str) -> None:
    print(f"mcusim: warning: {msg}", file=sys.stderr)


def _outcome_line(rec) -> None:
    """The one line on stderr for a run that faulted, hit a limit or diverged."""
    if rec.outcome in ("fault", "limit", "diverged") and rec.outcome_message:
        print(f"mcusim: {rec.outcome_message}", file=sys.stderr)


def write_collapsed(rec, path: str) -> None:
    from mcusim.record import call_tree
    tree = call_tree(rec.trace) or {"collapsed": {}}
    try:
        with open(path, "w") as f:
            for stack, cyc in sorted(tree["collapsed"].items()):
                f.write(f"{stack} {cyc}\n")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None


def _write_json(path: str, rec: dict) -> None:
    try:
        with open(path, "w") as f:
            json.dump(rec, f, indent=1)
            f.write("\n")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None


def _placeholder(rec: dict) -> str:
    """' (placeholder power data)' when the energy comes from an unsourced power catalog,
    ' (power data derived from public measurements)' from a derived one."""
    from mcusim.power.model import DATA_NOTES
    pd_ = rec.get("power_data")
    return f" ({DATA_NOTES[pd_]})" if pd_ in ("placeholder", "derived") else ""


def _summary(record, profile: bool) -> None:
    err = sys.stderr
    rec = record.to_dict()
    mhz = record.clock_hz / 1e6
    print(f"mcusim: {rec['outcome']}"
          + (f" status {rec['exit_code']}" if rec["outcome"] == "exit" else "")
          + f" | {rec['cycles']:,} cycles, {rec['instructions']:,} instructions"
          + f" | {rec['seconds'] * 1e3:.3f} ms at {mhz:g} MHz on {record.mcu}"
          + (f" | {rec['energy_j'] * 1e6:.2f} uJ, {rec['avg_power_w'] * 1e3:.2f} mW avg"
             + _placeholder(rec) if rec.get("energy_j") else "")
          + f" | host {record.host_seconds or 0:.2f} s", file=err)
    if profile:
        st = rec.get("stalls") or {}
        tot = max(1, rec["cycles"])
        sleep = st.get("sleep") or 0
        active = rec["cycles"] - sleep
        # CPI over the cycles the core executed (asleep, it executes nothing)
        cpi = (f" | CPI {active / rec['instructions']:.3f} over active cycles"
               + (f" ({100 * sleep / tot:.1f}% asleep)" if sleep else "")
               if rec.get("instructions") else "")
        print("cycles by cause: " + ", ".join(f"{k} {v:,} ({100 * v / tot:.1f}%)" for k, v in st.items() if v)
              + cpi, file=err)
        print(f"{'function':40s} {'exclusive':>14s} {'%':>6s} {'inclusive':>14s} {'calls':>9s} "
              f"{'instr':>14s} {'CPI':>5s}" + ("  uJ" if any(r.get("energy_j") for r in rec["functions"]) else ""),
              file=err)
        total = max(1, rec["cycles"])
        rows = list(rec["functions"][:30])
        if sleep:       # asleep (WFI/WFE, sleep-on-exit): its own row, in order of cycles
            rows.append({"name": "[asleep: WFI/WFE]", "cycles": sleep, "instructions": 0,
                         "inclusive_cycles": None, "calls": 0})
            rows.sort(key=lambda r: -r["cycles"])
        for row in rows:
            cpi = row["cycles"] / row["instructions"] if row["instructions"] else 0
            inc = row.get("inclusive_cycles")
            print(f"{row['name'][:40]:40s} {row['cycles']:14,d} {100 * row['cycles'] / total:6.2f} "
                  f"{(f'{inc:,d}' if inc is not None else '-'):>14s} {row.get('calls') or 0:9,d} "
                  f"{row['instructions']:14,d} {cpi:5.2f}"
                  + (f"  {row['energy_j'] * 1e6:.2f}" if row.get("energy_j") else ""), file=err)


class _Null:
    def write(self, data):
        return len(data)

    def flush(self):
        pass


def default_kernels(mcu_name: str) -> str:
    from mcusim.api import default_kernels as dk
    return dk(mcu_name)


class _Progress:
    """One status line on a terminal for long runs (nothing when stderr is not a tty)."""

    def __init__(self, label: str):
        self.label = label
        self.last = 0.0
        self.on = sys.stderr.isatty()

    def __call__(self, m):
        if not self.on:
            return
        import time
        t = time.monotonic()
        if t - self.last < 0.5:
            return
        self.last = t
        print(f"\r  {self.label}: {m.cycles:,} cycles, {m.seconds() * 1e3:.1f} ms simulated",
              end="", file=sys.stderr, flush=True)

    def done(self):
        if self.on and self.last:
            print("\r" + " " * 70 + "\r", end="", file=sys.stderr, flush=True)


def cmd_infer(args) -> int:
    from mcusim import api

    check_outputs(args)
    if args.output and not args.output.endswith(".npy"):
        raise UserError(f"--output {args.output}: the output tensor is written as .npy "
                        "(give a name ending in .npy)")
    prog = _Progress(args.model)
    rec = api.infer(args.model, args.mcu, kernels=args.kernels, input=args.input,
                    count=args.count, warmup=args.warmup, clock_mhz=args.clock_mhz,
                    mode=args.mode, max_cycles=args.max_cycles, timeout=args.timeout,
                    elf=args.elf, progress=prog,
                    verify=(args.verify_interval or True) if args.verify else False)
    prog.done()
    d = rec.to_dict()
    if args.output and rec.output is not None:
        import numpy as np
        try:
            with open(args.output, "wb") as f:       # exactly this path (np.save adds .npy)
                np.save(f, rec.output)
        except OSError as e:
            raise UserError(f"cannot write {args.output}: {e.strerror}") from None
    if args.json:
        rec.to_json(args.json)
    if args.power_trace or args.power_plot:
        from mcusim.power.run_energy import write_trace
        write_trace(rec.trace, args.power_trace, args.power_plot)
    if rec.ok:
        e = rec.energy_uj
        mem = rec.memory
        print(f"{rec.model} on {rec.mcu} ({rec.core}, {rec.clock_hz / 1e6:g} MHz, "
              + (f"{rec.kernels} kernels" if rec.kernels else f"image {rec.image}")
              + f", {rec.mode}): {rec.latency_ms:.3f} ms, {rec.inference_cycles:,} cycles"
              + (f", {e:.1f} uJ" + _placeholder(d) if e else "")
              + f" | flash {mem['flash_bytes']:,} B, RAM {mem['ram_bytes']:,} B "
              f"(arena {mem['arena_bytes']:,}, stack {mem['stack_peak_bytes']:,})")
        if (rec.inference or {}).get("count", 0) > 1:
            _print_inferences(rec, d)
        print(f"output sha256 {rec.output_sha256}")
        from mcusim.api import BUILTIN_MODELS
        if args.model in BUILTIN_MODELS:
            print(f"{args.model}: built-in model with the MLPerf Tiny architecture and random "
                  "weights (same latency; outputs meaningless: give the MLPerf Tiny .tflite "
                  "file for the trained model)")
        if args.layers:
            print_layers(d)
        if args.profile:
            _summary(rec, True)
        return 0
    if rec.outcome == "exit":
        print(f"mcusim: {rec.outcome_message}", file=sys.stderr)
        return EXIT_FAULT
    _outcome_line(rec)
    return outcome_status(rec)


def _print_inferences(rec, d) -> None:
    """With --count N: the mean (the headline figures), min and max, and each inference."""
    inf = rec.inference
    each_e = d.get("inference_energy_each_j") or []
    print(f"  {inf['count']} inferences: mean {inf['latency_ms']:.3f} ms, {inf['cycles']:,} cycles"
          f" | min {inf['latency_ms_min']:.3f} ms ({inf['cycles_min']:,} cycles)"
          f" | max {inf['latency_ms_max']:.3f} ms ({inf['cycles_max']:,} cycles)")
    print(f"  {'#':>3s} {'cycles':>13s} {'ms':>10s}" + (f" {'uJ':>9s}" if each_e else ""))
    for i, (c, ms) in enumerate(zip(inf["cycles_each"], inf["latency_ms_each"])):
        e = each_e[i] if i < len(each_e) else None
        print(f"  {i + 1:3d} {c:13,d} {ms:10.3f}" + (f" {e * 1e6:9.1f}" if e is not None else ""))


def print_layers(rec, out=None):
    out = out or sys.stdout
    total = max(1, sum(r["cycles"] for r in rec["layers"]))
    if any("unit" in r for r in rec["layers"]):      # accelerators attached
        from mcusim.accelerators.cli import print_accelerated_layers
        return print_accelerated_layers(rec, out)
    print(f"  {'#':>3s} {'op':18s} {'shape':44s} {'MACs':>10s} {'cycles':>12s} {'%':>6s} {'MAC/cyc':>7s}"
          f" {'mem%':>5s} {'br%':>5s}" + ("  uJ" if any(r.get("energy_j") for r in rec["layers"]) else ""),
          file=out)
    for r in rec["layers"]:
        mpc = r["macs"] / r["cycles"] if r["macs"] and r["cycles"] else 0
        st = r.get("stalls") or {}
        cyc = max(1, r["cycles"])
        print(f"  {r['index']:3d} {str(r['op'])[:18]:18s} {str(r['shape'])[:44]:44s} {r['macs'] or 0:10,d} "
              f"{r['cycles']:12,d} {100 * r['cycles'] / total:6.2f} {mpc:7.3f}"
              f" {100 * st.get('memory', 0) / cyc:5.1f} {100 * st.get('branch', 0) / cyc:5.1f}"
              + (f"  {r['energy_j'] * 1e6:.2f}" if r.get("energy_j") else ""), file=out)


def cmd_bench(args) -> int:
    from mcusim import api

    mcu = api.load_mcu(args.mcu)
    kernels = args.kernels or api.default_kernels(mcu)
    models = [x.strip() for x in args.models.split(",") if x.strip()] + list(args.extra_models)
    if not models:
        raise UserError("--models: no models given (built-in kws, vww, ic, ad and/or .tflite files)")
    check_outputs(args)
    api.check_models(models)              # every model read and checked before the first runs
    print(f"MLPerf Tiny workloads on {mcu.name} ({mcu.core.name}, "
          f"{args.clock_mhz or mcu.clock_mhz:g} MHz), {kernels} kernels, {args.mode} timing")
    hdr = f"{'benchmark':12s} {'latency ms':>11s} {'inf/s':>8s} {'cycles':>13s} {'energy uJ':>10s} {'flash B':>9s} {'RAM B':>8s}"
    print(hdr)
    progress: list[_Progress] = []

    def start(name: str) -> _Progress:
        progress.append(_Progress(name))
        return progress[-1]

    records = []
    diverged = False
    for rec in api.bench_records(models, mcu, kernels=kernels, clock_mhz=args.clock_mhz,
                                 mode=args.mode, warmup=args.warmup, timeout=args.timeout,
                                 verify=(args.verify_interval or True) if args.verify else False,
                                 progress=start):
        progress[-1].done()
        records.append(rec)
        row = rec.to_row()
        if not rec.ok:
            print(f"{row['benchmark']:12s} failed: {rec.outcome_message or rec.outcome}")
            if rec.outcome == "diverged":
                _outcome_line(rec)
                diverged = True
            continue
        e = row["energy_uj"]
        print(f"{row['benchmark']:12s} {row['latency_ms']:11.3f} {row['inferences_per_s']:8.2f} "
              f"{row['cycles']:13,d} " + (f"{e:10.1f}" if e else f"{'-':>10s}")
              + f" {row['flash_bytes']:9,d} {row['ram_bytes']:8,d}")
        if args.layers:
            print_layers(rec.to_dict())
    pd_ = next((r.power_data for r in records if r.power_data), None)
    if pd_ in ("placeholder", "derived"):
        from mcusim.power.model import DATA_NOTES
        why = next((r.power_data_reason for r in records if r.power_data_reason), None)
        print(f"energy uJ: {DATA_NOTES[pd_]} ({mcu.power_model}"
              + (f": {why})" if why else ")"))
    if args.json:
        _write_json(args.json, api.bench_json(records))
    if args.csv:
        try:
            api.bench_table(records).to_csv(args.csv, index=False)
        except OSError as e:
            raise UserError(f"cannot write {args.csv}: {e.strerror}") from None
    _bench_legend(records, mcu, kernels, args)
    if diverged:
        return EXIT_DIVERGED
    failed = [r for r in records if not r.ok]
    if not failed:
        return 0
    # the first failure's status, as `infer` would exit: 3 fault (or the image's error), 4 limit
    return EXIT_FAULT if failed[0].outcome == "exit" else outcome_status(failed[0])


def _energy_legend(power_model: str, vdd_v) -> str:
    """What a bench energy figure includes, from the power catalog that computed it."""
    from mcusim.catalog import load_power
    try:
        p = load_power(power_model)
    except Exception:                      # the records already ran with it; be safe
        return f"{power_model}, {vdd_v or 0:g} V, over one inference"
    what = "the run/sleep currents of core, flash and SRAM"
    if p.access_energy.enabled:
        what += " plus an energy per word fetched, read or written"
    rail = (f"the board rail ({p.board.description})" if p.board.extra_ua
            else "the MCU's supply, no board")
    flag = "; placeholder power data (no datasheet source)" \
        if p.data_status == "placeholder" else \
        "; power data derived from public board measurements (no datasheet table)" \
        if p.data_status == "derived" else ""
    return (f"{power_model} at {vdd_v or p.vdd_v:g} V over one inference: {what}, as "
            f"drawn from {rail}{flag} (docs/power.md)")


def _bench_legend(records, mcu, kernels: str, args) -> None:
    """What the numbers are: which models, what one inference, energy and RAM include."""
    from mcusim.api import BUILTIN_MODELS
    ok = [r for r in records if r.ok]
    builtin = sorted({r.model for r in records if r.model in BUILTIN_MODELS})
    first = ok[0] if ok else None
    clock = (first.clock_hz / 1e6) if first else (args.clock_mhz or mcu.clock_mhz)
    kdesc = {"ref": "portable C reference kernels", "opt": "DSP-extension kernels (SMLAD, "
             "as CMSIS-NN)", "npu": "NPU offload", "cx": "custom-instruction kernels"}
    print("--")
    if builtin:
        print(f"{', '.join(builtin)}: built-in models with the MLPerf Tiny architectures and "
              "random weights (same operators, shapes and latency; outputs meaningless). "
              "The trained models: --models ../shared/models/kws.tflite,...")
    print(f"latency: one inference after {args.warmup} warm-up(s), {mcu.core.name} at "
          f"{clock:g} MHz, {kernels} ({kdesc.get(kernels, kernels)}), {args.mode} timing")
    if first is not None and first.energy_uj is not None:
        print("energy: " + _energy_legend(first.power_model or mcu.power_model, first.vdd_v))
    else:
        print("energy: - (the MCU has no power model)")
    print("flash: inference image code + model; RAM: static data + tensor arena + measured "
          "stack peak")
