/*
 * fault_udf -- UDF #0x42 (permanently undefined, 0xDE42).
 *   fault_udf (Armv7-M/v8-M): UsageFault enabled in SHCSR -> UsageFault_Handler with
 *     CFSR.UNDEFINSTR, HFSR.FORCED = 0.
 *   fault_udf_hard (-DUDF_VIA_HARDFAULT, v7-M/v8-M): UsageFault disabled -> escalates to
 *     HardFault with HFSR.FORCED = 1 and CFSR.UNDEFINSTR.
 *   cortex-m0plus (Armv6-M, no UsageFault): HardFault.
 * The handler prints CFSR/HFSR, checks the stacked PC is the UDF, clears the CFSR bits,
 * and resumes after the 2-byte UDF; main then exits 0. An exception in a handler the
 * variant does not expect exits 17 from that handler.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"
#include "fault_common.h"

extern char udf_site[];
static volatile uint32_t faults, fault_pc, fault_cfsr, fault_hfsr, fault_exc;

__attribute__((naked, noinline)) void do_udf(void)
{
    __asm__ volatile(".global udf_site\n"
                     "udf_site:\n\t"
                     "udf #0x42\n\t"
                     "bx lr");
}

#if !ARCH_V6M && !defined(UDF_VIA_HARDFAULT)
#define EXPECT_EXC EXC_USAGEFAULT
#else
#define EXPECT_EXC EXC_HARDFAULT
#endif

void fault_c(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    fault_exc = cpu_get_ipsr();
    fault_pc = frame[6];
#if !ARCH_V6M
    fault_cfsr = SCB_CFSR;
    fault_hfsr = SCB_HFSR;
    out_str("fault: CFSR = "); out_hex(fault_cfsr);
    out_str(" HFSR = "); out_hex(fault_hfsr); out_str("\n");
#endif
    out_str("fault: exception "); out_udec(fault_exc);
    out_str(" at PC "); out_hex(fault_pc); out_str("\n");
    if (fault_exc != EXPECT_EXC) {
        out_str("fault_udf: unexpected exception\n");
        sh_exit_status(FAULT_STATUS_WRONG_HANDLER);
    }
#if !ARCH_V6M
    SCB_CFSR = fault_cfsr;                 /* write-one-to-clear */
    SCB_HFSR = fault_hfsr;
#endif
    faults++;
    frame[6] += 2;                         /* skip the 16-bit UDF */
}

FAULT_ENTRY(HardFault_Handler, fault_c)
#if !ARCH_V6M
FAULT_ENTRY(UsageFault_Handler, fault_c_usage)
void fault_c_usage(uint32_t *frame, uint32_t exc_return) { fault_c(frame, exc_return); }
#endif

int main(void)
{
    out_str("fault_udf on " TARGET_NAME "\n");
#if !ARCH_V6M && !defined(UDF_VIA_HARDFAULT)
    SCB_SHCSR |= SHCSR_USGFAULTENA;
    cpu_dsb();
    cpu_isb();
    out_str("UsageFault enabled\n");
#endif
    do_udf();
    out_str("resumed after UDF\n");
    check_eq("faults taken", faults, 1);
    check_eq("exception number", fault_exc, EXPECT_EXC);
    check_eq("stacked PC = UDF", fault_pc, (uint32_t)(uintptr_t)udf_site & ~1u);
#if !ARCH_V6M
    check_eq("CFSR.UNDEFINSTR", (fault_cfsr & CFSR_UNDEFINSTR) != 0, 1);
#ifdef UDF_VIA_HARDFAULT
    check_eq("HFSR.FORCED (escalated)", (fault_hfsr & HFSR_FORCED) != 0, 1);
#else
    check_eq("HFSR.FORCED clear", (fault_hfsr & HFSR_FORCED) != 0, 0);
#endif
    check_eq("CFSR cleared", SCB_CFSR & CFSR_UNDEFINSTR, 0);
#endif
    return test_done("fault_udf");
}
