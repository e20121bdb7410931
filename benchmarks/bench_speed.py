"""Simulator speed, measured side by side in one run (machines are noisy: compare ratios).

For a firmware ELF (default: the 49-million-instruction longloop, then one inference of each
built-in MLPerf Tiny model) it prints:
  * Unicorn alone, no hooks (the ceiling): host seconds and MIPS on the same ELF;
  * mcusim fast mode with the native block hook, and with the Python block hook;
  * the share of host time spent in the SimPy system model.

    python benchmarks/bench_speed.py [--elf ELF --mcu NAME] [--models kws,ad] [--python]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from unicorn import UC_ARCH_ARM, UC_HOOK_INTR, UC_MODE_THUMB, UC_PROT_ALL, Uc  # noqa: E402
from unicorn import arm_const as A  # noqa: E402

from mcusim.catalog import load_mcu  # noqa: E402
from mcusim.elf import load_firmware  # noqa: E402
from mcusim.machine import UC_CPUS, Machine  # noqa: E402


def bare_unicorn(elf: str, mcu_name: str) -> float:
    """Host seconds for Unicorn alone, no block hook: memory map, the ELF, an interrupt hook
    for semihosting exit only (interrupt hooks do not slow translated code)."""
    mcu = load_mcu(mcu_name)
    fw = load_firmware(elf)
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=UC_CPUS[mcu.core.unicorn_cpu])
    bufs = []
    for r in mcu.memories:
        b = ctypes.create_string_buffer(r.size)
        bufs.append(b)
        for base in (r.base, *r.aliases):
            uc.mem_map_ptr(base, r.size, UC_PROT_ALL, ctypes.addressof(b))
    uc.mmio_map(0xE0000000, 0x100000, lambda *a: 0, None, lambda *a: None, None)
    for p in mcu.peripherals:
        try:
            uc.mmio_map(p.base, (p.size + 0x3FF) & ~0x3FF, lambda *a: 0xFFFFFFFF, None,
                        lambda *a: None, None)
        except Exception:
            pass
    for s in fw.segments:
        if s.data:
            uc.mem_write(s.paddr, s.data)
    boot = mcu.boot_address or 0
    sp = int.from_bytes(uc.mem_read(boot, 4), "little")
    pc = int.from_bytes(uc.mem_read(boot + 4, 4), "little")
    uc.reg_write(A.UC_ARM_REG_SP, sp)
    done = []

    def intr(uc, intno, ud):
        p = uc.reg_read(A.UC_ARM_REG_PC)
        if intno == 7:
            if uc.reg_read(A.UC_ARM_REG_R0) in (0x18, 0x20):
                done.append(1)
                uc.emu_stop()
                return
            uc.reg_write(A.UC_ARM_REG_PC, (p + 2) | 1)
        else:
            done.append(intno)
            uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, intr)
    t = time.perf_counter()
    uc.emu_start(pc | 1, 0xFFFFFFFE)
    return time.perf_counter() - t


def run_mcusim(elf: str, mcu_name: str, native: bool):
    os.environ["MCUSIM_NATIVE"] = "1" if native else "0"
    import mcusim.timing.blocks as B
    B._NATIVE_TRIED = False
    B._NATIVE_LIB = None
    m = Machine(load_mcu(mcu_name), stdout=_Null(), stderr=_Null())
    m.load(load_firmware(elf))
    m.reset()
    t = time.perf_counter()
    m.run()
    host = time.perf_counter() - t
    return m, host, m.host_outside_cpu


class _Null:
    def write(self, d):
        return len(d)

    def flush(self):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--elf", default=str(ROOT / "firmware_images/prebuilt/cortex-m4f/longloop.elf"))
    ap.add_argument("--mcu", default="stm32l4r5")
    ap.add_argument("--models", default="kws,vww,ic,ad")
    ap.add_argument("--python", action="store_true", help="also time the Python block hook")
    a = ap.parse_args()

    print(f"ELF {Path(a.elf).name} on {a.mcu}")
    bare = bare_unicorn(a.elf, a.mcu)
    m, host, _ = run_mcusim(a.elf, a.mcu, native=True)
    n = m.instructions
    print(f"  instructions            {n:,}  cycles {m.cycles:,}  outcome {m.outcome}")
    print(f"  unicorn, no hooks       {bare:8.3f} s  {n / bare / 1e6:8.1f} MIPS")
    print(f"  mcusim fast (native)    {host:8.3f} s  {n / host / 1e6:8.1f} MIPS  "
          f"({bare / host * 100:.0f}% of no-hook speed; SimPy+devices {_simpy_share(m):.1f}% of host time)")
    if a.python:
        mp, hp, _ = run_mcusim(a.elf, a.mcu, native=False)
        same = (mp.cycles, mp.instructions) == (m.cycles, m.instructions)
        print(f"  mcusim fast (python)    {hp:8.3f} s  {n / hp / 1e6:8.1f} MIPS  identical={same}")
        run_mcusim(a.elf, a.mcu, native=True)        # back to the native hook for the rest

    if a.models:
        from mcusim.infer import run_inference
        print("\nOne inference per model (ref kernels and, where built, opt):")
        print(f"  {'model':6s} {'kernels':7s} {'instructions':>14s} {'host s':>8s} {'MIPS':>7s} {'SimPy+devices %':>16s}")
        for name in a.models.split(","):
            for k in ("ref", "opt"):
                try:
                    t = time.perf_counter()
                    r = run_inference(name, a.mcu, kernels=k, power=False)
                    host = time.perf_counter() - t
                except Exception as e:  # an image not built for this core
                    print(f"  {name:6s} {k:7s} skipped: {e}")
                    continue
                mm = r.machine
                print(f"  {name:6s} {k:7s} {mm.instructions:14,d} {host:8.2f} "
                      f"{mm.instructions / host / 1e6:7.1f} {_simpy_share(mm):15.1f}%")


def _simpy_share(m) -> float:
    # host time outside emu_start (SimPy scheduling, devices, Python glue) / total
    return 100.0 * getattr(m, "host_outside_cpu", 0.0) / max(1e-9, m.host_seconds)


if __name__ == "__main__":
    main()
