/*
 * fault_unhandled -- a word load from UNMAPPED_ADDR (0x60000000) in read_unmapped() with
 * no fault handler installed and BusFault not enabled: the bus error escalates to
 * HardFault (Armv7-M/v8-M: HFSR.FORCED, CFSR.PRECISERR|BFARVALID, BFAR = 0x60000000;
 * Armv6-M: HardFault directly), whose default handler is "b .". The program never exits;
 * a debugger (or mcusim) sees it spinning in Default_Handler with the stacked PC in
 * read_unmapped.
 */
#include "cortexm.h"
#include "target.h"
#include "semihost.h"

__attribute__((noinline)) uint32_t read_unmapped(volatile uint32_t *p)
{
    return *p;
}

int main(void)
{
    out_str("fault_unhandled: reading unmapped memory with no fault handler\n");
    uint32_t v = read_unmapped((volatile uint32_t *)UNMAPPED_ADDR);
    out_str("FAIL: the load returned\n");
    return (int)(v | 1u);
}
