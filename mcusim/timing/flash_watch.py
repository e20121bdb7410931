"""The flash latency check: a warning when code actually runs from flash (or reads it) while
FLASH_ACR.LATENCY is below what the clock and voltage range in force need.

On silicon a LATENCY below the table's value is harmless until the flash is read: HAL
raises LATENCY before raising the clock and lowers it after lowering the clock, and code
running from RAM may change both in any order. So the memory model only *arms* this watch
when its configuration becomes illegal (and disarms it when it becomes legal again); while
armed, a block hook and a read hook on the flash's address ranges fire at the first
instruction fetched from flash or the first data read from it, which warns (once a run).
The hooks exist only while the configuration is illegal, so legal runs pay nothing.
"""

from __future__ import annotations

from unicorn import UC_HOOK_BLOCK, UC_HOOK_MEM_READ
from unicorn.arm_const import UC_ARM_REG_EPSR as _EPSR

_EPSR_T = 1 << 24       # EPSR with T set and ITSTATE clear (the Unicorn #2309 workaround)


class FlashLatencyWatch:
    def __init__(self, cpu, spans, warn):
        self.cpu = cpu
        self.spans = list(spans)          # (lo, hi) of the flash and its aliases
        self.warn = warn                  # warn(key, message)
        self.timebase = None
        self.message: str | None = None   # the violation in force (None: legal)
        self.hooks: list = []
        self.pending = None
        self.done = False                 # warned already (once a run)

    def connect(self, timebase) -> None:
        self.timebase = timebase
        if self.message is not None:
            self._arm_soon()

    def set(self, message: str | None) -> None:
        """The configuration became illegal (`message` says why) or legal (None)."""
        if self.done or message == self.message:
            return
        self.message = message
        if message is None:
            if self.pending is not None:
                self.pending.cancel()
                self.pending = None
            self._disarm_soon()
        else:
            self._arm_soon()

    # hooks are added and removed between slices (a scheduled event), never inside one
    def _arm_soon(self) -> None:
        if self.hooks or self.pending is not None or self.timebase is None or not self.spans:
            return
        tb = self.timebase
        self.pending = tb.schedule(tb.cycles, self._arm, "flash-latency-watch", wakes=False)

    def _arm(self, at: int) -> None:
        self.pending = None
        if self.message is None or self.done or self.hooks:
            return
        for lo, hi in self.spans:
            self.hooks.append(self.cpu.hook_add(UC_HOOK_BLOCK, self._on_block, None, lo, hi - 1))
            self.hooks.append(self.cpu.hook_add(UC_HOOK_MEM_READ, self._on_read, None, lo,
                                                hi - 1))
        self.cpu.ctl_flush_tb()

    def _disarm_soon(self) -> None:
        if self.hooks and self.timebase is not None:
            tb = self.timebase
            tb.schedule(tb.cycles, self._disarm, "flash-latency-watch", wakes=False)

    def _disarm(self, at: int = 0) -> None:
        if not self.hooks or (self.message is not None and not self.done):
            return
        for h in self.hooks:
            self.cpu.hook_del(h)
        self.hooks = []
        self.cpu.ctl_flush_tb()

    def _on_block(self, uc, addr, size, ud) -> None:
        self._fire()

    def _on_read(self, uc, access, addr, size, value, ud) -> None:
        uc.reg_write(_EPSR, _EPSR_T)      # docs/correctness.md: stale IT state after a hook
        self._fire()

    def _fire(self) -> None:
        if self.done or self.message is None:
            return
        self.done = True
        self.warn("flash-latency", self.message)
        self._disarm_soon()
