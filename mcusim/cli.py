"""mcusim command line: run · infer · bench · list."""

from __future__ import annotations

import argparse
import json
import sys

from mcusim.errors import UserError

EXIT_USAGE, EXIT_FAULT, EXIT_LIMIT, EXIT_DIVERGED = 2, 3, 4, 5


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        print(f"mcusim: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _add_common(p):
    p.add_argument("--mcu", default="stm32l4r5", help="catalog MCU name or a .toml path (default stm32l4r5)")
    p.add_argument("--clock-mhz", type=float, help="core clock (default: the catalog's run clock)")
    p.add_argument("--mode", choices=["fast", "detailed"], default="fast", help="timing fidelity")
    p.add_argument("--json", metavar="FILE", help="write the run record as JSON")
    p.add_argument("--max-cycles", type=int, help="end the run with outcome 'limit' after N cycles")
    p.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit in seconds")
    _add_verify(p)


def _add_verify(p):
    p.add_argument("--verify", action="store_true",
                   help="run a hook-free reference CPU beside the timed one and stop with "
                        "exit status 5 if they ever compute different states")
    p.add_argument("--verify-interval", type=int, metavar="CYCLES",
                   help="end CPU slices at least this often for finer --verify checkpoints "
                        "(default: at every scheduled event, at most 4 M cycles apart)")


def build_parser():
    ap = _Parser(prog="mcusim", description="Cycle-approximate Cortex-M simulator for TinyML firmware.")
    ap.add_argument("--version", action="store_true", help="print the version")
    sub = ap.add_subparsers(dest="cmd", parser_class=_Parser)

    r = sub.add_parser("run", help="run a firmware ELF")
    r.add_argument("elf")
    _add_common(r)
    r.add_argument("--profile", action="store_true", help="print per-function cycles (exclusive, inclusive)")
    r.add_argument("--collapsed", metavar="FILE", help="write collapsed call stacks (flamegraph/speedscope)")
    r.add_argument("--uart-input", metavar="TEXT", help="bytes the console UART receives (\\n escapes)")
    r.add_argument("--uart-input-file", metavar="FILE", help="bytes the console UART receives")
    r.add_argument("--semihost-dir", metavar="DIR", help="let semihosting file calls use files inside DIR")
    r.add_argument("--quiet", action="store_true", help="do not echo firmware output")
    r.add_argument("--power-trace", metavar="CSV", help="write the power-state timeline (CSV)")
    r.add_argument("--power-plot", metavar="PNG", help="plot the power timeline (PNG)")

    i = sub.add_parser("infer", help="run one inference of a .tflite model on an MCU")
    i.add_argument("model", help="a .tflite file, or a built-in model: kws, vww, ic, ad")
    _add_common(i)
    i.add_argument("--kernels", choices=["ref", "opt"], default=None,
                   help="kernel set of the image (default: opt where the core has DSP, else ref)")
    i.add_argument("--input", metavar="X.npy", help="input tensor (int8/uint8 raw, or float32 to quantize)")
    i.add_argument("--output", metavar="Y.npy", help="write the output tensor (int8)")
    i.add_argument("--count", type=int, default=1, help="inferences to run (default 1)")
    i.add_argument("--warmup", type=int, default=0, help="warm-up inferences before measuring")
    i.add_argument("--layers", action="store_true", help="print the per-layer breakdown")
    i.add_argument("--profile", action="store_true", help="print per-function cycles")
    i.add_argument("--elf", help="use this inference image instead of the prebuilt one")
    i.add_argument("--power-trace", metavar="CSV", help="write the power-state timeline (CSV)")
    i.add_argument("--power-plot", metavar="PNG", help="plot the power timeline")

    b = sub.add_parser("bench", help="run the MLPerf Tiny suite (built-in models by default)")
    b.add_argument("--mcu", default="stm32l4r5")
    b.add_argument("--clock-mhz", type=float)
    b.add_argument("--mode", choices=["fast", "detailed"], default="fast")
    b.add_argument("--kernels", choices=["ref", "opt"], default=None)
    b.add_argument("--models", default="kws,vww,ic,ad",
                   help="comma-separated built-in names and/or .tflite files")
    b.add_argument("extra_models", nargs="*", metavar="FILE", help=".tflite files to add")
    b.add_argument("--warmup", type=int, default=0)
    b.add_argument("--layers", action="store_true", help="print each model's per-layer breakdown")
    b.add_argument("--json", metavar="FILE")
    b.add_argument("--csv", metavar="FILE")
    b.add_argument("--timeout", type=float, metavar="S", help="wall-clock limit per model")
    _add_verify(b)

    sv = sub.add_parser("serve", help="the simulated board on a serial link (MLPerf Tiny protocol)")
    sv.add_argument("model", help="a .tflite file, or a built-in model: kws, vww, ic, ad")
    sv.add_argument("--mcu", default="stm32l4r5")
    sv.add_argument("--clock-mhz", type=float)
    sv.add_argument("--mode", choices=["fast", "detailed"], default="fast")
    sv.add_argument("--kernels", choices=["ref", "opt"], default=None)
    sv.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal (else stdin/stdout)")

    sub.add_parser("list", help="list catalog entries")

    sh = sub.add_parser("show", help="print an MCU's merged catalog (with its core and power "
                                     "model), each value with the file that set it")
    sh.add_argument("mcu", help="catalog MCU name or a .toml path")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
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
                         args.clock_mhz, args.mode)
        if args.cmd == "list":
            return cmd_list(args)
        if args.cmd == "show":
            return cmd_show(args)
        ap.print_help()
        return EXIT_USAGE
    except UserError as e:
        print(f"mcusim: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mcusim: interrupted", file=sys.stderr)
        return 130


def _unescape(s: str) -> bytes:
    return s.encode("utf-8").decode("unicode_escape").encode("latin-1")


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
    from mcusim.catalog import load_mcu
    from mcusim.elf import load_firmware
    from mcusim.machine import Machine
    from mcusim.record import build_record, fault_line

    mcu = load_mcu(args.mcu)
    fw = load_firmware(args.elf)
    uart = b""
    if args.uart_input:
        uart += _unescape(args.uart_input)
    if args.uart_input_file:
        try:
            with open(args.uart_input_file, "rb") as f:
                uart += f.read()
        except OSError as e:
            raise UserError(f"cannot read {args.uart_input_file}: {e.strerror}") from None
    out = None if not args.quiet else _Null()
    m = Machine(mcu, clock_mhz=args.clock_mhz, mode=args.mode, uart_input=uart,
                semihost_dir=args.semihost_dir, stdout=out, stderr=out,
                profile=bool(args.profile or args.collapsed or args.json))
    m.load(fw)
    m.reset()
    if args.verify:
        from mcusim.verify import attach
        attach(m, args.verify_interval)
    if not sys.stdin.isatty():
        m.semihost.stdin_source = sys.stdin.buffer   # SYS_READC/SYS_READ(0) read our stdin
    m.run(max_cycles=args.max_cycles, timeout=args.timeout)
    rec = build_record(m.trace)
    from mcusim.power.run_energy import add_energy, write_trace
    add_energy(rec, m.trace)
    if args.power_trace or args.power_plot:
        write_trace(m.trace, args.power_trace, args.power_plot)
    if args.json:
        _write_json(args.json, rec)
    if args.collapsed:
        write_collapsed(m, args.collapsed)
    _summary(m, rec, args.profile)
    _outcome_line(m)
    return outcome_status(m)


def _outcome_line(m) -> None:
    from mcusim.record import fault_line
    if m.outcome == "fault":
        print(f"mcusim: {fault_line(m.fault)}", file=sys.stderr)
    elif m.outcome == "limit":
        print(f"mcusim: limit: {m.limit_reason}", file=sys.stderr)
    elif m.outcome == "diverged":
        print(f"mcusim: {m.verifier.divergence.line_text()}", file=sys.stderr)


def write_collapsed(m, path: str) -> None:
    from mcusim.record import call_tree
    tree = call_tree(m.trace) or {"collapsed": {}}
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


def _summary(m, rec, profile: bool) -> None:
    err = sys.stderr
    mhz = m.clock_hz / 1e6
    print(f"mcusim: {rec['outcome']}"
          + (f" status {rec['exit_code']}" if rec["outcome"] == "exit" else "")
          + f" | {rec['cycles']:,} cycles, {rec['instructions']:,} instructions"
          + f" | {rec['seconds'] * 1e3:.3f} ms at {mhz:g} MHz on {m.mcu.name}"
          + (f" | {rec['energy_j'] * 1e6:.2f} uJ, {rec['avg_power_w'] * 1e3:.2f} mW avg" if rec.get("energy_j") else "")
          + f" | host {m.host_seconds:.2f} s", file=err)
    if profile:
        st = rec.get("stalls") or {}
        tot = max(1, rec["cycles"])
        print("cycles by cause: " + ", ".join(f"{k} {v:,} ({100 * v / tot:.1f}%)" for k, v in st.items() if v)
              + (f" | CPI {rec['cpi']:.3f}" if rec.get("cpi") else ""), file=err)
        print(f"{'function':40s} {'exclusive':>14s} {'%':>6s} {'inclusive':>14s} {'calls':>9s} "
              f"{'instr':>14s} {'CPI':>5s}" + ("  uJ" if any(r.get("energy_j") for r in rec["functions"]) else ""),
              file=err)
        total = max(1, rec["cycles"])
        for row in rec["functions"][:30]:
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
    from mcusim.catalog import load_mcu
    return "opt" if load_mcu(mcu_name).core.has_dsp and _has_opt(mcu_name) else "ref"


def _has_opt(mcu_name: str) -> bool:
    from mcusim.catalog import load_mcu
    from mcusim.infer import IMAGE_TARGET, firmware_dir
    t = IMAGE_TARGET.get(load_mcu(mcu_name).core.name)
    return t is not None and (firmware_dir() / t / "infer-opt.elf").exists()


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


def _load_input(path):
    import numpy as np
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read input {path}: {e}") from None


def cmd_infer(args) -> int:
    import numpy as np
    from mcusim.infer import load_model_bytes, quantize_input, run_inference
    from mcusim.record import fault_line
    from mcusim.tflite import read_model

    kernels = args.kernels or default_kernels(args.mcu)
    input_bytes = None
    if args.input:
        name, data = load_model_bytes(args.model)
        input_bytes = quantize_input(read_model(data), _load_input(args.input))
    prog = _Progress(args.model)
    r = run_inference(args.model, args.mcu, kernels=kernels, input_bytes=input_bytes,
                      count=args.count, warmup=args.warmup, clock_mhz=args.clock_mhz,
                      mode=args.mode, max_cycles=args.max_cycles, timeout=args.timeout,
                      elf=args.elf, progress=prog,
                      verify=(args.verify_interval or True) if args.verify else False)
    prog.done()
    m, rec = r.machine, r.record
    if args.output and r.output is not None:
        np.save(args.output, r.output)
    if args.json:
        _write_json(args.json, rec)
    if args.power_trace or args.power_plot:
        from mcusim.power.run_energy import write_trace
        write_trace(m.trace, args.power_trace, args.power_plot)
    if m.outcome == "exit" and m.exit_code == 0:
        inf = rec["inference"]
        e = rec.get("inference_energy_j")
        print(f"{rec['model']} on {m.mcu.name} ({m.core.name}, {m.clock_hz / 1e6:g} MHz, "
              f"{kernels} kernels, {m.mode}): {inf['latency_ms']:.3f} ms, {inf['cycles']:,} cycles"
              + (f", {e * 1e6:.1f} uJ" if e else "")
              + f" | flash {rec['memory']['flash_bytes']:,} B, RAM {rec['memory']['ram_bytes']:,} B "
              f"(arena {rec['memory']['arena_bytes']:,}, stack {rec['memory']['stack_peak_bytes']:,})")
        print(f"output sha256 {rec['output_sha256']}")
        if args.layers:
            print_layers(rec)
        if args.profile:
            _summary(m, rec, True)
        return 0
    if m.outcome == "exit":
        print(f"mcusim: inference image exited with status {m.exit_code}", file=sys.stderr)
        return EXIT_FAULT
    _outcome_line(m)
    return outcome_status(m)


def print_layers(rec, out=None):
    out = out or sys.stdout
    total = max(1, sum(r["cycles"] for r in rec["layers"]))
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
    import csv
    from mcusim.catalog import load_mcu
    from mcusim.infer import run_inference

    mcu = load_mcu(args.mcu)
    kernels = args.kernels or default_kernels(args.mcu)
    models = [x for x in args.models.split(",") if x] + list(args.extra_models)
    results = []
    print(f"MLPerf Tiny on {mcu.name} ({mcu.core.name}, {args.clock_mhz or mcu.clock_mhz:g} MHz), "
          f"{kernels} kernels, {args.mode} timing")
    hdr = f"{'benchmark':12s} {'latency ms':>11s} {'inf/s':>8s} {'cycles':>13s} {'energy uJ':>10s} {'flash B':>9s} {'RAM B':>8s}"
    print(hdr)
    diverged = False
    for spec in models:
        prog = _Progress(spec)
        r = run_inference(spec, args.mcu, kernels=kernels, clock_mhz=args.clock_mhz, mode=args.mode,
                          warmup=args.warmup, timeout=args.timeout, progress=prog,
                          verify=(args.verify_interval or True) if args.verify else False)
        prog.done()
        rec = r.record
        m = r.machine
        if m.outcome != "exit" or m.exit_code != 0:
            print(f"{rec['model']:12s} failed: outcome {m.outcome} status {m.exit_code}")
            if m.outcome == "diverged":
                _outcome_line(m)
                diverged = True
            results.append({"benchmark": rec["model"], "latency_ms": None, "inferences_per_s": None,
                            "cycles": None, "energy_uj": None, "flash_bytes": None, "ram_bytes": None})
            continue
        inf = rec["inference"]
        e = rec.get("inference_energy_j")
        row = {"benchmark": rec["model"], "latency_ms": inf["latency_ms"],
               "inferences_per_s": 1e3 / inf["latency_ms"], "cycles": inf["cycles"],
               "energy_uj": e * 1e6 if e else None,
               "flash_bytes": rec["memory"]["flash_bytes"], "ram_bytes": rec["memory"]["ram_bytes"]}
        results.append(row)
        print(f"{row['benchmark']:12s} {row['latency_ms']:11.3f} {row['inferences_per_s']:8.2f} "
              f"{row['cycles']:13,d} " + (f"{row['energy_uj']:10.1f}" if e else f"{'-':>10s}")
              + f" {row['flash_bytes']:9,d} {row['ram_bytes']:8,d}")
        if args.layers:
            print_layers(rec)
    if args.json:
        _write_json(args.json, {"mcu": mcu.name, "core": mcu.core.name, "kernels": kernels,
                                "mode": args.mode, "results": results})
    if args.csv:
        try:
            with open(args.csv, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(results[0].keys()) if results else ["benchmark"])
                w.writeheader()
                w.writerows(results)
        except OSError as e:
            raise UserError(f"cannot write {args.csv}: {e.strerror}") from None
    if diverged:
        return EXIT_DIVERGED
    return 0 if all(r["cycles"] for r in results) else EXIT_FAULT
