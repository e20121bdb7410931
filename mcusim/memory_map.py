"""The MCU's address space on the Unicorn CPU: memory regions (with their aliases) backed
by host buffers, and MMIO windows that call device models.

Every write the simulator itself makes to memory goes through `host_write` (exception
stacking, semihosting, bus masters), and every MMIO access through the devices' windows,
so both can be observed in one place (`--verify` replays them).
"""

from __future__ import annotations

import ctypes

from unicorn import UC_PROT_ALL, UC_PROT_EXEC, UC_PROT_READ, UcError

from mcusim.errors import UserError

PAGE = 0x400                 # Unicorn maps Arm memory in 1 KB pages
STACK_PAINT = 0xCD           # the declared stack is painted to find its high-water mark
_STACK_SYMBOLS = (("__stack_limit", "__stack_top"), ("__StackLimit", "__StackTop"))


def round_up(n: int) -> int:
    return (n + PAGE - 1) // PAGE * PAGE


def mcu_regions(mcu) -> list[tuple[int, int, object]]:
    """(lo, hi, MemoryRegion) of every memory of an MCU catalog entry, aliases included."""
    return [(base, base + r.size, r) for r in mcu.memories for base in (r.base, *r.aliases)]


def region_in(regions, addr: int):
    """(region, its base at this address) of ``addr`` among ``regions``, or (None, None)."""
    for lo, hi, r in regions:
        if lo <= addr < hi:
            return r, lo
    return None, None


def covered(regions, addr: int, size: int) -> bool:
    """Is [addr, addr+size) memory, possibly across adjacent regions (the L4R5's SRAM1,
    SRAM2 and SRAM3 are one contiguous range)?"""
    end = addr + max(size, 1)
    while addr < end:
        r, lo = region_in(regions, addr)
        if r is None:
            return False
        addr = lo + r.size
    return True


def declared_stack(fw) -> tuple[int, int] | None:
    """The stack the ELF declares (its limit and top symbols, at most 1 MB), or None."""
    for lo_name, hi_name in _STACK_SYMBOLS:
        lo, hi = fw.symbol(lo_name), fw.symbol(hi_name)
        if lo is not None and hi is not None and 0 < hi - lo <= 1 << 20:
            return lo, hi
    return None


def misplaced(fw, mcu, regions=None) -> str | None:
    """The first part of the image (a segment, its declared stack) outside ``mcu``'s
    memories, as the one-line error loading it gives; None when all of it fits."""
    regions = mcu_regions(mcu) if regions is None else regions
    for seg in fw.segments:
        if seg.data and not covered(regions, seg.paddr, len(seg.data)):
            return (f"{fw.path}: segment at load address 0x{seg.paddr:08x} (+{len(seg.data)} "
                    f"bytes) lies outside the memory map of {mcu.name}")
        if seg.memsz and not covered(regions, seg.vaddr, seg.memsz):
            return (f"{fw.path}: segment at address 0x{seg.vaddr:08x} (+{seg.memsz} bytes) "
                    f"lies outside the memory map of {mcu.name}")
    stack = declared_stack(fw)
    if stack is not None and not covered(regions, stack[0], stack[1] - stack[0]):
        return (f"{fw.path}: its stack (0x{stack[0]:08x}-0x{stack[1]:08x}) lies outside "
                f"the RAM of {mcu.name}")
    return None


class MemoryMap:
    def __init__(self, cpu, mcu):
        self.cpu = cpu
        self.mcu = mcu
        self.regions: list[tuple[int, int, object]] = []   # (lo, hi, MemoryRegion)
        self.buffers: dict[str, ctypes.Array] = {}          # region name -> backing store
        self.mmio_ranges: list[tuple[int, int]] = []        # (base, size) of MMIO windows
        self.mmio_log: list | None = None   # (write, address, size, value) when observed
        self.mmio_addr: int | None = None   # address of the MMIO access now executing
        self.mmio_seq = 0                   # MMIO accesses so far
        self.write_observers: list = []     # f(address, data) after each host write
        self.stack_range: tuple[int, int] | None = None
        for r in mcu.memories:
            if r.base % PAGE or r.size % PAGE:
                raise UserError(f"{mcu.name}: memory {r.name} must be 1 KB aligned")
            buf = ctypes.create_string_buffer(r.size)
            self.buffers[r.name] = buf
            perms = UC_PROT_READ | UC_PROT_EXEC if r.access == "rx" else UC_PROT_ALL
            for base in (r.base, *r.aliases):
                cpu.mem_map_ptr(base, r.size, perms, ctypes.addressof(buf))
                self.regions.append((base, base + r.size, r))

    # ------------------------------------------------------------------ queries
    def region_at(self, addr: int):
        return region_in(self.regions, addr)

    def covers(self, addr: int, size: int) -> bool:
        return covered(self.regions, addr, size)

    def read(self, addr: int, size: int) -> bytes:
        return bytes(self.cpu.mem_read(addr, size))

    def host_write(self, addr: int, data: bytes) -> None:
        """A write by the simulator itself (raises UcError where nothing is mapped)."""
        data = bytes(data)
        self.cpu.mem_write(addr, data)
        for f in self.write_observers:
            f(addr, data)

    # ------------------------------------------------------------------ MMIO
    def map_device(self, base: int, size: int, dev) -> None:
        """An MMIO window at [base, base+size) served by dev.read(off, size) and
        dev.write(off, size, value), offsets from `base`."""
        def rd(uc, off, sz, ud):
            self.mmio_addr = base + off
            self.mmio_seq += 1
            v = dev.read(off, sz)
            if self.mmio_log is not None:
                self.mmio_log.append((False, base + off, sz, v))
            return v

        def wr(uc, off, sz, val, ud):
            self.mmio_addr = base + off
            self.mmio_seq += 1
            if self.mmio_log is not None:
                self.mmio_log.append((True, base + off, sz, val))
            dev.write(off, sz, val)

        self.cpu.mmio_map(base, size, rd, None, wr, None)
        self.mmio_ranges.append((base, size))

    def map_peripherals(self, devices: dict, ranges: list, make_unmodelled) -> None:
        """Map modelled devices (name -> (spec, device)) and the catalog's unmodelled bus
        ranges (each served by make_unmodelled(spec)), minus the modelled blocks inside
        them."""
        taken = []
        for spec, dev in devices.values():
            self.map_device(spec.base, round_up(spec.size), dev)
            taken.append((spec.base, spec.base + round_up(spec.size)))
        taken.sort()
        for p in ranges:
            lo, hi = p.base, p.base + round_up(p.size)
            cur = lo
            for a, b in taken:
                if b <= cur or a >= hi:
                    continue
                if a > cur:
                    self.map_device(cur, a - cur, _Offset(make_unmodelled(p), cur - p.base))
                cur = max(cur, b)
            if cur < hi:
                self.map_device(cur, hi - cur, _Offset(make_unmodelled(p), cur - p.base))

    # ------------------------------------------------------------------ loading
    def load(self, fw) -> None:
        why = misplaced(fw, self.mcu, self.regions)
        if why is not None:
            raise UserError(why)
        for seg in fw.segments:
            if seg.data:
                self.cpu.mem_write(seg.paddr, seg.data)
        # The stack's high-water mark: paint the stack the ELF declares, look after the run.
        self.stack_range = declared_stack(fw)
        if self.stack_range is not None:
            lo, hi = self.stack_range
            self.cpu.mem_write(lo, bytes([STACK_PAINT]) * (hi - lo))

    def stack_peak(self) -> int | None:
        """Bytes of the declared stack the firmware touched (None without a declaration)."""
        if self.stack_range is None:
            return None
        lo, hi = self.stack_range
        try:
            data = self.read(lo, hi - lo)
        except UcError:
            return None
        untouched = len(data) - len(data.lstrip(bytes([STACK_PAINT])))   # leading paint
        return (hi - lo) - untouched


class _Offset:
    """Adapts a device mapped at a sub-range to offsets from its own base."""

    def __init__(self, dev, delta):
        self.dev, self.delta = dev, delta

    def read(self, off, size):
        return self.dev.read(off + self.delta, size)

    def write(self, off, size, value):
        self.dev.write(off + self.delta, size, value)
