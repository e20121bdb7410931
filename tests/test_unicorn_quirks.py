"""Unicorn 2.1.4 behaviour mcusim depends on or works around, checked on Unicorn alone
(docs/correctness.md). If an upgrade changes one of these, the test says which."""

from unicorn import UC_ARCH_ARM, UC_HOOK_MEM_READ, UC_MODE_THUMB, Uc
from unicorn import arm_const as A

# movs r0,#1; mov.w r2,#0x20000000; movs r4,#0; movs r5,#0; cmp r0,#0; ite hi;
# ldrhi r1,[r2]; movls r1,#0; b 1f; 1: adds r4,#1; adds r5,#1; adds r6,#1; b .
IT_PROGRAM = bytes.fromhex("01204ff000520024002500288cbf11680021ffe7013401350136fee7")


def _run_it_program(hook: bool, clear_itstate: bool) -> list[int]:
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=A.UC_CPU_ARM_CORTEX_M4)
    uc.mem_map(0x08000000, 0x1000)
    uc.mem_map(0x20000000, 0x1000)
    uc.mem_write(0x08000000, IT_PROGRAM)
    uc.mem_write(0x20000000, (7).to_bytes(4, "little"))
    if hook:
        def on_read(uc, *args):
            if clear_itstate:
                uc.reg_write(A.UC_ARM_REG_EPSR, 1 << 24)
        uc.hook_add(UC_HOOK_MEM_READ, on_read, begin=0x20000000, end=0x20000FFF)
    uc.emu_start(0x08000001, 0x0800001A)
    return [uc.reg_read(r) for r in (A.UC_ARM_REG_R1, A.UC_ARM_REG_R4, A.UC_ARM_REG_R5,
                                     A.UC_ARM_REG_R6)]


def test_memory_hook_in_it_block_leaks_itstate():
    """Unicorn issue #2309: a memory hook inside an IT block leaves the instruction's
    ITSTATE in the CPU; the block's IT block ends, the stale state survives the block end
    and the next block's second instruction (adds r5) is skipped."""
    assert _run_it_program(hook=False, clear_itstate=False) == [7, 1, 1, 1]
    assert _run_it_program(hook=True, clear_itstate=False) == [7, 1, 0, 1], \
        "Unicorn no longer leaks ITSTATE from memory hooks: the workaround may go"


def test_clearing_itstate_in_the_hook_restores_the_program():
    assert _run_it_program(hook=True, clear_itstate=True) == [7, 1, 1, 1]


def test_xpsr_write_skips_ge_but_nzcvqg_restores_it():
    """Exception return must restore the GE bits (SIMD SEL): UC_ARM_REG_XPSR writes
    NZCVQ, IPSR and EPSR only."""
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=A.UC_CPU_ARM_CORTEX_M4)
    ge = 0xF << 16
    uc.reg_write(A.UC_ARM_REG_XPSR, ge | (1 << 24))
    assert uc.reg_read(A.UC_ARM_REG_XPSR) & ge == 0
    uc.reg_write(A.UC_ARM_REG_XPSR_NZCVQG, ge | (1 << 24))
    assert uc.reg_read(A.UC_ARM_REG_XPSR) & ge == ge


def test_empty_emu_start_executes_nothing():
    """mcusim.timing.memory.purge_deleted_hooks relies on it: emu_start(pc | 1, pc) runs
    no instruction and changes no register (it only lets Unicorn purge deleted hooks)."""
    from unicorn import UC_HOOK_CODE

    from mcusim.timing.memory import purge_deleted_hooks
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=A.UC_CPU_ARM_CORTEX_M4)
    uc.mem_map(0x08000000, 0x1000)
    uc.mem_map(0x20000000, 0x1000)
    uc.mem_write(0x08000000, IT_PROGRAM)
    ran = []
    uc.hook_add(UC_HOOK_CODE, lambda uc, a, s, u: ran.append(a))
    regs = (A.UC_ARM_REG_R0, A.UC_ARM_REG_R2, A.UC_ARM_REG_R4, A.UC_ARM_REG_XPSR,
            A.UC_ARM_REG_SP)
    uc.emu_start(0x08000001, 0x08000006)           # movs r0,#1; mov.w r2,#0x20000000
    n, before = len(ran), [uc.reg_read(r) for r in regs]
    assert n == 2 and uc.reg_read(A.UC_ARM_REG_PC) == 0x08000006
    h = uc.hook_add(UC_HOOK_MEM_READ, lambda *a: None)
    uc.hook_del(h)
    purge_deleted_hooks(uc)
    assert len(ran) == n, "an empty emu_start executed instructions"
    assert [uc.reg_read(r) for r in regs] == before
    assert uc.reg_read(A.UC_ARM_REG_PC) == 0x08000006
    uc.emu_start(0x08000007, 0x0800001A)           # the rest runs as without the purge
    assert [uc.reg_read(r) for r in (A.UC_ARM_REG_R1, A.UC_ARM_REG_R4, A.UC_ARM_REG_R5,
                                     A.UC_ARM_REG_R6)] == [0, 1, 1, 1]


def test_pc_sync_switch_is_found_and_does_what_pcsync_says():
    """mcusim.timing.pcsync finds uc_struct.skip_sync_pc_on_exit in this Unicorn (probe
    checks that, set, a load's hook sees the block start as the PC) and the #2309 IT-state
    leak above comes from that sync: with it off, the program runs right with no workaround,
    which is why the native memory hook skips its EPSR write then."""
    import ctypes

    from mcusim.timing import pcsync
    off = pcsync.probe()
    assert off > 0, "skip_sync_pc_on_exit not found: detailed mode loses its PC-sync speed-up"
    uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB, cpu=A.UC_CPU_ARM_CORTEX_M4)
    uc.mem_map(0x08000000, 0x1000)
    uc.mem_map(0x20000000, 0x1000)
    uc.mem_write(0x08000000, IT_PROGRAM)
    uc.mem_write(0x20000000, (7).to_bytes(4, "little"))
    flag = ctypes.c_uint8.from_address(ctypes.cast(uc._uch, ctypes.c_void_p).value + off)
    from unicorn import UC_HOOK_BLOCK
    uc.hook_add(UC_HOOK_BLOCK, lambda *a: setattr(flag, "value", 1))
    uc.hook_add(UC_HOOK_MEM_READ, lambda *a: None, begin=0x20000000, end=0x20000FFF)
    uc.emu_start(0x08000001, 0x0800001A)
    assert [uc.reg_read(r) for r in (A.UC_ARM_REG_R1, A.UC_ARM_REG_R4, A.UC_ARM_REG_R5,
                                     A.UC_ARM_REG_R6)] == [7, 1, 1, 1]


def test_pc_sync_can_be_switched_off_by_environment(monkeypatch):
    from mcusim.timing import pcsync
    monkeypatch.setenv("MCUSIM_PCSYNC", "0")
    assert pcsync.flag_offset() == 0
