/* fault_common.h -- helpers for the fault tests.
 * FAULT_ENTRY(handler, cfunc): a naked exception handler that passes the stacked frame
 * (MSP or PSP, per EXC_RETURN[2]) and EXC_RETURN to void cfunc(uint32_t *frame,
 * uint32_t exc_return). frame[6] is the stacked PC; the C function may change it to
 * resume after the faulting instruction. Thumb-1 only, valid on every target. */
#ifndef FAULT_COMMON_H
#define FAULT_COMMON_H
#include <stdint.h>

#define FAULT_ENTRY(handler, cfunc)                                            \
    void cfunc(uint32_t *frame, uint32_t exc_return);                         \
    __attribute__((naked)) void handler(void)                                  \
    {                                                                          \
        __asm__ volatile("mov r1, lr\n\t"                                      \
                         "movs r0, #4\n\t"                                     \
                         "tst r0, r1\n\t"                                      \
                         "beq 1f\n\t"                                          \
                         "mrs r0, psp\n\t"                                     \
                         "b 2f\n"                                              \
                         "1:\tmrs r0, msp\n"                                   \
                         "2:\tldr r2, =" #cfunc "\n\t"                         \
                         "bx r2\n\t"                                           \
                         ".ltorg");                                            \
    }

/* Exit statuses of the fault programs besides 0 (pass) and 1 (a check failed). */
#define FAULT_STATUS_WRONG_HANDLER 17   /* an exception the program did not expect */

#endif
