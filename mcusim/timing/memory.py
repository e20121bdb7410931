"""Memory timing: wait states, the flash accelerator (prefetch, ART I/D lines, U5 ICACHE),
Cortex-M7 L1 caches and TCMs, added as stall cycles on top of the zero-wait core timing.

Two fidelity modes with one meaning (docs/timing.md, "Memory timing"):

* ``detailed`` -- every fetch granule of every executed block (a Python block hook) and
  every data access to a region where memory timing can matter (Unicorn memory hooks)
  goes through the model; stalls are charged as they occur. This is the reference.
* ``fast`` (default) -- the coster charges a per-block stall learned by sampling: the
  model switches itself to detailed for short windows (at start, whenever new code
  appears, and periodically with an adaptive period), learns each block's mean stall per
  execution, and between windows the native block hook charges it in bulk. The integer
  part is the block's static cost; the fractional part is added in bulk at the end of
  each fast period from the blocks' execution counts.

Regions whose accesses can never stall and do not touch a cache (zero wait states, no
cache in front of them) are not hooked: their stall is exactly 0 either way.
"""

from __future__ import annotations

import math
import os

from unicorn import UC_HOOK_BLOCK, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MEM_WRITE

from unicorn.arm_const import UC_ARM_REG_EPSR as _EPSR

from mcusim.errors import UserError
from mcusim.schema import AcceleratorSpec, defaults
from mcusim.timing.core import _LOAD_CLASSES, _STORE_CLASSES
from mcusim.timing.flash_watch import FlashLatencyWatch

_EPSR_T = 1 << 24       # EPSR with T set and ITSTATE clear

__all__ = ["memory_model_wanted", "MemoryModel", "Cache", "FetchUnit"]

# FLASH_ACR bit positions and the accelerator's geometry come from the catalog's
# [flash.accelerator] (mcusim/schema.py AcceleratorSpec declares them and their defaults:
# RM0432 FLASH_ACR LATENCY[3:0], PRFTEN 8, ICEN 9, DCEN 10, ICRST 11, DCRST 12).
_CCR_DC, _CCR_IC = 1 << 16, 1 << 17      # Armv7-M SCB CCR (B3.2.8): DC bit 16, IC bit 17

# An MCU without [flash.accelerator]: the schema's defaults (no prefetch, no line caches).
_NO_ACCELERATOR = defaults(AcceleratorSpec, name="none")


# --------------------------------------------------------------------------- caches

class Cache:
    """A set-associative cache of `size_bytes` in lines of `line_bytes`, `ways` ways.

    replacement: "lru" (default) or "random" (a deterministic xorshift, so runs repeat
    bit for bit). Write policy: write_back (dirty lines written on eviction) or
    write-through; write_allocate decides whether a write miss fills the line.
    `access(addr, write)` returns (hit, victim_dirty): victim_dirty is True when the
    fill evicted a dirty line (a write-back the caller may charge)."""

    def __init__(self, size_bytes: int, line_bytes: int, ways: int, *, replacement: str = "lru",
                 write_back: bool = True, write_allocate: bool = True, name: str = "cache"):
        if size_bytes <= 0 or line_bytes <= 0 or ways <= 0 or size_bytes % (line_bytes * ways):
            raise ValueError(f"{name}: size {size_bytes} is not a multiple of "
                             f"line {line_bytes} x ways {ways}")
        self.name = name
        self.size, self.line, self.ways = size_bytes, line_bytes, ways
        self.nsets = size_bytes // (line_bytes * ways)
        self.shift = line_bytes.bit_length() - 1
        if 1 << self.shift != line_bytes:
            raise ValueError(f"{name}: line_bytes {line_bytes} is not a power of two")
        self.random = replacement == "random"
        self.write_back, self.write_allocate = write_back, write_allocate
        self.sets: list[list[int]] = [[] for _ in range(self.nsets)]   # MRU last
        self.dirty: set[int] = set()
        self._rng = 0x2545F491
        self.hits = self.misses = self.writebacks = self.fills = 0

    def invalidate(self) -> None:
        self.sets = [[] for _ in range(self.nsets)]
        self.dirty.clear()

    def contains(self, addr: int) -> bool:
        ln = addr >> self.shift
        return ln in self.sets[ln % self.nsets]

    def access(self, addr: int, write: bool = False) -> tuple[bool, bool]:
        ln = addr >> self.shift
        s = self.sets[ln % self.nsets]
        if ln in s:
            if not self.random and s[-1] != ln:
                s.remove(ln)
                s.append(ln)
            if write and self.write_back:
                self.dirty.add(ln)
            self.hits += 1
            return True, False
        self.misses += 1
        if write and not self.write_allocate:
            return False, False
        victim_dirty = False
        if len(s) >= self.ways:
            if self.random:
                x = self._rng
                x ^= (x << 13) & 0xFFFFFFFF
                x ^= x >> 17
                x ^= (x << 5) & 0xFFFFFFFF
                self._rng = x
                v = s.pop(x % self.ways)
            else:
                v = s.pop(0)
            if v in self.dirty:
                self.dirty.discard(v)
                victim_dirty = True
                self.writebacks += 1
        s.append(ln)
        self.fills += 1
        if write and self.write_back:
            self.dirty.add(ln)
        return False, victim_dirty


# --------------------------------------------------------------------------- sources

class _Source:
    """Timing of one memory region (all its aliases): wait states in CPU cycles and which
    caches/accelerators sit in front of it. Rebuilt when the clock or FLASH_ACR changes."""
    __slots__ = ("name", "kind", "rd_ws", "wr_ws", "granule", "icache", "dcache",
                 "prefetch", "stream", "write_through", "write_allocate", "matters", "dbuf")

    def __init__(self, name, kind):
        self.name, self.kind = name, kind
        self.rd_ws = self.wr_ws = 0
        self.granule = 4
        self.icache = self.dcache = None
        self.prefetch = False
        self.stream = False
        self.write_through = False
        self.write_allocate = True
        self.matters = False
        self.dbuf = False


class FetchUnit:
    """Instruction fetch from one memory: granules of the read width, an optional
    instruction cache, an optional sequential prefetcher, and line streaming.

    Time is the model's own cycle clock `t` (core execution plus stalls). For each granule
    a block touches (in address order, with the cycles the core spends on the
    instructions starting in it):
      * the granule in the fetch buffer (the last delivered one): no access;
      * the granule being prefetched / streamed: stall max(0, ready - t);
      * an instruction-cache hit: 0;
      * otherwise a flash access: stall = ws, plus the rest of an access already in
        flight (the flash is single-ported: a branch away from a running prefetch waits).
    After a delivery at time t, the next granule is requested when prefetch is enabled or
    it lies in the same cache line as a fill (critical-word-first streaming), ready at
    t + ws + 1 (the flash access starts at the delivery and takes ws + 1 cycles). A demand
    miss stalls ws: the zero-wait core timing already counts the fetch's own cycle."""

    def __init__(self):
        self.buf = -1          # granule index in the fetch buffer
        self.pf = -1           # granule being prefetched
        self.pf_ready = 0
        self.pf_fill = False
        self.busy_until = 0

    def reset(self):
        self.buf = self.pf = -1
        self.pf_fill = False
        self.pf_ready = self.busy_until = 0


# --------------------------------------------------------------------------- the model

def purge_deleted_hooks(uc) -> None:
    """Make hook deletions take effect now. Unicorn (2.1, uc.c) deletes hooks lazily, at the
    end of the next emu_start, and its code generator emits the memory-hook slow path for
    every load and store while any memory hook exists (tcg_uc_has_hookmem), deleted or not:
    code translated before then would stay slow. An emu_start whose start is its end
    executes nothing (tests/test_unicorn_quirks.py) and purges them; called between
    slices only (never from inside a hook)."""
    from unicorn.arm_const import UC_ARM_REG_PC
    pc = uc.reg_read(UC_ARM_REG_PC) & ~1
    uc.emu_start(pc | 1, pc)


class MemoryModel:
    """Built before the block coster, from what it models: the MCU's memories,
    accelerator and caches (catalog), the CPU (for its detailed-mode hooks), the memory
    map, the clock and the core timing (per-instruction cycles inside a block). Its two
    ports are connected once the machine has built them (`connect`): the coster, the cycle
    ledger it charges stalls to, and the timebase, for its sampling windows. The FLASH_ACR
    and SCB CCR values it depends on are pushed to it by those devices."""

    def __init__(self, mcu, mode, cpu, memory_map, clock, timing, warn):
        self.mcu = mcu
        self.mode = mode
        self.cpu = cpu
        self.clock = clock
        self.timing = timing
        self.warn = warn                       # warn(key, message), once per key
        self.coster = self.timebase = None     # ports: connect()
        self.flash_acr: int | None = None      # FLASH_ACR as firmware last wrote it
        self.ccr = 0                           # SCB CCR (Cortex-M7 L1 cache enables)
        self.vrange: str | None = None         # voltage range in force (None: the catalog's)
        self.st_icache_on: bool | None = None  # ICACHE_CR.EN (None: run configuration)
        self.latency_watch = FlashLatencyWatch(
            cpu, [(lo, hi) for lo, hi, r in memory_map.regions if r.kind == "flash"], warn)
        self.t = 0
        self.fetch = FetchUnit()
        # stall cycles, windows, and the accesses the detailed model sees by kind (the
        # energy model prices them; docs/timing.md "Statistics")
        self.stats = {"fetch_stall": 0, "data_stall": 0, "windows": 0, "window_cycles": 0,
                      "flash_reads_through": 0, "flash_reads_around": 0, "ram_reads": 0,
                      "ram_writes": 0, "unaligned_accesses": 0}
        self._frac = 0.0                       # fractional stall not yet charged (detailed)
        self._dline = -1                       # flash granule in the D-Code current buffer
        acc = (self.mcu.flash.accelerator if self.mcu.flash else None) or _NO_ACCELERATOR
        self.acc = acc
        self.core_l1 = self.mcu.core.unicorn_cpu == "cortex-m7"
        # [timing.unaligned] of the core: extra cycles of an unaligned LDR/LDRH/STR/STRH,
        # (load halfword odd, load word 2 mod 4, load word odd, the same three for stores)
        self.unaligned = _unaligned_costs(timing, self.mcu)
        self.ua_on = any(self.unaligned)
        # Seeing every unaligned access needs every memory hooked, zero-wait SRAM included:
        # detailed mode does; fast mode hooks (in its windows) only what can stall or
        # cache, and learns unaligned costs there only (flash, M7 SRAM behind the L1
        # D-cache). Measured on kws opt, stm32l4r5: hooking SRAM as well made fast mode
        # 1.26x and generic-m4 1.38x slower for +0.16% cycles (docs/timing.md).
        self.ua_everywhere = self.ua_on and mode == "detailed"
        # The core's write buffer ([timing] write_buffer_entries; M3/M4 TRM §3.5): a store
        # into RAM with write wait states goes to the buffer and the core runs on; the next
        # data access (or DMB/DSB) waits while it drains. Needs each access's cycle within
        # its block: the block's access schedule (_schedule). ACTLR.DISDEFWBUF turns it off.
        self.wb_entries = _write_buffer_entries(timing, self.mcu)
        self.wb_disabled = False
        self.wb_on = False                     # set by _configure
        self._wb: list = []                    # completion times of buffered stores (t)
        self._sched: tuple = ()                # the running block's (cycle, kind) accesses
        self._sched_len = 0                    # its cycles
        self._sched_k = 0                      # next schedule entry
        self._blk_t0 = 0                       # t when the block's first instruction issued
        self._blk_dst = 0                      # data stall charged inside the block so far
        self._sched_cache: dict = {}
        # caches: the ART lines (flash accelerator), core L1 (M7) or ST ICACHE (U5)
        self.art_i = self.art_d = None
        if acc.icache_lines and acc.line_bytes:
            self.art_i = self._make_cache(acc.icache_lines * acc.line_bytes, acc.line_bytes,
                                          acc.icache_ways, name="ART I", write_back=False)
        if acc.dcache_lines and acc.line_bytes:
            self.art_d = self._make_cache(acc.dcache_lines * acc.line_bytes, acc.line_bytes,
                                          acc.dcache_ways, name="ART D", write_back=False)
        self.l1_i = self.l1_d = self.st_icache = None
        for name, c in self.mcu.caches.items():
            cache = self._make_cache(c.size_bytes, c.line_bytes, c.ways,
                                     replacement=c.replacement, name=name,
                                     write_back=c.write_policy == "write-back",
                                     write_allocate=c.write_allocate)
            cache.enabled_at_reset = c.enabled_at_reset
            cache.run_enabled = c.run_enabled
            if c.kind == "st-icache":
                self.st_icache = cache
            elif name == "icache":
                self.l1_i = cache
            elif name == "dcache":
                self.l1_d = cache
        # sources per region
        self.sources: dict[str, _Source] = {}
        self.spans: list[tuple[int, int, _Source]] = []
        for lo, hi, r in memory_map.regions:
            s = self.sources.get(r.name)
            if s is None:
                s = self.sources[r.name] = _Source(r.name, r.kind)
            self.spans.append((lo, hi, s))
        self._regions = {r.name: r for r in self.mcu.memories}
        self._binfo: dict[int, tuple] = {}
        self.warned_latency = False
        self.config = {}
        self._configure()
        self.hooks_on = False
        self._hh: list = []
        # fast-mode learning state
        self.learned: dict[int, float] = {}     # block addr -> mean stall per execution
        self._count_at_end: dict[int, int] = {}   # executions of learned blocks at the last window's end
        self._last_end = 0                         # cycle the last window ended
        self.win_stats: dict[int, list] = {}    # block addr -> [executions, stall]
        self.in_window = False
        self._cur_addr = -1
        self._exec_addr = None
        self._cur_stall = 0.0
        self._period_counts: dict[int, int] = {}
        self._pending = None
        self._next_window = None
        self.period = self.P_MIN
        self.learn_from = 0
        self.window_end = 0

    def _make_cache(self, size_bytes, line_bytes, ways, **kw) -> Cache:
        """A cache of the model (the native model keeps its lines in C)."""
        return Cache(size_bytes, line_bytes, ways, **kw)

    def connect(self, coster, timebase) -> None:
        """Connect the ports: the coster (cycle ledger) and the timebase. Detailed mode
        hooks every access from the start; fast mode opens its first sampling window."""
        self.coster, self.timebase = coster, timebase
        self.latency_watch.connect(timebase)
        if self.mode == "detailed":
            if self.any_stall_possible:
                self._install_hooks()
        elif self.any_stall_possible:
            self._request_window(0)

    def set_flash_acr(self, value: int) -> None:
        """FLASH_ACR written (latency, prefetch, accelerator enables and resets)."""
        self.flash_acr = value

    def set_ccr(self, value: int) -> None:
        """SCB CCR written (IC/DC: the Cortex-M7 L1 caches on or off)."""
        self.ccr = value

    def set_actlr(self, value: int) -> None:
        """ACTLR written: DISDEFWBUF (bit 1) disables the write buffer for default memory
        map accesses (M4-TRM §4.3.1; the MPU is not modelled, so every access is one)."""
        self.wb_disabled = bool(value & 2)

    def set_voltage_range(self, name: str) -> None:
        """The regulator's range in force (PWR): the wait-state table row for the check."""
        self.vrange = name

    def set_st_icache(self, enabled: bool, ways: int, invalidate: bool) -> None:
        """ICACHE_CR written: EN, WAYSEL (associativity), CACHEINV (invalidate)."""
        c = self.st_icache
        if c is None:
            return
        self.st_icache_on = enabled
        if ways != c.ways:
            # one cache per associativity (ICACHE_CR.WAYSEL), made once, cold when chosen
            alt = self.__dict__.setdefault("_st_icache_by_ways", {c.ways: c})
            new = alt.get(ways)
            if new is None:
                make = getattr(self, "_make_cache", None)
                new = make(c.size, c.line, ways, name=c.name) if make is not None else \
                    Cache(c.size, c.line, ways, name=c.name)
                new.enabled_at_reset, new.run_enabled = c.enabled_at_reset, c.run_enabled
                alt[ways] = new
            new.invalidate()
            self.st_icache = new
        elif invalidate:
            c.invalidate()

    # The Unicorn #2309 workaround in _hook_mem (a test turns it off to show --verify
    # catching the bug it fixes).
    clear_itstate = True

    # fast-mode sampling parameters (cycles)
    FIRST_WINDOW = 100_000  # the run starts detailed (start-up code, small programs)
    WINDOW = 10_000         # the learning part of a detailed window
    WARMUP = 2_000          # first part of a window: detailed, but not learned from (at
    WARMUP_MAX = 16_000     # least; more with larger caches, see _configure)
    P_MIN = 200_000         # sampling period after a change
    P_MAX = 3_200_000       # longest period once estimates keep holding
    NEW_DELAY = 20_000      # new code in a fast period: a window this soon (batches new blocks)
    AGREE = 0.01            # a window "agrees" when its stall is within 1% of its cycles

    # ------------------------------------------------------------------ configuration
    def _acr(self):
        return None if self.mcu.flash is None else self.flash_acr

    def _configure(self) -> None:
        """Wait states and enables from the clock, FLASH_ACR and SCB CCR."""
        mcu = self.mcu
        mhz = self.clock.hz / 1e6
        acc = self.acc
        acr = self._acr()
        rng = self.vrange if mcu.flash is not None and self.vrange in mcu.flash.ws_tables \
            else None
        over = None
        try:
            table_ws = mcu.flash_wait_states(mhz, rng) if mcu.flash is not None else None
        except UserError as e:
            if acr is None:
                raise
            table_ws, over = None, str(e)     # above the range's maximum: checked below
        lat_mask = acc.acr_latency_mask
        if mcu.flash is None:
            ws, prefetch, icen, dcen = table_ws, False, False, False
        elif acr is None:
            # "run" configuration: firmware never wrote FLASH_ACR (the simulation starts at
            # the run clock): latency from the clock table, accelerator on.
            ws = table_ws
            prefetch = acc.prefetch
            icen = self.art_i is not None
            dcen = self.art_d is not None
        else:
            ws = acr & lat_mask
            # a warning only when flash is read while the configuration is illegal
            # (timing/flash_watch.py): not for a moment between two legal register writes
            where = f" in voltage range {rng}" if rng else ""
            if over is not None:
                self.latency_watch.set(f"flash read at {mhz:g} MHz{where}: {over}; a real "
                                       "chip would read wrong data; timing uses LATENCY")
            elif ws < table_ws:
                self.latency_watch.set(
                    f"FLASH_ACR.LATENCY = {ws} is below the {table_ws} wait states "
                    f"{mcu.name} needs at {mhz:g} MHz{where} when code runs from flash: a "
                    "real chip would read wrong data; timing uses LATENCY")
            else:
                self.latency_watch.set(None)
            prefetch = acc.prefetch and bool(acr >> acc.acr_prften_bit & 1)
            icen = self.art_i is not None and bool(acr >> acc.acr_icen_bit & 1)
            dcen = self.art_d is not None and bool(acr >> acc.acr_dcen_bit & 1)
        if acr is not None:
            # FLASH_ACR.ICRST / DCRST (bits 11, 12 on L4): reset (invalidate) the ART lines
            if self.art_i is not None and acr >> acc.acr_icrst_bit & 1:
                self.art_i.invalidate()
            if self.art_d is not None and acr >> acc.acr_dcrst_bit & 1:
                self.art_d.invalidate()
        # Cortex-M7 L1: SCB CCR.IC/DC (off at reset; SCB_EnableICache/DCache set them)
        ccr = self.ccr
        l1i_on = self.l1_i is not None and bool(ccr & _CCR_IC)
        l1d_on = self.l1_d is not None and bool(ccr & _CCR_DC)
        # U5 ICACHE: ICACHE_CR.EN once firmware (or the reset state) set it; before that the
        # run configuration: enabled, as HAL_ICACHE_Enable() leaves it.
        st_on = self.st_icache is not None and (
            self.st_icache.run_enabled if self.st_icache_on is None else self.st_icache_on)
        self.config = dict(flash_ws=ws, prefetch=prefetch, art_icache=icen, art_dcache=dcen,
                           l1_icache=l1i_on, l1_dcache=l1d_on, st_icache=st_on, ccr=ccr)
        for name, s in self.sources.items():
            r = self._regions[name]
            s.icache = s.dcache = None
            s.prefetch = s.stream = s.write_through = False
            s.granule = max(4, r.width_bits // 8)
            if r.kind == "flash" and mcu.flash is not None:
                s.rd_ws = s.wr_ws = int(ws)
            else:
                s.rd_ws = r.read_wait_states       # the schema fills RAM's 0 and write = read
                s.wr_ws = r.write_wait_states
            s.dbuf = False
            if r.kind == "flash":
                s.prefetch = prefetch
                s.dbuf = bool(acc.data_buffer)
                if icen:
                    s.icache = self.art_i
                if dcen:
                    s.dcache = self.art_d
            if r.kind != "tcm":
                lo = r.base
                code_region = lo < 0x20000000
                if st_on and code_region:           # ICACHE on C-AHB: code-region I and D
                    s.icache = s.dcache = self.st_icache
                if self.core_l1 and lo < 0x40000000:
                    # Armv7-M default memory map: Code region write-through, SRAM region
                    # write-back write-allocate (B3.1 Table B3-1).
                    if l1i_on:
                        s.icache = self.l1_i
                    if l1d_on:
                        s.dcache = self.l1_d
                        s.write_through = code_region
                        s.write_allocate = not code_region
            s.stream = s.icache is not None
            s.matters = bool(s.rd_ws or s.wr_ws or s.icache is not None or s.dcache is not None)
        # Fast-mode window warm-up: long enough to refill the enabled caches after a fast
        # period left them stale (2 fills of every line), at least WARMUP.
        lines = sum(c.nsets * c.ways for c in {id(c): c for c in (
            s.icache for s in self.sources.values())}.values() if c is not None)
        lines += sum(c.nsets * c.ways for c in {id(c): c for c in (
            s.dcache for s in self.sources.values())}.values() if c is not None)
        self.warmup = int(min(self.WARMUP_MAX, max(self.WARMUP, 2 * lines * ((ws or 0) + 1))))
        self.wb_on = self.wb_entries > 0 and any(
            s.kind not in ("flash", "tcm") and s.wr_ws > 0 and s.dcache is None
            for s in self.sources.values())
        # Can anything ever stall on this MCU (with any clock or ACR value)?
        self.any_stall_possible = (mcu.flash is not None or self.l1_i is not None
                                   or self.l1_d is not None or self.ua_everywhere
                                   or any(s.matters for s in self.sources.values()))
        self._binfo.clear()
        self._sched_cache.clear()

    # ------------------------------------------------------------------ coster interface
    def block_stall(self, addr: int, size: int, insns) -> int:
        """Static stall cycles added to the block's per-execution cost."""
        if self.mode == "detailed" or not self.any_stall_possible:
            return 0
        v = self.learned.get(addr)
        if v is None:
            v = self._estimate(addr, size)
            self.learned[addr] = v
            if not self.in_window:
                self._request_window(self.timebase.cycles + self.NEW_DELAY)
        return int(round(v))

    def reconfigure(self) -> None:
        """The clock, FLASH_ACR or CCR changed: new wait states and enables."""
        old = dict(self.config)
        self._configure()
        if self.config != old and self.mode != "detailed":
            # learned stalls belong to the old configuration
            self._settle_period()
            self.learned.clear()
            self.period = self.P_MIN
            if not self.in_window:
                self._request_window(self.timebase.cycles)
        if self.mode == "detailed" and self.any_stall_possible and not self.hooks_on:
            self._install_hooks()

    # ------------------------------------------------------------------ static estimate
    def _estimate(self, addr: int, size: int) -> float:
        """A first guess before any window has seen the block: its fetch through a cold
        fetch unit (first granule a miss, the rest prefetched/streamed or missed)."""
        info = self._block_info(addr, size)
        if not info:
            return 0.0
        stall, t, buf, pf, ready = 0.0, 0.0, -1, -1, 0.0
        for g, e, src in info:
            if g == buf:
                t += e
                continue
            ws = src.rd_ws
            if g == pf:
                st = max(0.0, ready - t)
            elif src.icache is not None:
                st = 0.0
            else:
                st = ws
            stall += st
            t += st
            buf = g
            if src.prefetch or src.stream:
                pf, ready = g + 1, t + ws + 1
            t += e
        return stall

    # ------------------------------------------------------------------ block info
    def _source(self, addr: int):
        for lo, hi, s in self.spans:
            if lo <= addr < hi:
                return s
        return None

    def _block_info(self, addr: int, size: int):
        """((granule index, cycles executing in it, source), ...) for a block whose fetch
        can stall or touch a cache; () otherwise."""
        info = self._binfo.get(addr)
        if info is not None and info[0] == size:
            return info[1]
        src = self._source(addr)
        out = ()
        if src is not None and (src.rd_ws or src.icache is not None):
            g = src.granule
            timing = self.timing
            per = []
            if timing is not None:
                try:
                    code = bytes(self.cpu.mem_read(addr, size))
                    bc = timing.block_cost(code, addr)
                    per = [(a, c) for a, _sz, _mn, _op, c, _cl in bc.insns]
                except Exception:
                    per = []
            if not per:
                per = [(a, 1) for a in range(addr, addr + size, 2)]
            rows = []
            for a, c in per:
                gi = a // g
                if rows and rows[-1][0] == gi:
                    rows[-1][1] += c
                else:
                    rows.append([gi, c])
            # a 32-bit instruction straddling a granule boundary needs the next one too
            last = (addr + size - 1) // g
            if rows[-1][0] < last:
                rows.append([last, 0])
            out = tuple((gi, c, src) for gi, c in rows)
        self._binfo[addr] = (size, out)
        return out

    # ------------------------------------------------------------------ detailed hooks
    def _install_hooks(self) -> None:
        if self.hooks_on:
            return
        uc = self.cpu
        self._hh.append(uc.hook_add(UC_HOOK_BLOCK, self._hook_block))
        for lo, hi, s in self.spans:
            if self._may_matter(s, lo):
                self._hh.append(uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                                            self._hook_mem, s, lo, hi - 1))
        self.hooks_on = True
        uc.ctl_flush_tb()
        self.fetch.buf = -1        # the fetch buffer's content is unknown after fast code
        self._dline = -1           # so is the D-Code current buffer's

    def _may_matter(self, s, lo: int) -> bool:
        """Can data accesses to this span ever stall or touch a cache (any clock, ACR or
        CCR value)?"""
        if s.matters or (s.kind == "flash" and self.mcu.flash is not None):
            return True
        if self.ua_everywhere:
            return True          # an unaligned access costs extra in any memory
        if self.wb_on and s.kind != "tcm":
            return True          # every data access waits for the write buffer to drain
        if s.kind == "tcm":
            return False
        if self.l1_d is not None and lo < 0x40000000:
            return True
        return self.st_icache is not None and lo < 0x20000000

    def _remove_hooks(self) -> None:
        if not self.hooks_on:
            return
        uc = self.cpu
        for h in self._hh:
            uc.hook_del(h)
        self._hh = []
        self.hooks_on = False
        self._flush_unhooked(uc)

    def _flush_unhooked(self, uc) -> None:
        """Retranslate without the memory-hook slow path once the hooks are deleted (the
        Python and the native model's _remove_hooks)."""
        if self.timebase.in_slice:
            # inside an emulation slice (no purge possible): flush again after one block
            self.timebase.schedule(self.timebase.cycles + 1, self._flush_again, "memory-flush",
                                   wakes=False)
        else:
            purge_deleted_hooks(uc)
        uc.ctl_flush_tb()

    def _flush_again(self, at: int) -> None:
        if not self.hooks_on:
            purge_deleted_hooks(self.cpu)
            self.cpu.ctl_flush_tb()

    def _hook_block(self, uc, addr, size, ud):
        if not self.coster.block_ran(addr):
            return                         # the coster stopped: this block did not run
        if self.wb_on:
            self._wb_block_end()
        t_in = self.t
        self._exec_addr = addr
        static = self.coster.static_stall(addr)
        info = self._binfo.get(addr)
        info = info[1] if info is not None and info[0] == size else self._block_info(addr, size)
        stall = 0
        t = self.t
        if info:
            f = self.fetch
            counts = self.stats
            for g, e, src in info:
                if g == f.buf:
                    t += e
                    continue
                ws = src.rd_ws
                ic = src.icache
                gran = src.granule
                fill = False
                if g == f.pf and f.pf_fill:
                    # the rest of a line being filled (critical word first, streaming)
                    st = f.pf_ready - t
                    if st < 0:
                        st = 0
                    if src.kind == "flash":
                        counts["flash_reads_through"] += 1
                elif ic is not None and ic.access(g * gran)[0]:
                    st = 0
                elif g == f.pf:
                    st = f.pf_ready - t          # prefetched while the previous executed
                    if st < 0:
                        st = 0
                    fill = True
                    if src.kind == "flash":
                        counts["flash_reads_through" if ic is not None
                               else "flash_reads_around"] += 1
                else:
                    st = ws + (f.busy_until - t if f.busy_until > t else 0)
                    fill = True
                    if src.kind == "flash":
                        counts["flash_reads_through" if ic is not None
                               else "flash_reads_around"] += 1
                stall += st
                t += st
                f.buf = g
                nxt = (g + 1) * gran
                # the next flash read starts when this one delivers and takes ws + 1
                # cycles: a sequential stream gets one granule per ws + 1 cycles at best
                if fill and ic is not None and nxt % ic.line:
                    f.pf, f.pf_fill = g + 1, True
                    f.pf_ready = f.busy_until = t + ws + 1
                elif src.prefetch and (ic is None or not ic.contains(nxt)):
                    if f.pf != g + 1:
                        f.pf, f.pf_fill = g + 1, False
                        f.pf_ready = f.busy_until = t + ws + 1
                else:
                    f.pf = -1
                t += e
            self.stats["fetch_stall"] += stall
        self.t = t
        if self.wb_on:
            sch = self._sched_cache.get(addr)
            if sch is None or sch[0] != size:
                sch = self._sched_cache[addr] = (size,) + self._schedule(addr, size)
            self._sched, self._sched_len = sch[1], sch[2]
            self._sched_k = 0
            self._blk_t0 = t_in + stall
            self._blk_dst = 0
            if not info:
                self.t = t + sch[2]      # no fetch rows advanced t: the block's cycles
        if self.in_window:
            prev = self._cur_addr
            if prev >= 0 and self.timebase.cycles >= self.learn_from:
                w = self.win_stats.get(prev)
                if w is None:
                    self.win_stats[prev] = [1, self._cur_stall]
                else:
                    w[0] += 1
                    w[1] += self._cur_stall
            self._cur_addr = addr
            self._cur_stall = stall
        d = stall - static
        if d:
            self.coster.charge_current(addr, d)

    def _charge(self, d: float) -> int:
        """Add `d` stall cycles to the clock, carrying the fraction; returns the whole
        cycles added now."""
        if d == 0:
            return 0
        x = self._frac + d
        n = math.floor(x)
        self._frac = x - n
        if n:
            self.timebase.cycles = max(0, self.timebase.cycles + n)
        return n

    def _hook_mem(self, uc, access, addr, size, value, src):
        # Unicorn 2.1.4 restores the CPU state before calling a memory hook, which leaves
        # the IT state of this instruction in the CPU; the block runs on, and when its IT
        # block ends inside it the stale state survives into the next block (an instruction
        # silently skipped). The translator keeps the IT state itself in the middle of a
        # block, where the CPU's copy is architecturally 0: restore that. docs/correctness.md
        if self.clear_itstate:
            uc.reg_write(_EPSR, _EPSR_T)
        write = access == UC_MEM_WRITE
        if self.wb_on:
            return self._hook_mem_wb(addr, size, write, src)
        st = self._access(addr, write, src)
        if size & 6 and addr & (size - 1) and self.ua_on:
            st += self._unaligned(addr, size, write)
        if st:
            self._data_stall(st)

    def _access(self, addr: int, write: bool, src) -> int:
        """Stall cycles of one data access (caches, wait states) and its statistics."""
        dc = src.dcache
        if dc is not None:
            # RAM behind an L1 D-cache (M7): a miss fills a whole line over the region's
            # bus, line / width beats of (1 + wait states) cycles; the critical word comes
            # first (its 1 cycle is in the core timing) and the fill blocks the next
            # access; a dirty eviction writes the same beats back. Flash behind the ART or
            # the L1: the miss costs the flash access (ws), as modelled since the start.
            if src.kind == "flash":
                fill, evict = src.rd_ws, src.wr_ws
            else:
                beats = max(1, dc.line // src.granule)
                fill = src.rd_ws + (beats - 1) * (1 + src.rd_ws)
                evict = beats * (1 + src.wr_ws)
            flash = src.kind == "flash"
            if write:
                if src.write_through or not dc.write_allocate:
                    dc.access(addr, True) if dc.contains(addr) else None
                    st = src.wr_ws
                    if not flash:
                        self.stats["ram_writes"] += 1
                else:
                    hit, wb = dc.access(addr, True)
                    st = 0 if hit else fill
                    if wb:
                        st += evict
                    if not hit and flash:
                        self.stats["flash_reads_through"] += 1
            else:
                hit, wb = dc.access(addr, False)
                st = 0 if hit else fill
                if wb:
                    st += evict
                if not hit and flash:
                    self.stats["flash_reads_through"] += 1
        else:
            st = src.wr_ws if write else src.rd_ws
            if src.kind == "flash":
                if not write:
                    if src.dbuf:
                        # the D-Code current buffer ([flash.accelerator] data_buffer)
                        g = addr // src.granule
                        if g == self._dline:
                            return 0
                        self._dline = g
                    self.stats["flash_reads_around"] += 1
            else:
                self.stats["ram_writes" if write else "ram_reads"] += 1
        return st

    def _unaligned(self, addr: int, size: int, write: bool) -> int:
        if size & 6 and addr & (size - 1) and self.ua_on:
            # unaligned LDR/LDRH/STR/STRH ([timing.unaligned]; docs/timing.md)
            ua = self.unaligned
            k = 0 if size == 2 else (1 if addr & 3 == 2 else 2)
            self.stats["unaligned_accesses"] += 1
            return ua[k + 3 if write else k]
        return 0

    def _data_stall(self, st) -> None:
        if st:
            self.t += st
            self.stats["data_stall"] += st
            if self.in_window:
                self._cur_stall += st
            self.coster.charge_current(self._exec_addr, st)

    # ------------------------------------------------------------------ write buffer
    def _schedule(self, addr: int, size: int) -> tuple:
        """The block's data accesses in order as (cycle from the block's start, kind),
        kind 0 load, 1 store, 2 DMB/DSB (no access: it drains the write buffer), one entry
        per word (LDM/STM/LDRD/STRD count each), and the block's cycles."""
        timing = self.timing
        if timing is None:
            return (), 0
        try:
            code = bytes(self.cpu.mem_read(addr, size))
            bc = timing.block_cost(code, addr)
            ins = timing.decode(code, addr)
        except Exception:
            return (), 0
        out = []
        start = 0
        for x, row in zip(ins, bc.insns):
            c = x.cls
            if c in _LOAD_CLASSES or c in _STORE_CLASSES:
                kind = 1 if c in _STORE_CLASSES else 0
                out.extend((start + i, kind) for i in range(max(1, x.words)))
            elif c == "barrier" and x.name in ("dmb", "dsb"):
                out.append((start, 2))
            start += row[4]
        return tuple(out), start

    def _wb_next(self, size: int) -> int:
        """The cycle (in t) of the next access of the running block: its schedule entry,
        after the DMB/DSB before it. Past the schedule's end (a conditional access that
        did not run shifts the rest; an access the classifier does not list), the block's
        end."""
        sch, k = self._sched, self._sched_k
        n = len(sch)
        while k < n and sch[k][1] == 2:
            self._wb_barrier(sch[k][0])
            k += 1
        if k < n:
            off = sch[k][0]
            k += 2 if size == 8 else 1       # a 64-bit access (VLDR.64) is two words
        else:
            off = self._sched_len
        self._sched_k = k
        return self._blk_t0 + off + self._blk_dst

    def _wb_barrier(self, off: int) -> None:
        """DMB/DSB at `off` in the running block: it waits for the buffer to drain."""
        wb = self._wb
        if wb:
            st = wb[-1] - (self._blk_t0 + off + self._blk_dst)
            wb.clear()
            if st > 0:
                self._blk_dst += st
                self._data_stall(st)

    def _wb_block_end(self) -> None:
        """The block that ran last is over: its DMB/DSB after its last access."""
        sch, k = self._sched, self._sched_k
        while k < len(sch):
            if sch[k][1] == 2:
                self._wb_barrier(sch[k][0])
            k += 1
        self._sched_k = k

    def _hook_mem_wb(self, addr: int, size: int, write: bool, src) -> None:
        """A data access with the write buffer on (the MCU has RAM with write wait states,
        the core a write buffer, no L1 D-cache). M4-TRM §3.5, §3.3.2: a store into the
        buffer takes its issue cycle and completes 1 + wait states later on the bus; a
        store finding the buffer full, and any load, wait until the buffered stores have
        completed (the bus is in order); with the buffer off (ACTLR.DISDEFWBUF) a store
        waits for its own wait states (the next instruction is delayed). Flash keeps its own store rule (a store to flash is a programming
        operation): its wait states are charged on the store, after the drain."""
        a = self._wb_next(size)
        wb = self._wb
        while wb and wb[0] <= a:
            del wb[0]
        st = 0
        if write and src.kind != "flash" and src.dcache is None:
            self.stats["ram_writes"] += 1
            if self.wb_disabled:
                if wb:
                    st = wb[-1] - a
                    wb.clear()
                st += src.wr_ws
            else:
                if len(wb) >= self.wb_entries:
                    st = wb[0] - a
                    del wb[0]
                done = (wb[-1] if wb else a + st) + 1 + src.wr_ws
                wb.append(max(done, a + st + 1 + src.wr_ws))
        else:
            if wb:
                st = wb[-1] - a
                wb.clear()
            st += self._access(addr, write, src)
        st += self._unaligned(addr, size, write)
        self._blk_dst += st
        self._data_stall(st)

    # ------------------------------------------------------------------ fast: windows
    def _request_window(self, at: int) -> None:
        if self._pending is not None or self.in_window:
            return
        if self._next_window is not None:
            if self._next_window.at <= at:
                return
            self._next_window.cancel()
            self._next_window = None
        self._pending = self.timebase.schedule(max(at, self.timebase.cycles), self._start_window,
                                      "memory-window", wakes=False)

    def _start_window(self, at: int) -> None:
        self._pending = None
        self._next_window = None
        if self.in_window:
            return
        self._settle_period()
        self.in_window = True
        self._wb.clear()                 # the model clock t stood still since the last window
        self._sched = ()
        self.win_stats = {}
        self._cur_addr = -1
        self._cur_stall = 0.0
        self._install_hooks()
        now = self.timebase.cycles
        self.learn_from = now + self.warmup
        self.window_end = now + (self.FIRST_WINDOW if self.stats["windows"] == 0
                                 else self.warmup + self.WINDOW)
        self._win_start = now
        self.stats["windows"] += 1
        self.timebase.schedule(self.window_end, self._end_window, "memory-window-end", wakes=False)

    def _end_window(self, at: int) -> None:
        if not self.in_window:
            return
        self._remove_hooks()
        self.in_window = False
        self.stats["window_cycles"] += self.timebase.cycles - self._win_start
        # learn: mean stall per execution of every block seen after the warm-up
        unchecked = self._unchecked_stall()
        err = 0.0
        total = 0.0
        changed = []
        for addr, (n, s) in self.win_stats.items():
            new = s / n
            old = self.learned.get(addr)
            if old is not None:
                err += abs(new - old) * n
            else:
                err += new * n
            total += s
            if old is None or new != old:
                self.learned[addr] = new
                changed.append(addr)
        for addr in changed:
            self._set_static(addr)
        self._next_period(err, unchecked)
        c = self.coster
        self._count_at_end = {a: c.executions(a) for a in self.learned}
        self._last_end = self.timebase.cycles
        self._snapshot_counts()
        self._next_window = self.timebase.schedule(self.timebase.cycles + self.period, self._start_window,
                                            "memory-window", wakes=False)

    def _unchecked_stall(self) -> float:
        """The stall the fast period before this window charged on learned blocks the
        window did not see: their estimate went unchecked."""
        c, seen, last = self.coster, self.win_stats, self._count_at_end
        u = 0.0
        for a, v in self.learned.items():
            if v > 0 and a not in seen:
                u += (c.executions(a) - last.get(a, 0)) * v
        return u

    def _next_period(self, err: float, unchecked: float) -> None:
        """Adaptive period: double while windows agree with what was learned, reset when
        one does not. A window disagrees when the blocks it saw changed their learned
        stall by more than AGREE of the learned span. When it agrees but the blocks it did
        not see carried more than AGREE of the stall the fast period before it charged
        (a block of an inner loop that runs in bursts between windows, never re-checked
        otherwise), the period holds: nothing contradicted the estimate, but too little of
        it was checked to trust a longer period (docs/timing.md "Fidelity modes"). Holding
        rather than resetting: TFLM kws on the H7A3 ran 223 windows instead of 47, fast
        mode slower than detailed; holding, 111, with the same accuracy."""
        span = max(1, self.timebase.cycles - self.learn_from)
        fast_span = max(1, self._win_start - self._last_end)
        if err > self.AGREE * span:
            self.period = self.P_MIN
        elif unchecked <= self.AGREE * fast_span:
            self.period = min(self.P_MAX, self.period * 2)

    # ------------------------------------------------------------------ fast: static costs
    def _set_static(self, addr: int) -> None:
        """Change a known block's per-execution stall in the coster."""
        # the integer part (floor: the fractional rest, charged in bulk at the end of the
        # period, is then never negative, so simulated time never runs backwards)
        self.coster.set_block_stall(addr, int(math.floor(self.learned[addr])))

    def _snapshot_counts(self) -> None:
        """Execution counts of the blocks whose learned stall has a fractional part."""
        snap = {}
        c = self.coster
        for addr, v in self.learned.items():
            static = c.static_stall(addr, None)
            if static is not None and v != static:
                snap[addr] = c.executions(addr)
        self._period_counts = snap

    def _settle_period(self) -> None:
        """Charge the fractional part of the learned stalls for the fast period that is
        ending (the integer part was charged per execution by the coster)."""
        if not self._period_counts:
            return
        extra = 0.0
        c = self.coster
        shares = []
        for addr, n0 in self._period_counts.items():
            static = c.static_stall(addr, None)
            v = self.learned.get(addr)
            if static is None or v is None:
                continue
            dn = c.executions(addr) - n0
            if dn:
                e = (v - static) * dn
                extra += e
                shares.append((addr, e))
        self._period_counts = {}
        self._attribute(shares, extra, self._charge(extra))

    def _attribute(self, shares: list, total: float, n: int) -> None:
        """The n whole cycles the clock was just charged for `total` (the settled
        fractional stall) go to the blocks that earned them, in proportion (largest
        remainders, ties by address), as charged cycles of those blocks only: the
        function profile then covers them (native: mcusim_mm_attribute, identical)."""
        if n <= 0 or total <= 0.0 or not shares:
            return
        rows = []
        given = 0
        for addr, e in shares:
            x = e * n / total
            w = math.floor(x)
            rows.append([x - w, addr, w])
            given += w
        rows.sort(key=lambda r: (-r[0], r[1]))
        for r in rows:
            if given >= n:
                break
            r[2] += 1
            given += 1
        for _frac, addr, w in rows:
            if w:
                self.coster.attribute(addr, w)

    def finish(self) -> None:
        """End of run: settle the last fast period."""
        if self.mode != "detailed":
            self._settle_period()

    def summary(self) -> dict:
        d = dict(self.stats)
        d.update(self.config)
        for name, c in (("art_i", self.art_i), ("art_d", self.art_d), ("l1_i", self.l1_i),
                        ("l1_d", self.l1_d), ("st_icache", self.st_icache)):
            if c is not None:
                d[f"{name}_hits"], d[f"{name}_misses"] = c.hits, c.misses
                d[f"{name}_fills"], d[f"{name}_writebacks"] = c.fills, c.writebacks
        caches = {id(c): c for c in (self.art_i, self.art_d, self.l1_i, self.l1_d,
                                     self.st_icache) if c is not None}.values()
        d["cache_fills"] = sum(c.fills for c in caches)
        d["cache_writebacks"] = sum(c.writebacks for c in caches)
        return d


def _timing_spec(timing, mcu):
    """The core's TimingSpec: the coster's, else the MCU's core's (None without a table)."""
    spec = getattr(timing, "spec", None)
    if spec is None:
        spec = getattr(getattr(mcu, "core", None), "timing", None)
    return spec


def _unaligned_costs(timing, mcu) -> tuple:
    """The core's [timing.unaligned] as (load halfword odd, load word 2 mod 4, load word
    odd, store halfword odd, store word 2 mod 4, store word odd); zeros without a table."""
    u = getattr(_timing_spec(timing, mcu), "unaligned", None)
    if u is None:
        return (0, 0, 0, 0, 0, 0)
    return (int(u.load_halfword_odd), int(u.load_word_2), int(u.load_word_odd),
            int(u.store_halfword_odd), int(u.store_word_2), int(u.store_word_odd))


def _write_buffer_entries(timing, mcu) -> int:
    """The core's [timing] write_buffer_entries (0 without a table)."""
    return int(getattr(_timing_spec(timing, mcu), "write_buffer_entries", 0) or 0)


def memory_model_wanted() -> bool:
    """The environment variable MCUSIM_MEMORY_MODEL=0 leaves the model out (core timing
    only: the "block hooks alone" reference of benchmarks/bench_fidelity.py)."""
    return os.environ.get("MCUSIM_MEMORY_MODEL", "1") != "0"
