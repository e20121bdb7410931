"""Host cost of a trapped custom instruction (docs/accelerators.md).

A loop of 4 x N MCRR p0 (the dot4 DOT4 instruction, trapped and run in Python) and the same
loop with NOP.W in their place, run in a Machine on stm32l4r5 with the dot4 coprocessor
attached; the difference of the host seconds spent in the CPU, over 4 N, is the cost of
one trap (the Python semantics included). Same with --verify (every trap is an event the
reference CPU replays).

    python experiments/accelerators/trap_cost.py [N] [--verify]
"""

from __future__ import annotations

import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 50_000
# arm-none-eabi-as of: CPACR |= 3 (coprocessor 0); r4 = N (patched below); a loop of four
# `mcrr p0, #0, r1, r2, cK`, subs, bne; semihosting SYS_EXIT (bkpt 0xab)
CODE = bytes.fromhex(
    "0c48016841f003010160bff34f8fbff36f8f094c0121022242ec001042ec011042ec021042ec0310013c"
    "f5d118200349abbefee788ed00e0400d030026000200")
MCRR = [bytes.fromhex(f"42ec0{k}10") for k in range(4)]
NOPW = bytes.fromhex("aff30080")


def run(code: bytes, verify: bool) -> tuple:
    from mcusim.catalog import load_mcu
    from mcusim.machine import Machine
    mcu = load_mcu("examples/accelerators/stm32l4r5-cx.toml")
    m = Machine(mcu, stdout=None, stderr=None)
    flash, sram = 0x08000000, 0x20000000
    vt = (sram + 0x1000).to_bytes(4, "little") + (flash + 0x101).to_bytes(4, "little")
    body = bytearray(code)
    body[-8:-4] = N.to_bytes(4, "little")        # the literal pool's loop count
    m.write_memory(flash, vt)
    m.write_memory(flash + 0x100, bytes(body))
    m.reset()
    if verify:
        from mcusim.verify import attach
        attach(m, None)
    t0 = time.perf_counter()
    m.run(max_cycles=10 * N * 40)
    dt = time.perf_counter() - t0
    assert m.outcome == "exit" and m.exit_code == 0, (m.outcome, m.exit_code)
    return dt, m.cpu.host_in_cpu, m.cycles


def main() -> int:
    verify = "--verify" in sys.argv
    nop = CODE
    for x in MCRR:
        nop = nop.replace(x, NOPW)
    tt, tc, ct = run(CODE, verify)
    nt, nc, cn = run(nop, verify)
    traps = 4 * N

    def f(a, b):
        return a
    t0 = time.perf_counter()
    for _ in range(200_000):
        f(1, 2)
    call = (time.perf_counter() - t0) / 200_000
    print(f"{traps:,} trapped instructions{' (--verify)' if verify else ''}: "
          f"{tt:.3f} s ({ct:,} cycles) vs {nt:.3f} s with NOP.W ({cn:,} cycles)")
    print(f"host cost per trapped instruction: {(tt - nt) / traps * 1e6:.2f} us "
          f"(in the CPU slices: {(tc - nc) / traps * 1e6:.2f} us); a Python function call "
          f"takes {call * 1e6:.3f} us on this host now, so a trap costs "
          f"{(tt - nt) / traps / call:.0f} of them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
