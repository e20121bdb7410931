"""Accelerator plugins on a machine: built from the MCU's [[accelerators]] entries, mapped
at their base address, their custom instructions wired into the CPU's traps and the timing
model, found by firmware through the simulator control block, and summed up for the run's
trace.

Firmware finds a memory-mapped accelerator by the value of its ID register: it writes the
value to the control block's DEV_FIND (0xE0100030) and reads the base address of the first
attached accelerator whose ID register holds it from DEV_BASE (0xE0100034); 0 when none is
attached (include/mcusim_accel.h). On a board the address is known at build time; in the
simulator the same image runs with or without the accelerator.
"""

from __future__ import annotations

from mcusim.accelerators.base import Accelerator


class Accelerators:
    """The accelerators of one machine (``machine.accelerators``)."""

    def __init__(self, machine, accels: list[Accelerator]):
        self.m = machine
        self.all = accels
        self.by_name = {a.name: a for a in accels}
        self.instructions = None

    def __iter__(self):
        return iter(self.all)

    def __len__(self):
        return len(self.all)

    def find(self, id_value: int) -> int:
        """Base address of the first memory-mapped accelerator whose ID register reads
        `id_value` (0: none)."""
        for a in self.all:
            off = a.offset_of("ID")
            if a.base is not None and off is not None and a._read_word(off) == id_value:
                return a.base
        return 0

    def snapshot(self, at: int | None = None) -> dict:
        """Counters of every accelerator as of cycle `at` (layer and window markers)."""
        return {a.name: a.snapshot(at).astuple() for a in self.all}

    def summary(self) -> list[dict]:
        """Per accelerator: its description, its counters at the end, the log of its
        processes and the executions of its custom instructions."""
        out = []
        for a in self.all:
            d = a.describe()
            d["counters"] = a.snapshot().astuple()
            d["log"] = list(a.log)
            if self.instructions is not None and a.instructions():
                d["executions"] = self.instructions.executions(a)
            out.append(d)
        return out


def attach_accelerators(machine) -> Accelerators | None:
    """Build the MCU's accelerator plugins on `machine` (after its system model exists);
    None when the MCU has none."""
    specs = getattr(machine.mcu, "accelerators", ())
    if not specs:
        return None
    accels = []
    for spec in specs:
        cls = spec.cls
        acc = cls(machine.system, spec)
        machine.system.devices[spec.name] = acc
        if spec.base is not None:
            machine.map_device(spec.base, cls.window_size(), acc)
        accels.append(acc)
    hub = Accelerators(machine, accels)
    if any(a.instructions() for a in accels):
        from mcusim.accelerators.coprocessor import CustomInstructions
        hub.instructions = ci = CustomInstructions(machine, accels)
        machine.custom_instructions = ci
        timing = getattr(machine.coster, "timing", None)
        if timing is not None:
            timing.custom_cost = ci.cost
    return hub
