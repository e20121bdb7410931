"""Fast vs detailed memory timing: cycles, error and host speed per model.

    python benchmarks/bench_fidelity.py [--mcu stm32l4r5] [--models kws,vww,ic,ad]
        [--kernels ref] [--elf IMAGE] [--m7-caches] [--json FILE]

For every model it runs the same inference three times:
  * detailed  -- every fetch granule and data access through the memory model (reference)
  * fast      -- learned per-block stalls with sampled detailed windows (the default mode)
  * core only -- the block hook alone, no memory model (MCUSIM_MEMORY_MODEL=0)
and prints detailed and fast cycles, the error of fast in %, the host seconds of each and
the speed of fast relative to the block hook alone (core seconds / fast seconds; the goal
is >= 0.33). Outputs of fast and detailed must be identical; a mismatch is reported.

--m7-caches sets SCB CCR.IC/DC before the run (as SCB_EnableICache/SCB_EnableDCache in
the firmware's startup would) on Cortex-M7 parts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcusim.infer import run_inference  # noqa: E402

CCR_DC, CCR_IC = 1 << 16, 1 << 17


def _caches_on(machine):
    """SCB->CCR.IC|DC at reset, as SCB_EnableICache/DCache would set them."""
    machine.scs.write_word(0xED14, machine.scs.ccr | CCR_IC | CCR_DC)


def _run(model, args, mode, core_only=False):
    if core_only:
        os.environ["MCUSIM_MEMORY_MODEL"] = "0"
    try:
        t0 = time.perf_counter()
        r = run_inference(model, args.mcu, kernels=args.kernels, mode=mode, elf=args.elf,
                          machine_setup=_caches_on if args.m7_caches else None)
        dt = time.perf_counter() - t0
    finally:
        os.environ.pop("MCUSIM_MEMORY_MODEL", None)
    mm = r.machine.memory_model
    return dict(cycles=r.record["cycles"], seconds=dt, outcome=r.record["outcome"],
                output=r.output.tobytes() if r.output is not None else None,
                stdout=r.record.get("stdout"),
                windows=mm.stats["windows"] if mm else 0,
                window_cycles=mm.stats["window_cycles"] if mm else 0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mcu", default="stm32l4r5")
    ap.add_argument("--models", default="kws,vww,ic,ad")
    ap.add_argument("--kernels", default="ref")
    ap.add_argument("--elf", default=None, help="inference image (default: the prebuilt one)")
    ap.add_argument("--m7-caches", action="store_true",
                    help="enable the Cortex-M7 L1 I/D caches (CCR.IC/DC) at reset")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    rows = []
    hdr = (f"{'model':6} {'detailed cycles':>16} {'fast cycles':>14} {'error %':>8} "
           f"{'detailed s':>10} {'fast s':>7} {'core s':>7} {'fast/core speed':>15} "
           f"{'sampled %':>9} output")
    print(f"mcu {args.mcu}, kernels {args.kernels}" + (", M7 L1 caches on" if args.m7_caches else ""))
    print(hdr)
    ok = True
    for model in [m for m in args.models.split(",") if m]:
        core = _run(model, args, "fast", core_only=True)
        fast = _run(model, args, "fast")
        det = _run(model, args, "detailed")
        err = 100.0 * (fast["cycles"] - det["cycles"]) / det["cycles"]
        speed = core["seconds"] / fast["seconds"]
        same = fast["output"] == det["output"] and fast["stdout"] == det["stdout"]
        ok &= same and abs(err) <= 2.0
        sampled = 100.0 * fast["window_cycles"] / max(1, fast["cycles"])
        print(f"{model:6} {det['cycles']:>16,} {fast['cycles']:>14,} {err:>+8.3f} "
              f"{det['seconds']:>10.2f} {fast['seconds']:>7.2f} {core['seconds']:>7.2f} "
              f"{speed:>15.2f} {sampled:>9.2f} {'same' if same else 'DIFFERENT'}", flush=True)
        rows.append(dict(model=model, mcu=args.mcu, kernels=args.kernels,
                         m7_caches=args.m7_caches, detailed_cycles=det["cycles"],
                         fast_cycles=fast["cycles"], core_cycles=core["cycles"],
                         error_pct=err, detailed_s=det["seconds"], fast_s=fast["seconds"],
                         core_s=core["seconds"], fast_vs_core_speed=speed,
                         sampled_pct=sampled, windows=fast["windows"], same_output=same))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
