"""The per-layer table of a run with accelerators (mcusim infer --layers): where each
layer ran, its cycles, the accelerator's own cycles and bus stalls, the CPU's bus stalls,
and the energy split CPU / accelerator / memory."""

from __future__ import annotations


def print_accelerated_layers(rec: dict, out) -> None:
    rows = rec["layers"]
    total = max(1, sum(r["cycles"] for r in rows))
    print(f"  {'#':>3s} {'op':18s} {'unit':10s} {'MACs':>10s} {'cycles':>11s} {'%':>6s} "
          f"{'MAC/cyc':>8s} {'acc cyc':>9s} {'acc stall':>9s} {'cpu bus':>7s} "
          f"{'cpu uJ':>8s} {'acc uJ':>7s} {'mem uJ':>7s}", file=out)
    for r in rows:
        mpc = r["macs"] / r["cycles"] if r.get("macs") and r["cycles"] else 0
        acc = r.get("accelerators") or {}
        a_cyc = sum(a.get("active_cycles", 0) for a in acc.values())
        a_stall = sum(a.get("stall_cycles", 0) for a in acc.values())
        bus = (r.get("stalls") or {}).get("bus", 0)
        sp = r.get("energy_split") or {}

        def uj(v):
            return f"{v * 1e6:.3f}" if v is not None else "-"
        print(f"  {r['index']:3d} {str(r['op'])[:18]:18s} {str(r.get('unit', 'cpu'))[:10]:10s} "
              f"{r.get('macs') or 0:10,d} {r['cycles']:11,d} {100 * r['cycles'] / total:6.2f} "
              f"{mpc:8.3f} {a_cyc:9,d} {a_stall:9,d} {bus:7,d} "
              f"{uj(sp.get('cpu_j')):>8s} {uj(sp.get('accelerator_j')):>7s} "
              f"{uj(sp.get('memory_j')):>7s}", file=out)
    split = rec.get("energy_split")
    if split and split.get("cpu_j") is not None:
        print(f"  energy: CPU {split['cpu_j'] * 1e6:.2f} uJ, accelerators "
              f"{split['accelerator_j'] * 1e6:.2f} uJ, memory {split['memory_j'] * 1e6:.2f} uJ "
              "(whole run)", file=out)
