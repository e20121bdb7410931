/*
 * dwt (Armv7-M/v8-M) -- DWT cycle counter: DWT_CTRL.NOCYCCNT = 0; with DEMCR.TRCENA and
 * CYCCNTENA (and, on Cortex-M7, the DWT software lock opened through DWT_LAR) CYCCNT
 * counts: a 1000-iteration loop takes between 1000 and 100000 cycles (flash wait states with caches off: up to ~25 a loop on H7 at 280 MHz), and successive reads
 * increase; CYCCNT is writable; with CYCCNTENA cleared it holds its value.
 * Exits 0 when every check passes.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"

__attribute__((noinline)) static void spin(uint32_t n)
{
    for (volatile uint32_t i = 0; i < n; i++) { }
}

int main(void)
{
    out_str("dwt on " TARGET_NAME "\n");
    DEMCR |= DEMCR_TRCENA;
#if defined(TARGET_CORTEX_M7F)
    DWT_LAR = CORESIGHT_UNLOCK_KEY;
#endif
    check_eq("DWT_CTRL.NOCYCCNT", (DWT_CTRL & DWT_CTRL_NOCYCCNT) != 0, 0);
    DWT_CTRL &= ~DWT_CTRL_CYCCNTENA;
    DWT_CYCCNT = 0x1000u;
    check_eq("CYCCNT write while stopped", DWT_CYCCNT, 0x1000u);
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    uint32_t a = DWT_CYCCNT;
    spin(1000);
    uint32_t b = DWT_CYCCNT;
    uint32_t c = DWT_CYCCNT;
    check(a < b && b < c, "CYCCNT increases");
    check_range("cycles for 1000 loop iterations", b - a, 1000, 100000);
    DWT_CTRL &= ~DWT_CTRL_CYCCNTENA;
    uint32_t d = DWT_CYCCNT;
    spin(1000);
    uint32_t e = DWT_CYCCNT;
    check_eq("CYCCNT stopped when disabled (delta)", e - d, 0);
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    spin(10);
    check(DWT_CYCCNT > e, "CYCCNT resumes from its value");
    return test_done("dwt");
}
