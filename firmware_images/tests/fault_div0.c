/*
 * fault_div0 (Armv7-M/v8-M) -- SDIV by zero:
 *   with CCR.DIV_0_TRP = 0 the result is 0 and nothing traps;
 *   with CCR.DIV_0_TRP = 1 and UsageFault enabled -> UsageFault, CFSR.DIVBYZERO; the
 *   handler checks the stacked PC is the SDIV and resumes after it (4 bytes).
 * Exits 0 when every check passes; an unexpected exception exits 17.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"
#include "fault_common.h"

extern char div_site[];
static volatile uint32_t faults, fault_pc, fault_cfsr, fault_exc;

__attribute__((naked, noinline)) int32_t do_sdiv(int32_t a, int32_t b)
{
    (void)a; (void)b;
    __asm__ volatile(".global div_site\n"
                     "div_site:\n\t"
                     "sdiv r0, r0, r1\n\t"
                     "bx lr");
}

void fault_c(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    fault_exc = cpu_get_ipsr();
    fault_pc = frame[6];
    fault_cfsr = SCB_CFSR;
    out_str("fault: CFSR = "); out_hex(fault_cfsr);
    out_str(" HFSR = "); out_hex(SCB_HFSR); out_str("\n");
    if (fault_exc != EXC_USAGEFAULT) {
        out_str("fault_div0: unexpected exception\n");
        sh_exit_status(FAULT_STATUS_WRONG_HANDLER);
    }
    SCB_CFSR = fault_cfsr;
    faults++;
    frame[0] = 0x12345678u;
    frame[6] += 4;                         /* skip the 32-bit SDIV */
}

FAULT_ENTRY(HardFault_Handler, fault_c)
FAULT_ENTRY(UsageFault_Handler, fault_c_usage)
void fault_c_usage(uint32_t *frame, uint32_t exc_return) { fault_c(frame, exc_return); }

int main(void)
{
    out_str("fault_div0 on " TARGET_NAME "\n");
    SCB_SHCSR |= SHCSR_USGFAULTENA;
    SCB_CCR &= ~CCR_DIV_0_TRP;
    cpu_dsb();
    cpu_isb();
    check_eq("SDIV 100/-7", (uint32_t)do_sdiv(100, -7), (uint32_t)-14);
    check_eq("SDIV by zero, no trap, = 0", (uint32_t)do_sdiv(42, 0), 0);
    check_eq("no fault without DIV_0_TRP", faults, 0);
    SCB_CCR |= CCR_DIV_0_TRP;
    cpu_dsb();
    cpu_isb();
    int32_t r = do_sdiv(42, 0);
    out_str("resumed after SDIV\n");
    check_eq("faults taken", faults, 1);
    check_eq("exception number", fault_exc, EXC_USAGEFAULT);
    check_eq("stacked PC = SDIV", fault_pc, (uint32_t)(uintptr_t)div_site & ~1u);
    check_eq("CFSR.DIVBYZERO", (fault_cfsr & CFSR_DIVBYZERO) != 0, 1);
    check_eq("r0 set by the handler", (uint32_t)r, 0x12345678u);
    return test_done("fault_div0");
}
