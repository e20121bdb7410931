/*
 * su_startup.c -- start-up file of the CubeMX-style applications (the role of ST's
 * startup_stm32xxxx.s, written in C for mcusim):
 *
 *   vector table g_pfnVectors in .isr_vector: initial MSP, Reset_Handler, the system
 *   exception handlers, then the part's external interrupts (the count rounded up to 16;
 *   every unused one points to Default_Handler);
 *   Reset_Handler: SystemInit() first (FPU access and VTOR, as the CubeMX start-up files
 *   call it before touching RAM), MSPLIM on Armv8-M, copy .data, zero .bss, run the static
 *   constructors, call main().
 *
 * Unlike a generated project (whose main never returns), main returns its status and the
 * start-up file ends the run through semihosting SYS_EXIT_EXTENDED(ApplicationExit, status)
 * so a simulator or a debugger sees the result.
 */
#include <stdint.h>
#include "cortexm.h"
#include "semihost.h"
#include "irq_list.h"
#include "su_stm32.h"

#if defined(TARGET_CORTEX_M0PLUS)
#define SU_NUM_IRQ 32          /* STM32G0B1: 31 */
#elif defined(TARGET_CORTEX_M4F)
#define SU_NUM_IRQ 96          /* STM32L4R5: 95 */
#elif defined(TARGET_CORTEX_M7F)
#define SU_NUM_IRQ 160         /* STM32H7A3: 155 */
#elif defined(TARGET_CORTEX_M33)
#define SU_NUM_IRQ 128         /* STM32U585: 125 */
#else
#error "unknown target"
#endif

extern uint32_t __stack_top[], __stack_limit[];
extern uint32_t __data_load_start[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);

int main(void);
void Reset_Handler(void) __attribute__((noreturn));

void Default_Handler(void) __attribute__((naked));
void Default_Handler(void)
{
    __asm__ volatile("b .");
}

#define WEAK __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK;
void HardFault_Handler(void) WEAK;
void MemManage_Handler(void) WEAK;
void BusFault_Handler(void) WEAK;
void UsageFault_Handler(void) WEAK;
void SecureFault_Handler(void) WEAK;
void SVC_Handler(void) WEAK;
void DebugMon_Handler(void) WEAK;
void PendSV_Handler(void) WEAK;
void SysTick_Handler(void) WEAK;

#define SU_IRQ_DECL(n) void IRQ##n##_Handler(void) WEAK;
IRQ_BLOCK_0(SU_IRQ_DECL) IRQ_BLOCK_1(SU_IRQ_DECL) IRQ_BLOCK_2(SU_IRQ_DECL)
IRQ_BLOCK_3(SU_IRQ_DECL) IRQ_BLOCK_4(SU_IRQ_DECL) IRQ_BLOCK_5(SU_IRQ_DECL)
IRQ_BLOCK_6(SU_IRQ_DECL) IRQ_BLOCK_7(SU_IRQ_DECL) IRQ_BLOCK_8(SU_IRQ_DECL)
IRQ_BLOCK_9(SU_IRQ_DECL)

typedef void (*su_vector)(void);
#define SU_IRQ_ENTRY(n) IRQ##n##_Handler,

#if ARCH_V6M
#define SU_V7(h) 0
#else
#define SU_V7(h) h
#endif
#if ARCH_V8M_MAIN
#define SU_V8(h) h
#else
#define SU_V8(h) 0
#endif

__attribute__((section(".isr_vector"), used))
const su_vector g_pfnVectors[16 + SU_NUM_IRQ] = {
    (su_vector)__stack_top,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    SU_V7(MemManage_Handler),
    SU_V7(BusFault_Handler),
    SU_V7(UsageFault_Handler),
    SU_V8(SecureFault_Handler),
    0, 0, 0,
    SVC_Handler,
    SU_V7(DebugMon_Handler),
    0,
    PendSV_Handler,
    SysTick_Handler,
    IRQ_BLOCK_0(SU_IRQ_ENTRY)
    IRQ_BLOCK_1(SU_IRQ_ENTRY)
#if SU_NUM_IRQ > 32
    IRQ_BLOCK_2(SU_IRQ_ENTRY) IRQ_BLOCK_3(SU_IRQ_ENTRY)
    IRQ_BLOCK_4(SU_IRQ_ENTRY) IRQ_BLOCK_5(SU_IRQ_ENTRY)
#endif
#if SU_NUM_IRQ > 96
    IRQ_BLOCK_6(SU_IRQ_ENTRY) IRQ_BLOCK_7(SU_IRQ_ENTRY)
#endif
#if SU_NUM_IRQ > 128
    IRQ_BLOCK_8(SU_IRQ_ENTRY) IRQ_BLOCK_9(SU_IRQ_ENTRY)
#endif
};

void Reset_Handler(void)
{
    SystemInit();
#if ARCH_V8M_MAIN
    __asm__ volatile("msr msplim, %0" :: "r"(__stack_limit));
#endif
    const uint32_t *src = __data_load_start;
    for (uint32_t *dst = __data_start; dst < __data_end; )
        *dst++ = *src++;
    for (uint32_t *dst = __bss_start; dst < __bss_end; )
        *dst++ = 0;
    for (void (**f)(void) = __init_array_start; f < __init_array_end; f++)
        (*f)();
    sh_exit_status(main());
}
