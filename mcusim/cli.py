"""mcusim command line: run · infer · bench · list."""

from __future__ import annotations

import argparse
import json
import sys

from mcusim.errors import UserError

EXIT_USAGE, EXIT_FAULT, EXIT_LIMIT = 2, 3, 4


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


def build_parser():
    ap = _Parser(prog="mcusim", description="Cycle-approximate Cortex-M simulator for TinyML firmware.")
    ap.add_argument("--version", action="store_true", help="print the version")
    sub = ap.add_subparsers(dest="cmd", parser_class=_Parser)

    r = sub.add_parser("run", help="run a firmware ELF")
    r.add_argument("elf")
    _add_common(r)
    r.add_argument("--profile", action="store_true", help="print per-function cycles")
    r.add_argument("--uart-input", metavar="TEXT", help="bytes the console UART receives (\\n escapes)")
    r.add_argument("--uart-input-file", metavar="FILE", help="bytes the console UART receives")
    r.add_argument("--semihost-dir", metavar="DIR", help="let semihosting file calls use files inside DIR")
    r.add_argument("--quiet", action="store_true", help="do not echo firmware output")

    sub.add_parser("list", help="list catalog entries")
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
        if args.cmd == "list":
            return cmd_list(args)
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


def outcome_status(m) -> int:
    if m.outcome == "exit":
        return int(m.exit_code or 0) & 0xFF
    if m.outcome == "fault":
        return EXIT_FAULT
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
                semihost_dir=args.semihost_dir, stdout=out, stderr=out)
    m.load(fw)
    m.reset()
    m.run(max_cycles=args.max_cycles, timeout=args.timeout)
    rec = build_record(m)
    if args.json:
        _write_json(args.json, rec)
    _summary(m, rec, args.profile)
    if m.outcome == "fault":
        print(f"mcusim: {fault_line(m.fault)}", file=sys.stderr)
    elif m.outcome == "limit":
        print(f"mcusim: limit: {m.limit_reason}", file=sys.stderr)
    return outcome_status(m)


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
          + f" | host {m.host_seconds:.2f} s", file=err)
    if profile:
        print(f"{'function':40s} {'cycles':>14s} {'%':>6s} {'instr':>14s} {'CPI':>5s}", file=err)
        total = max(1, rec["cycles"])
        for row in rec["functions"][:30]:
            cpi = row["cycles"] / row["instructions"] if row["instructions"] else 0
            print(f"{row['name'][:40]:40s} {row['cycles']:14,d} {100 * row['cycles'] / total:6.2f} "
                  f"{row['instructions']:14,d} {cpi:5.2f}", file=err)


class _Null:
    def write(self, data):
        return len(data)

    def flush(self):
        pass
