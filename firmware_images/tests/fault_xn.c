/*
 * fault_xn -- executing from an Execute-Never region of the default memory map (the
 * Peripheral region at 0x40000000; Armv7-M ARM B3.1): with MemManage enabled in SHCSR the
 * MemManage handler runs with CFSR.IACCVIOL set (MMARVALID clear), stacked PC = the XN
 * address; it returns to the caller through the stacked LR. Armv6-M has no MemManage:
 * HardFault. Exits 0 when the right handler saw the right cause.
 */
#include "cortexm.h"
#include "fault_common.h"
#include "target.h"
#include "test.h"

static volatile uint32_t seen_cfsr, seen_pc, seen_num;

static void record(uint32_t *frame, uint32_t num)
{
#if !ARCH_V6M
    seen_cfsr = SCB_CFSR;
    SCB_CFSR = seen_cfsr;             /* write one to clear */
#endif
    seen_pc = frame[6];
    seen_num = num;
    frame[6] = frame[5] & ~1u;        /* resume at the caller (stacked LR) */
}

FAULT_ENTRY(MemManage_Handler, mm_c)
void mm_c(uint32_t *frame, uint32_t exc_return) { (void)exc_return; record(frame, 4); }
FAULT_ENTRY(HardFault_Handler, hf_c)
void hf_c(uint32_t *frame, uint32_t exc_return) { (void)exc_return; record(frame, 3); }

int main(void)
{
#if !ARCH_V6M
    SCB_SHCSR |= 1u << 16;            /* MEMFAULTENA */
#endif
    void (*xn)(void) = (void (*)(void))0x40000001u;
    xn();
    check_eq("fault PC = the XN address", seen_pc, 0x40000000u);
#if ARCH_V6M
    check_eq("HardFault on Armv6-M", seen_num, 3);
#else
    check_eq("MemManage taken", seen_num, 4);
    check_eq("CFSR.IACCVIOL, MMARVALID clear", seen_cfsr & 0xFFu, 0x01u);
#endif
    return test_done("fault_xn");
}
