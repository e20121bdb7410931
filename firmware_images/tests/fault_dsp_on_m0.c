/*
 * fault_dsp_on_m0 (cortex-m0plus only) -- 32-bit instructions Armv6-M does not have are
 * UNDEFINED and take HardFault (there is no UsageFault):
 *   SMLAD r0, r1, r2, r3   (.inst.w 0xFB213002, DSP extension)
 *   VADD.F32 s0, s0, s1    (.inst.w 0xEE300A20, FPU)
 * The HardFault handler checks the stacked PC for each, skips the 4-byte instruction and
 * returns; main exits 0 when both faulted at the right place.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"
#include "fault_common.h"

extern char dsp_site[], fp_site[];
static volatile uint32_t faults, fault_pc[4], fault_exc;

__attribute__((naked, noinline)) void do_smlad(void)
{
    __asm__ volatile(".global dsp_site\n"
                     "dsp_site:\n\t"
                     ".inst.w 0xFB213002\n\t"
                     "bx lr");
}

__attribute__((naked, noinline)) void do_vadd(void)
{
    __asm__ volatile(".global fp_site\n"
                     "fp_site:\n\t"
                     ".inst.w 0xEE300A20\n\t"
                     "bx lr");
}

void fault_c(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    fault_exc = cpu_get_ipsr();
    out_str("HardFault at PC "); out_hex(frame[6]); out_str("\n");
    if (fault_exc != EXC_HARDFAULT)
        sh_exit_status(FAULT_STATUS_WRONG_HANDLER);
    if (faults < 4) fault_pc[faults] = frame[6];
    faults++;
    frame[6] += 4;
}

FAULT_ENTRY(HardFault_Handler, fault_c)

int main(void)
{
    out_str("fault_dsp_on_m0 on " TARGET_NAME "\n");
    do_smlad();
    out_str("resumed after SMLAD\n");
    do_vadd();
    out_str("resumed after VADD.F32\n");
    check_eq("HardFaults taken", faults, 2);
    check_eq("SMLAD faulted at its PC", fault_pc[0], (uint32_t)(uintptr_t)dsp_site & ~1u);
    check_eq("VADD.F32 faulted at its PC", fault_pc[1], (uint32_t)(uintptr_t)fp_site & ~1u);
    return test_done("fault_dsp_on_m0");
}
