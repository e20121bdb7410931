"""Energy for a finished run: the machine's timeline through the power model.

Filled in by the power model (mcusim/power); until an MCU has a power model, energy
fields stay null as DESIGN.md says ("keys a stage has not reached yet are null")."""

from __future__ import annotations


def add_energy(rec: dict, m) -> None:
    return None


def write_trace(m, csv_path, png_path) -> None:
    from mcusim.errors import UserError
    raise UserError("power traces need the power model (not available yet)")
