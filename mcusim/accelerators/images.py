"""What the accelerator image variants need attached (mcusim infer --kernels npu|cx)."""

from __future__ import annotations

from mcusim.errors import UserError

CX_COPROCESSOR = 0          # include/mcusim_cx.h: MCUSIM_CX_CP


def check_image_accelerators(mcu, kernels: str) -> None:
    """infer-cx executes the dot4 instructions on coprocessor 0: refuse an MCU without
    them (they would take a UsageFault). infer-npu runs anywhere (without an NPU every
    layer runs on the CPU)."""
    if kernels != "cx":
        return
    from mcusim.accelerators.dot4 import Dot4
    for a in mcu.accelerators:
        if a.coprocessor_number() == CX_COPROCESSOR and issubclass(a.cls, Dot4):
            return
    raise UserError(f"the cx image needs the dot4 custom instructions on coprocessor "
                    f"{CX_COPROCESSOR}; {mcu.name} has none (add [[accelerators]] type = "
                    "\"mcusim.accelerators.dot4:Dot4\" to an MCU file: docs/accelerators.md)")
