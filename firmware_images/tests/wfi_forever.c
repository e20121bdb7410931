/*
 * wfi_forever -- turns off every interrupt source (SysTick off, all NVIC lines disabled
 * and unpended, PendSV/SysTick pend bits cleared) and sleeps in WFI forever. Nothing can
 * wake the core: on a board it sleeps until reset; mcusim ends the run with a limit
 * outcome (asleep with nothing to wake it). Never exits.
 */
#include "cortexm.h"
#include "target.h"
#include "semihost.h"

int main(void)
{
    SYST_CSR = 0;
    for (unsigned i = 0; i < (MCU_NUM_IRQ + 31) / 32; i++) {
        NVIC_ICER(i) = 0xFFFFFFFFu;
        NVIC_ICPR(i) = 0xFFFFFFFFu;
    }
    SCB_ICSR = ICSR_PENDSVCLR | ICSR_PENDSTCLR;
    SCB_SCR &= ~(SCR_SLEEPONEXIT | SCR_SEVONPEND);
    cpu_dsb();
    cpu_isb();
    out_str("wfi_forever: sleeping with no wake-up source\n");
    for (;;)
        cpu_wfi();
}
