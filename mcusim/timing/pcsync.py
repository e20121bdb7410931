"""Where Unicorn keeps the switch of its per-access PC sync.

Before calling a memory hook from inside a translated block, Unicorn 2.1
(qemu/accel/tcg/cputlb.c) re-derives the guest PC of the accessing instruction by
searching the block's code (`cpu_restore_state`) unless `uc_struct.skip_sync_pc_on_exit`
is set. That search was 31.6% of a detailed-mode run (perf, docs/speed.md). mcusim's
memory hooks never read the PC: the native block hook knows the executing block, and MMIO
timing resolves the instruction from it (BlockCoster.precise_now). So the native hook sets
the flag at every block start (pcsync_off in mcusim/_native/native.h), and clears it
before every stop it requests: a stop requested inside a block still restores the exact PC
(qemu/accel/tcg/tcg-runtime.c, helper_check_exit_request). At a block start Unicorn has
written the PC itself (the block hook's pc_sync), so a stop there is exact either way.
What executes is unchanged; only what a hook could read as the PC mid-block is.

The flag is a private field; its offset is found, not assumed: it is the last byte of
the engine's state that a PC write sets and `emu_start` clears (uc.c), and it must then
do what it does: with it set, a load's hook sees the block's start as the PC. Anything
else (another Unicorn build, another layout, no malloc_usable_size) gives 0: the sync
stays on, slower, with identical results. tests/test_unicorn_quirks.py pins all of it.
"""

from __future__ import annotations

import ctypes
import os
import re

_OFFSET: int | None = None


def _usable_size():
    try:
        libc = ctypes.CDLL(None)
        f = libc.malloc_usable_size
    except (OSError, AttributeError):
        return None
    f.restype, f.argtypes = ctypes.c_size_t, [ctypes.c_void_p]
    return f


def probe() -> int:
    """Find the flag's offset in a scratch engine, and check its effect (0: not found)."""
    import unicorn
    from unicorn import arm_const as A
    size_of = _usable_size()
    if size_of is None:
        return 0
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
    h = ctypes.cast(uc._uch, ctypes.c_void_p).value
    n = size_of(h)
    if not h or n < 64:
        return 0
    uc.mem_map(0, 0x1000)
    code = bytes.fromhex("00bf086800bf086800bf")       # nop; ldr r0,[r1]; twice; nop
    uc.mem_write(0x100, code)
    uc.mem_write(0x200, code)
    uc.reg_write(A.UC_ARM_REG_R1, 0x800)
    before = ctypes.string_at(h, n)
    uc.reg_write(A.UC_ARM_REG_PC, 0x101)
    after = ctypes.string_at(h, n)
    set_by_pc = [m.start() for m in re.finditer(b"\x01", after) if before[m.start()] == 0]
    if not set_by_pc:
        return 0
    off = set_by_pc[-1]
    flag = ctypes.c_uint8.from_address(h + off)
    seen: list[int] = []
    uc.hook_add(unicorn.UC_HOOK_MEM_READ,
                lambda u, access, addr, size, value, ud: seen.append(u.reg_read(A.UC_ARM_REG_PC)))
    uc.emu_start(0x101, 0x10A)               # emu_start clears the flag: exact PCs
    if seen != [0x102, 0x106] or flag.value != 0:
        return 0
    seen.clear()

    def block(u, addr, size, ud):
        flag.value = 1

    uc.hook_add(unicorn.UC_HOOK_BLOCK, block)
    uc.emu_start(0x201, 0x20A)               # set at the block start: no re-derivation
    return off if seen == [0x200, 0x200] else 0


def flag_offset() -> int:
    """The offset of skip_sync_pc_on_exit in this process's Unicorn, 0 when unknown or
    switched off (MCUSIM_PCSYNC=0; tests compare both)."""
    global _OFFSET
    if os.environ.get("MCUSIM_PCSYNC", "1") == "0":
        return 0
    if _OFFSET is None:
        try:
            _OFFSET = probe()
        except Exception:       # a Unicorn this probe does not understand: keep the sync
            _OFFSET = 0
    return _OFFSET
