"""The simulator's control block (firmware_images/include/mcusim_dev.h is the contract)."""

from __future__ import annotations

from mcusim.trace import Interval

SIMDEV_BASE = 0xE0100000
SIMDEV_SIZE = 0x1000
ID_VALUE = 0x4D435553


class SimDevice:
    def __init__(self, machine):
        self.m = machine
        self.layers: list[Interval] = []
        self.windows: list[Interval] = []
        self._open_layers: dict[int, Interval] = {}
        self._open_windows: dict[int, Interval] = {}
        self.next_op = 0
        self.next_macs = 0
        self.arena_bytes: int | None = None
        self.error: int | None = None
        self.error_arg = 0
        self._cyc_hi = 0
        self.find_id = 0              # DEV_FIND: an accelerator's ID value to look for
        self._meter = None            # activity counts per layer/window (power/activity.py)

    def meter(self):
        if self._meter is None:
            from mcusim.power.activity import Meter
            self._meter = Meter(self.m)
        return self._meter

    def activity_total(self) -> dict | None:
        """The run's activity event counts (None when the core has no timing model)."""
        mt = self.meter()
        return mt.total() if mt.counts_blocks else None

    def read(self, off: int, size: int) -> int:
        if off == 0x000:
            return ID_VALUE
        if off == 0x020:
            c = self.m.now_precise()
            self._cyc_hi = c >> 32
            return c & 0xFFFFFFFF
        if off == 0x024:
            return self._cyc_hi & 0xFFFFFFFF
        if off == 0x034:              # DEV_BASE (include/mcusim_accel.h)
            acc = self.m.accelerators
            return acc.find(self.find_id) if acc is not None else 0
        return 0

    def write(self, off: int, size: int, value: int) -> None:
        m = self.m
        if off == 0x00C:
            self.next_op = value
        elif off == 0x010:
            self.next_macs = value
        elif off == 0x004:
            iv = Interval(value, self.next_op, self.next_macs, m.now_precise())
            iv.causes_begin = m.cause_snapshot()
            iv.activity_begin = self.meter().snapshot()
            if m.accelerators is not None:
                iv.accel_begin = m.accelerators.snapshot(iv.begin)
            self._open_layers[value] = iv
        elif off == 0x008:
            iv = self._open_layers.pop(value, None)
            if iv is not None:
                iv.end = m.now_precise()
                iv.causes_end = m.cause_snapshot()
                iv.activity, iv.activity_begin = self.meter().since(iv.activity_begin), None
                if m.accelerators is not None:
                    iv.accel_end = m.accelerators.snapshot(iv.end)
                self.layers.append(iv)
        elif off == 0x014:
            iv = Interval(value, 0, 0, m.now_precise())
            iv.activity_begin = self.meter().snapshot()
            if m.accelerators is not None:
                iv.accel_begin = m.accelerators.snapshot(iv.begin)
            self._open_windows[value] = iv
        elif off == 0x018:
            iv = self._open_windows.pop(value, None)
            if iv is not None:
                iv.end = m.now_precise()
                iv.activity, iv.activity_begin = self.meter().since(iv.activity_begin), None
                if m.accelerators is not None:
                    iv.accel_end = m.accelerators.snapshot(iv.end)
                self.windows.append(iv)
        elif off == 0x01C:
            self.arena_bytes = value
        elif off == 0x030:
            self.find_id = value
        elif off == 0x02C:
            self.error_arg = value
        elif off == 0x028:
            self.error = value
