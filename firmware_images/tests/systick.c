/*
 * systick -- SysTick with the processor clock:
 *  1. free-running (no interrupt): VAL reads 0 after a write, then decreases; COUNTFLAG
 *     sets on wrap and clears when CSR is read
 *  2. LOAD = 999 (period 1000 cycles), CLKSOURCE=core, TICKINT: count 50 interrupts while
 *     sleeping in WFI (PRIMASK idiom: cpsid i; wfi; cpsie i -- a pending interrupt wakes
 *     WFI even while PRIMASK masks it); the handler stops SysTick at the 50th.
 *  3. Armv7-M/v8-M: DWT CYCCNT across the 50 periods is >= 50000 and within 10%.
 * Exits 0 when every check passes.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"

#define PERIOD 1000u
#define TICKS 50u

static volatile uint32_t ticks;
static volatile uint32_t cyc_at_last;
static volatile uint32_t ipsr_in_handler;

void SysTick_Handler(void)
{
    ipsr_in_handler = cpu_get_ipsr();
    if (++ticks == TICKS) {
        SYST_CSR = 0;                       /* stop: nothing else will interrupt */
#if !ARCH_V6M
        cyc_at_last = DWT_CYCCNT;
#endif
    }
}

int main(void)
{
    out_str("systick on " TARGET_NAME "\n");

    /* 1. free-running down-counter */
    SYST_CSR = 0;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;                            /* any write clears VAL and COUNTFLAG */
    check_eq("VAL after write", SYST_CVR, 0);
    check_eq("LOAD readback", SYST_RVR, 0x00FFFFFFu);
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_ENABLE;
    for (volatile int i = 0; i < 10; i++) { }
    uint32_t v1 = SYST_CVR;
    for (volatile int i = 0; i < 100; i++) { }
    uint32_t v2 = SYST_CVR;
    check(v1 <= 0x00FFFFFFu && v1 > 0, "VAL within LOAD after enable");
    check(v2 < v1, "VAL decreases");
    SYST_CSR = 0;

    /* COUNTFLAG: set when the counter reaches 0, cleared by reading CSR */
    SYST_RVR = 999;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_ENABLE;
    uint32_t csr1 = 0;
    for (uint32_t i = 0; i < 20000u && !(csr1 & SYST_CSR_COUNTFLAG); i++)
        csr1 = SYST_CSR;
    uint32_t csr2 = SYST_CSR;
    SYST_CSR = 0;
    check((csr1 & SYST_CSR_COUNTFLAG) != 0, "COUNTFLAG set after wrap");
    check((csr2 & SYST_CSR_COUNTFLAG) == 0, "COUNTFLAG cleared by the read");

    /* 2. + 3. 50 interrupts of 1000 cycles */
#if !ARCH_V6M
    dwt_cyccnt_start();
#endif
    SCB_SHPR3 = (SCB_SHPR3 & 0x00FFFFFFu) | ((uint32_t)0x80u << 24);   /* SysTick prio */
    ticks = 0;
    SYST_RVR = PERIOD - 1u;
    SYST_CVR = 0;
    cpu_disable_irq();
#if !ARCH_V6M
    uint32_t c0 = DWT_CYCCNT;
#endif
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    while (ticks < TICKS) {
        cpu_wfi();
        cpu_enable_irq();                    /* take the interrupt that woke us */
        cpu_isb();
        cpu_disable_irq();
    }
    cpu_enable_irq();
#if !ARCH_V6M
    uint32_t c1 = DWT_CYCCNT;
#endif
    for (volatile int i = 0; i < 200; i++) { }   /* > 1 period: no further tick */
    check_eq("interrupts counted", ticks, TICKS);
    check_eq("IPSR in SysTick handler", ipsr_in_handler, EXC_SYSTICK);
    check_eq("SysTick stopped", SYST_CSR & SYST_CSR_ENABLE, 0);
#if !ARCH_V6M
    check_range("CYCCNT at 50th interrupt", cyc_at_last - c0, TICKS * PERIOD,
                TICKS * PERIOD + TICKS * PERIOD / 10);
    check_range("CYCCNT after wake", c1 - c0, TICKS * PERIOD,
                TICKS * PERIOD + TICKS * PERIOD / 10);
#endif
    return test_done("systick");
}
