/*
 * startup.c -- vector table, reset handler and weak default handlers.
 *
 * Reset_Handler: point VTOR at this table, set MSPLIM (Armv8-M), copy .data from flash,
 * zero .bss, enable CP10/CP11 in CPACR on FPU targets, run .init_array, call main, and
 * exit through semihosting with main's return value as the status
 * (SYS_EXIT_EXTENDED, ADP_Stopped_ApplicationExit, status).
 *
 * Every exception and interrupt handler is a weak alias of Default_Handler, an endless
 * loop ("b ."): a program that takes an exception it has no handler for stops there, as
 * on a board with a debugger attached. Programs override a handler by defining the
 * function: NMI_Handler, HardFault_Handler, MemManage_Handler, BusFault_Handler,
 * UsageFault_Handler, SecureFault_Handler (v8-M), SVC_Handler, DebugMon_Handler,
 * PendSV_Handler, SysTick_Handler, IRQ<n>_Handler for external interrupt n.
 */
#include <stdint.h>
#include "cortexm.h"
#include "target.h"
#include "irq_list.h"
#include "semihost.h"

extern uint32_t __stack_top[], __stack_limit[];
extern uint32_t __data_load_start[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);

int main(void);
void Reset_Handler(void);

void Default_Handler(void) __attribute__((naked));
void Default_Handler(void)
{
    __asm__ volatile("b .");
}

#define WEAK_ALIAS __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK_ALIAS;
void HardFault_Handler(void) WEAK_ALIAS;
void MemManage_Handler(void) WEAK_ALIAS;
void BusFault_Handler(void) WEAK_ALIAS;
void UsageFault_Handler(void) WEAK_ALIAS;
void SecureFault_Handler(void) WEAK_ALIAS;
void SVC_Handler(void) WEAK_ALIAS;
void DebugMon_Handler(void) WEAK_ALIAS;
void PendSV_Handler(void) WEAK_ALIAS;
void SysTick_Handler(void) WEAK_ALIAS;

#define DECLARE_IRQ(n) void IRQ##n##_Handler(void) WEAK_ALIAS;
IRQ_BLOCK_0(DECLARE_IRQ) IRQ_BLOCK_1(DECLARE_IRQ) IRQ_BLOCK_2(DECLARE_IRQ)
IRQ_BLOCK_3(DECLARE_IRQ) IRQ_BLOCK_4(DECLARE_IRQ) IRQ_BLOCK_5(DECLARE_IRQ)
IRQ_BLOCK_6(DECLARE_IRQ) IRQ_BLOCK_7(DECLARE_IRQ) IRQ_BLOCK_8(DECLARE_IRQ)
IRQ_BLOCK_9(DECLARE_IRQ)

typedef void (*vector_t)(void);
#define IRQ_ENTRY(n) IRQ##n##_Handler,

#if ARCH_V6M
#define V7_ENTRY(h) 0
#else
#define V7_ENTRY(h) h
#endif
#if ARCH_V8M_MAIN
#define V8_ENTRY(h) h
#else
#define V8_ENTRY(h) 0
#endif

__attribute__((section(".isr_vector"), used))
const vector_t __vector_table[16 + MCU_NUM_IRQ] = {
    (vector_t)__stack_top,          /* 0: initial MSP */
    Reset_Handler,                  /* 1 */
    NMI_Handler,                    /* 2 */
    HardFault_Handler,              /* 3 */
    V7_ENTRY(MemManage_Handler),    /* 4 */
    V7_ENTRY(BusFault_Handler),     /* 5 */
    V7_ENTRY(UsageFault_Handler),   /* 6 */
    V8_ENTRY(SecureFault_Handler),  /* 7 */
    0, 0, 0,                        /* 8-10 reserved */
    SVC_Handler,                    /* 11 */
    V7_ENTRY(DebugMon_Handler),     /* 12 */
    0,                              /* 13 reserved */
    PendSV_Handler,                 /* 14 */
    SysTick_Handler,                /* 15 */
    IRQ_BLOCK_0(IRQ_ENTRY)
#if MCU_NUM_IRQ > 16
    IRQ_BLOCK_1(IRQ_ENTRY)
#endif
#if MCU_NUM_IRQ > 32
    IRQ_BLOCK_2(IRQ_ENTRY)
#endif
#if MCU_NUM_IRQ > 48
    IRQ_BLOCK_3(IRQ_ENTRY)
#endif
#if MCU_NUM_IRQ > 64
    IRQ_BLOCK_4(IRQ_ENTRY)
#endif
#if MCU_NUM_IRQ > 80
    IRQ_BLOCK_5(IRQ_ENTRY)
#endif
#if MCU_NUM_IRQ > 96
    IRQ_BLOCK_6(IRQ_ENTRY)
#endif
#if MCU_NUM_IRQ > 112
    IRQ_BLOCK_7(IRQ_ENTRY)
#endif
#if MCU_NUM_IRQ > 128
    IRQ_BLOCK_8(IRQ_ENTRY)
#endif
#if MCU_NUM_IRQ > 144
    IRQ_BLOCK_9(IRQ_ENTRY)
#endif
};

void Reset_Handler(void) __attribute__((noreturn, used));
void Reset_Handler(void)
{
    SCB_VTOR = (uint32_t)(uintptr_t)__vector_table;
#if ARCH_V8M_MAIN
    __asm__ volatile("msr msplim, %0" :: "r"(__stack_limit));
#endif

    uint32_t *src = __data_load_start;
    for (uint32_t *dst = __data_start; dst < __data_end; )
        *dst++ = *src++;
    for (uint32_t *dst = __bss_start; dst < __bss_end; )
        *dst++ = 0;

#if HAS_FPU
    SCB_CPACR |= CPACR_CP10_CP11_FULL;
    cpu_dsb();
    cpu_isb();
#endif

    for (void (**f)(void) = __init_array_start; f < __init_array_end; f++)
        (*f)();

    sh_exit_status(main());
}
