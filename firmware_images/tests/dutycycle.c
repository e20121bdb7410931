/*
 * dutycycle -- a duty-cycled application for energy tests: PERIODS times, compute for
 * RUN_TICKS SysTick periods (busy, polling COUNTFLAG), then sleep in WFI for SLEEP_TICKS
 * periods (woken by each SysTick interrupt, which only counts). SysTick period = TICK
 * core cycles (TICK = 120000: 1 ms at the stm32l4r5 run clock of 120 MHz).
 * Prints the tick count and exits 0.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"

#ifndef TICK
#define TICK 120000u
#endif
#define PERIODS 10u
#define RUN_TICKS 2u
#define SLEEP_TICKS 8u

static volatile uint32_t ticks;

void SysTick_Handler(void) { ticks++; }

int main(void)
{
    SYST_CSR = 0;
    SYST_RVR = TICK - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE;      /* no interrupt while computing */
    for (uint32_t p = 0; p < PERIODS; p++) {
        (void)SYST_CSR;                                   /* clear COUNTFLAG */
        for (uint32_t t = 0; t < RUN_TICKS; t++)
            while (!(SYST_CSR & SYST_CSR_COUNTFLAG)) { }
        SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT;
        uint32_t until = ticks + SLEEP_TICKS;
        while (ticks != until)
            __asm__ volatile("wfi");
        SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE;
    }
    SYST_CSR = 0;
    out_str("dutycycle: ticks ");
    out_udec(ticks);
    out_str("\n");
    return 0;
}
