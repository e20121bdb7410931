/*
 * fault_bus -- a word load from UNMAPPED_ADDR (0x60000000: nothing there on any target).
 *   Armv7-M/v8-M: BusFault enabled in SHCSR -> BusFault_Handler with CFSR.PRECISERR and
 *     CFSR.BFARVALID, BFAR = 0x60000000 (printed).
 *   cortex-m0plus (Armv6-M): HardFault (no BFAR on Armv6-M).
 * The handler checks the stacked PC is the load, resumes after it (2-byte LDR); main
 * exits 0 when BFAR matched. An unexpected exception exits 17.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"
#include "fault_common.h"

extern char bus_site[];
static volatile uint32_t faults, fault_pc, fault_cfsr, fault_bfar, fault_exc;

__attribute__((naked, noinline)) uint32_t do_load(uint32_t addr)
{
    (void)addr;
    __asm__ volatile(".global bus_site\n"
                     "bus_site:\n\t"
                     "ldr r0, [r0]\n\t"
                     "bx lr");
}

#if ARCH_V6M
#define EXPECT_EXC EXC_HARDFAULT
#else
#define EXPECT_EXC EXC_BUSFAULT
#endif

void fault_c(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    fault_exc = cpu_get_ipsr();
    fault_pc = frame[6];
#if !ARCH_V6M
    fault_cfsr = SCB_CFSR;
    fault_bfar = SCB_BFAR;
    out_str("fault: CFSR = "); out_hex(fault_cfsr);
    out_str(" BFAR = "); out_hex(fault_bfar); out_str("\n");
#endif
    out_str("fault: exception "); out_udec(fault_exc);
    out_str(" at PC "); out_hex(fault_pc); out_str("\n");
    if (fault_exc != EXPECT_EXC) {
        out_str("fault_bus: unexpected exception\n");
        sh_exit_status(FAULT_STATUS_WRONG_HANDLER);
    }
#if !ARCH_V6M
    SCB_CFSR = fault_cfsr;
#endif
    faults++;
    frame[0] = 0xDEADBEEFu;                /* result register r0 */
    frame[6] += 2;                         /* skip the 16-bit LDR */
}

FAULT_ENTRY(HardFault_Handler, fault_c)
#if !ARCH_V6M
FAULT_ENTRY(BusFault_Handler, fault_c_bus)
void fault_c_bus(uint32_t *frame, uint32_t exc_return) { fault_c(frame, exc_return); }
#endif

int main(void)
{
    out_str("fault_bus on " TARGET_NAME "\n");
#if !ARCH_V6M
    SCB_SHCSR |= SHCSR_BUSFAULTENA;
    cpu_dsb();
    cpu_isb();
#endif
    uint32_t v = do_load(UNMAPPED_ADDR);
    out_str("resumed after the load\n");
    check_eq("faults taken", faults, 1);
    check_eq("exception number", fault_exc, EXPECT_EXC);
    check_eq("stacked PC = load", fault_pc, (uint32_t)(uintptr_t)bus_site & ~1u);
    check_eq("r0 set by the handler", v, 0xDEADBEEFu);
#if !ARCH_V6M
    check_eq("CFSR.PRECISERR", (fault_cfsr & CFSR_PRECISERR) != 0, 1);
    check_eq("CFSR.BFARVALID", (fault_cfsr & CFSR_BFARVALID) != 0, 1);
    check_eq("BFAR", fault_bfar, UNMAPPED_ADDR);
#endif
    return test_done("fault_bus");
}
