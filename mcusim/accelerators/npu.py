"""An example NPU: an int8 engine for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED,
bit-exact with TensorFlow Lite Micro (mcusim/accelerators/int8.py).

Firmware contract: firmware_images/include/mcusim_npu.h (the inference runtime's offload:
firmware_images/runtime/accel/mcrt_npu.c). In short: the firmware writes a job descriptor
(30 words: the operator, tensor addresses, shapes, strides, padding, dilation, offsets,
requantization, activation clamp) to memory, its address to DESC, and START (| IE) to
CTRL; DONE (or ERR with a code in ERROR) and, with IE, the interrupt follow.

Timing (transaction level, one SimPy process per job):

1. the descriptor is read over the bus (120 bytes); ``setup_cycles`` decode it;
2. the layer is tiled for the local buffer (``local_buffer_bytes``): half holds weights,
   half input. Output channels are split into groups whose weights fit their half (a
   channel's weights must fit, else ERR 2); the input stays resident when it fits its
   half, else it is streamed by output rows (the rows one output row needs must fit, else
   ERR 2) and read again for every channel group;
3. tiles run as a two-stage pipeline: the fetch of tile i+1 (weights, per-channel bias /
   multiplier / shift, new input rows) and the write of tile i-1's outputs share the
   NPU's bus port, while tile i computes; a tile computes in ``chunk_overhead_cycles`` +
   (CONV_2D, FULLY_CONNECTED) outputs x ceil(KH*KW*C / macs_per_cycle), (DEPTHWISE)
   output pixels x KH*KW x ceil(channels / macs_per_cycle) cycles of the NPU clock: a
   dot-product array reduces macs_per_cycle products of one output per cycle (channels in
   parallel for depthwise), so small reductions under-use a wide array;
4. bus transactions are bursts of at most the bus's max_burst_beats at the NPU's port
   width (``bus_width_bytes``); flash (weights, biases) delivers its width per 1 + wait
   states cycles (mcusim.accelerators.base.Accelerator.transaction_cycles).

Results: the output is computed from memory as it is when the descriptor has been read
(firmware must not change inputs, weights or the descriptor while BUSY), and lands in
memory when the tile that completes its rows is written (one host write per row block).

Energy (assumed values; a model of a part that does not exist): energy_per_op_pj per
MAC (default 1.0 pJ: an int8 MAC and accumulate in a ~90 nm low-power process, about 3x
the 0.23 pJ Horowitz gives for 45 nm), energy_per_byte_pj per byte on the bus (default
10 pJ: SRAM/flash array and interconnect), local_energy_per_byte_pj per byte in and out of
the local buffer (1.5 pJ), active_power_mw while a job runs (1 mW: control, clock tree)
and idle_power_mw otherwise (0.02 mW: leakage of the array and buffer).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from mcusim.accelerators.base import FLOAT, INT, Accelerator, AcceleratorParams, Register, param

if TYPE_CHECKING:                 # numpy loads when the NPU computes (start-up time)
    import numpy as np

NPU_ID = 0x4E505530                     # "NPU0"
OP_CONV, OP_DW, OP_FC = 0, 1, 2
OP_NAMES = {OP_CONV: "CONV_2D", OP_DW: "DEPTHWISE_CONV_2D", OP_FC: "FULLY_CONNECTED"}
CTRL_START, CTRL_IE = 1, 2
ST_BUSY, ST_DONE, ST_ERR = 1, 2, 4
ERR_OP, ERR_BUFFER, ERR_ADDRESS, ERR_DESCRIPTOR = 1, 2, 3, 4
DESC_WORDS = 30
DESC_BYTES = 4 * DESC_WORDS
DESC_FIELDS = ("op", "input", "weights", "bias", "output", "mult", "shift", "n", "h", "w",
               "c", "oh", "ow", "oc", "kh", "kw", "stride_h", "stride_w", "dil_h", "dil_w",
               "pad_h", "pad_w", "depth_mult", "in_off", "w_off", "out_off", "mult0",
               "shift0", "act_min", "act_max")
_SIGNED = {"in_off", "w_off", "out_off", "mult0", "shift0", "act_min", "act_max", "pad_h",
           "pad_w"}


class NpuError(Exception):
    def __init__(self, code: int, why: str):
        super().__init__(why)
        self.code = code


@dataclass
class Chunk:
    """One tile: what is fetched before it computes, and what it writes."""
    fetch: list                 # (address, bytes)
    compute_cycles: int         # NPU clock cycles
    macs: int
    out_bytes: int
    out_addr: int
    write: tuple | None = None  # (address, first row, rows) made final by this tile


@dataclass
class Plan:
    op: int
    groups: list                # (first output channel, end)
    row_blocks: list            # (image, first output row, end)
    input_resident: bool
    chunks: list = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.chunks)

    @property
    def traffic(self) -> int:
        return sum(n for c in self.chunks for _a, n in c.fetch) + sum(
            c.out_bytes for c in self.chunks)


def parse_descriptor(raw: bytes) -> dict:
    words = struct.unpack("<30I", raw[:DESC_BYTES])
    d = {}
    for k, v in zip(DESC_FIELDS, words):
        d[k] = v - (1 << 32) if k in _SIGNED and v & 0x80000000 else v
    return d


class Npu(Accelerator):
    """The example int8 NPU: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED jobs from a
    descriptor in memory, a MAC array, a local buffer, a bus master port."""

    kind = "npu"

    @dataclass(frozen=True, kw_only=True)
    class Params(AcceleratorParams):
        """The example NPU's parameters (mcusim/accelerators/npu.py)."""
        macs_per_cycle: int = param(INT, 32, "multiply-accumulates per NPU clock cycle",
                                    min=1, max=65536)
        local_buffer_bytes: int = param(INT, 32768, "local buffer: half weights, half "
                                        "input", min=256, max=1 << 24)
        bus_width_bytes: int = param(INT, 8, "width of its bus port: bytes per bus beat",
                                     choices=(1, 2, 4, 8, 16, 32, 64))
        setup_cycles: int = param(INT, 32, "descriptor decode and set-up per job", min=0,
                                  max=1 << 20)
        chunk_overhead_cycles: int = param(INT, 8, "pipeline fill and drain per tile", min=0,
                                           max=1 << 20)
        idle_power_mw: float = param(FLOAT, 0.02, "power while idle (leakage)", min=0,
                                     max=1e5)
        active_power_mw: float = param(FLOAT, 1.0, "power while a job runs (control, clock "
                                       "tree; MACs and bytes are counted apart)", min=0,
                                       max=1e5)
        energy_per_op_pj: float = param(FLOAT, 1.0, "energy per MAC", min=0, max=1e9)
        energy_per_byte_pj: float = param(FLOAT, 10.0, "energy per byte it moves over the "
                                          "bus (memory and interconnect)", min=0, max=1e9)
        local_energy_per_byte_pj: float = param(FLOAT, 1.5, "energy per byte written to or "
                                                "read from its local buffer", min=0,
                                                max=1e9)

    registers = (
        Register("ID", 0x00, "r", NPU_ID, "0x4E505530 (\"NPU0\")"),
        Register("VERSION", 0x04, "r", 1, "descriptor format version"),
        Register("CAPS", 0x08, "r", 0x7, "bit0 CONV_2D, bit1 DEPTHWISE_CONV_2D, "
                 "bit2 FULLY_CONNECTED"),
        Register("MACS", 0x0C, "r", 0, "MACs per cycle"),
        Register("LOCAL_BYTES", 0x10, "r", 0, "local buffer bytes"),
        Register("BUS_BYTES", 0x14, "r", 0, "bus port width in bytes"),
        Register("IRQ", 0x18, "r", 0xFFFFFFFF, "its interrupt line (0xFFFFFFFF: none)"),
        Register("DESC", 0x1C, "rw", 0, "address of the job descriptor (word aligned)"),
        Register("CTRL", 0x20, "w", 0, "bit0 START, bit1 IE (interrupt when done)"),
        Register("STATUS", 0x24, "w1c", 0, "bit0 BUSY (read-only), bit1 DONE, bit2 ERR "
                 "(write 1 to clear)"),
        Register("ERROR", 0x28, "r", 0, "why the last job failed: 1 operator, 2 shape "
                 "exceeds the local buffer, 3 address, 4 descriptor"),
        Register("CYCLES", 0x2C, "r", 0, "core cycles of the last job (START to DONE)"),
        Register("JOBS", 0x30, "r", 0, "jobs finished"),
    )

    def setup(self) -> None:
        p = self.params
        self.regs.MACS = p.macs_per_cycle
        self.regs.LOCAL_BYTES = p.local_buffer_bytes
        self.regs.BUS_BYTES = p.bus_width_bytes
        self.regs.IRQ = self.irq if self.irq is not None else 0xFFFFFFFF
        self.local_size = p.local_buffer_bytes

    # ------------------------------------------------------------------ registers
    def write_CTRL(self, value: int) -> None:
        if value & CTRL_START and not self.regs.STATUS & ST_BUSY:
            self.regs.STATUS = (self.regs.STATUS & ~(ST_DONE | ST_ERR)) | ST_BUSY
            self.regs.ERROR = 0
            self.start(self.job(self.regs.DESC, bool(value & CTRL_IE)))

    def write_STATUS(self, value: int) -> None:
        if self.busy or self.regs.STATUS & ST_BUSY:
            self.regs.STATUS |= ST_BUSY             # BUSY is read-only

    def read_STATUS(self) -> int:
        st = self.regs.STATUS
        self.m.poll(f"{self.name}.status", st, None if not st & ST_BUSY else 1 << 62)
        return st

    # ------------------------------------------------------------------ the job
    def job(self, desc_addr: int, irq_enable: bool):
        t0 = self.now()
        row = {"start": t0, "end": None, "op": None, "macs": 0, "error": 0}
        try:
            if desc_addr % 4 or not self._readable(desc_addr, DESC_BYTES):
                raise NpuError(ERR_ADDRESS, f"descriptor at {desc_addr:#x}")
            raw = yield from self.bus_read(desc_addr, DESC_BYTES)
            d = parse_descriptor(raw)
            row["op"] = OP_NAMES.get(d["op"])
            plan = self.plan(d)
            result = self.compute_output(d)
            yield from self.compute(self.params.setup_cycles)
            yield from self.run_plan(plan, result)
            row["macs"] = plan.macs
            self.regs.STATUS = (self.regs.STATUS & ~ST_BUSY) | ST_DONE
        except NpuError as e:
            row["error"] = e.code
            row["why"] = str(e)
            self.regs.ERROR = e.code
            self.regs.STATUS = (self.regs.STATUS & ~ST_BUSY) | ST_ERR
        row["end"] = self.now()
        self.regs.CYCLES = row["end"] - t0
        self.regs.JOBS = self.regs.JOBS + 1
        self.log.append(row)
        if irq_enable:
            self.raise_irq()

    def run_plan(self, plan: Plan, result: np.ndarray):
        """The tiles as a two-stage pipeline (see the module docstring)."""
        chunks = plan.chunks
        env = self.env
        yield from self._fetch(chunks[0])
        for i, ch in enumerate(chunks):
            comp = env.process(self._compute(ch))
            if i > 0:
                yield from self._write(chunks[i - 1], result)
            if i + 1 < len(chunks):
                yield from self._fetch(chunks[i + 1])
            yield comp
        yield from self._write(chunks[-1], result)

    def _fetch(self, ch: Chunk):
        for addr, n in ch.fetch:
            if n:
                yield from self.bus_traffic(addr, n)
                self.count_local(n)

    def _compute(self, ch: Chunk):
        yield from self.compute(ch.compute_cycles + self.params.chunk_overhead_cycles,
                                ops=ch.macs)

    def _write(self, ch: Chunk, result: np.ndarray):
        if ch.out_bytes:
            self.count_local(ch.out_bytes)
            yield from self.bus_traffic(ch.out_addr, ch.out_bytes)
        if ch.write is not None:
            addr, q0, q1 = ch.write
            self.m.host_write(addr, result[q0:q1].tobytes())

    # ------------------------------------------------------------------ checks
    def _readable(self, addr: int, n: int) -> bool:
        if n <= 0:
            return True
        r, lo = self.m.region_at(addr)
        return r is not None and addr + n <= lo + r.size

    def _writable(self, addr: int, n: int) -> bool:
        r, _lo = self.m.region_at(addr)
        return self._readable(addr, n) and r.access != "rx"

    # ------------------------------------------------------------------ tiling
    def plan(self, d: dict) -> Plan:
        """The job's tiles (raises NpuError for what it cannot take)."""
        op = d["op"]
        if op not in OP_NAMES:
            raise NpuError(ERR_OP, f"operator code {op}")
        if op == OP_FC:
            d.update(h=1, w=1, oh=1, ow=1, kh=1, kw=1, stride_h=1, stride_w=1, dil_h=1,
                     dil_w=1, pad_h=0, pad_w=0, depth_mult=1)
        n, h, w, c, oh, ow, oc, kh, kw = (d[k] for k in ("n", "h", "w", "c", "oh", "ow", "oc",
                                                         "kh", "kw"))
        dims = (n, h, w, c, oh, ow, oc, kh, kw, d["stride_h"], d["stride_w"], d["dil_h"],
                d["dil_w"])
        if min(dims) < 1 or max(dims) > 65535 or n * h * w * c > 1 << 26 \
                or n * oh * ow * oc > 1 << 26 or kh * kw * c * oc > 1 << 26:
            raise NpuError(ERR_DESCRIPTOR, "dimensions")
        dm = d["depth_mult"] if op == OP_DW else 1
        if op == OP_DW and (dm < 1 or c * dm != oc):
            raise NpuError(ERR_DESCRIPTOR, "depth multiplier")
        if not (-128 <= d["act_min"] <= d["act_max"] <= 127):
            raise NpuError(ERR_DESCRIPTOR, "activation range")
        sh, sw, dh = d["stride_h"], d["stride_w"], d["dil_h"]
        if (oh - 1) * sh - d["pad_h"] >= h or (ow - 1) * sw - d["pad_w"] >= w \
                or d["pad_h"] < 0 or d["pad_w"] < 0:
            raise NpuError(ERR_DESCRIPTOR, "padding")
        in_bytes = n * h * w * c
        wbytes = oc * kh * kw * c if op != OP_DW else kh * kw * oc
        for a, size, wr in ((d["input"], in_bytes, False), (d["weights"], wbytes, False),
                            (d["output"], n * oh * ow * oc, True),
                            (d["bias"], 4 * oc if d["bias"] else 0, False),
                            (d["mult"], 4 * oc if d["mult"] else 0, False),
                            (d["shift"], oc if d["mult"] else 0, False)):
            if not (self._writable(a, size) if wr else self._readable(a, size)):
                raise NpuError(ERR_ADDRESS, f"{a:#x} (+{size})")
        half = self.params.local_buffer_bytes // 2
        eff_kh = (kh - 1) * dh + 1
        row_bytes = w * c                        # one input row of one image
        # output channel groups
        if op == OP_DW:
            per_in = kh * kw * dm                # weight bytes per input channel
            cg = min(c, half // per_in)
            if in_bytes > half:                  # streamed: rows of one output row must fit
                cg = min(cg, half // max(1, eff_kh * w))
            if cg < 1:
                raise NpuError(ERR_BUFFER, "depthwise channel group")
            groups = [(c0 * dm, min(c, c0 + cg) * dm) for c0 in range(0, c, cg)]
        else:
            k = kh * kw * c
            ocg = min(oc, half // k)
            if ocg < 1:
                raise NpuError(ERR_BUFFER, f"{k} weight bytes per output channel")
            groups = [(o0, min(oc, o0 + ocg)) for o0 in range(0, oc, ocg)]
        # input residency and output row blocks (per image)
        if op == OP_DW:
            in_group = lambda g0, g1: n * h * w * ((g1 - g0) // dm)   # noqa: E731
            resident = all(in_group(g0, g1) <= half for g0, g1 in groups)
            g_row = lambda g0, g1: w * ((g1 - g0) // dm)              # noqa: E731
        else:
            resident = in_bytes <= half
            g_row = lambda g0, g1: row_bytes                          # noqa: E731
        blocks_of = self._row_blocks(oh, sh, eff_kh, h, d["pad_h"], resident,
                                     max(g_row(g0, g1) for g0, g1 in groups), half)
        if blocks_of is None:
            raise NpuError(ERR_BUFFER, "input rows of one output row")
        plan = Plan(op, groups, [(b, r0, r1) for b in range(n) for r0, r1 in blocks_of],
                    resident)
        m = self.params.macs_per_cycle
        mult_per_ch = bool(d["mult"])
        last_g = len(groups) - 1
        for gi, (g0, g1) in enumerate(groups):
            ng = g1 - g0
            prev_rows: dict = {}
            for bi, (img, r0, r1) in enumerate(plan.row_blocks):
                fetch = []
                if bi == 0:                     # the group's weights and channel params
                    if op == OP_DW:
                        fetch.append((d["weights"] + g0, kh * kw * ng))
                    else:
                        fetch.append((d["weights"] + g0 * kh * kw * c, ng * kh * kw * c))
                    if d["bias"]:
                        fetch.append((d["bias"] + 4 * g0, 4 * ng))
                    if mult_per_ch:
                        fetch.append((d["mult"] + 4 * g0, 4 * ng))
                        fetch.append((d["shift"] + g0, ng))
                if gi == 0 or not resident or op == OP_DW:
                    i0 = max(0, r0 * sh - d["pad_h"])
                    i1 = min(h, (r1 - 1) * sh - d["pad_h"] + eff_kh)
                    have = prev_rows.get(img, 0)
                    i0 = max(i0, have)
                    if i1 > i0:
                        rb = g_row(g0, g1)
                        addr = d["input"] + (img * h + i0) * row_bytes + (
                            g0 // dm if op == OP_DW else 0)
                        fetch.append((addr, (i1 - i0) * rb))
                        prev_rows[img] = i1
                rows = r1 - r0
                if op == OP_CONV or op == OP_FC:
                    cyc = rows * ow * ng * math.ceil(kh * kw * c / m)
                    macs = rows * ow * ng * kh * kw * c
                else:
                    cyc = rows * ow * kh * kw * math.ceil(ng / m)
                    macs = rows * ow * ng * kh * kw
                q0 = img * oh + r0
                out_addr = d["output"] + q0 * ow * oc + g0
                ch = Chunk(fetch, cyc, macs, rows * ow * ng, out_addr)
                if gi == last_g:
                    ch.write = (d["output"] + q0 * ow * oc, q0, q0 + rows)
                plan.chunks.append(ch)
        return plan

    @staticmethod
    def _row_blocks(oh: int, sh: int, eff_kh: int, h: int, ph: int, resident: bool,
                    row_bytes: int, half: int):
        """Output row blocks [r0, r1) of one image: a quarter of the rows each when the
        input is resident (pipelining), else as many as the input half-buffer holds."""
        if resident:
            step = max(1, -(-oh // 4))
        else:
            rows_fit = half // max(1, row_bytes)
            if rows_fit < min(eff_kh, h):
                return None
            step = max(1, (rows_fit - eff_kh) // sh + 1)
        return [(r, min(oh, r + step)) for r in range(0, oh, step)]

    # ------------------------------------------------------------------ the result
    def compute_output(self, d: dict) -> np.ndarray:
        """The layer's int8 output (rows of ow * oc bytes, one per (image, output row))."""
        import numpy as np

        from mcusim.accelerators import int8
        rd = self.m.read_memory
        op, n, h, w, c = d["op"], d["n"], d["h"], d["w"], d["c"]
        oh, ow, oc, kh, kw = d["oh"], d["ow"], d["oc"], d["kh"], d["kw"]
        x = np.frombuffer(rd(d["input"], n * h * w * c), np.int8).reshape(n, h, w, c)
        if d["bias"]:
            bias = np.frombuffer(rd(d["bias"], 4 * oc), "<i4").astype(np.int64)
        else:
            bias = None
        if d["mult"]:
            mult = np.frombuffer(rd(d["mult"], 4 * oc), "<i4").astype(np.int64)
            shift = np.frombuffer(rd(d["shift"], oc), np.int8).astype(np.int64)
        else:
            mult = np.full(oc, d["mult0"], np.int64)
            shift = np.full(oc, d["shift0"], np.int64)
        if op == OP_FC:
            wt = np.frombuffer(rd(d["weights"], oc * c), np.int8).reshape(oc, c)
            acc = int8.fully_connected_acc(x.reshape(n, c), wt, d["in_off"], d["w_off"])
        elif op == OP_CONV:
            wt = np.frombuffer(rd(d["weights"], oc * kh * kw * c), np.int8).reshape(
                oc, kh, kw, c)
            acc = int8.conv2d_acc(x, wt, d["in_off"], (d["stride_h"], d["stride_w"]),
                                  (d["dil_h"], d["dil_w"]), (d["pad_h"], d["pad_w"]), (oh, ow))
        else:
            wt = np.frombuffer(rd(d["weights"], kh * kw * oc), np.int8).reshape(1, kh, kw, oc)
            acc = int8.depthwise_acc(x, wt, d["in_off"], d["depth_mult"],
                                     (d["stride_h"], d["stride_w"]), (d["dil_h"], d["dil_w"]),
                                     (d["pad_h"], d["pad_w"]), (oh, ow))
        out = int8.requantize(acc, bias, mult, shift, d["out_off"], d["act_min"], d["act_max"])
        return out.reshape(n * oh, ow * oc)
