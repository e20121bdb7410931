/*
 * su_system.c -- the role of ST's system_stm32xxxx.c:
 *
 *   SystemCoreClock  the CPU clock the software believes in; its initial value is the
 *                    part's reset clock, and SystemClock_Config/HAL_Init update it;
 *   SystemInit()     runs from Reset_Handler before .data/.bss exist: CP10/CP11 full
 *                    access in CPACR on FPU parts (Armv7-M B3.2.20, Armv8-M D1.2.7),
 *                    VTOR = the flash vector table, plus the family's own reset-time work
 *                    (su_system_init_family, e.g. the H7 FMC bank-1 disable);
 *   SystemCoreClockUpdate()  SystemCoreClock from the RCC registers.
 */
#include "su_stm32.h"

extern const void *g_pfnVectors[];

#if defined(TARGET_CORTEX_M0PLUS)
uint32_t SystemCoreClock = 16000000u;      /* STM32G0: HSISYS = HSI16 / 1 */
#elif defined(TARGET_CORTEX_M4F)
uint32_t SystemCoreClock = 4000000u;       /* STM32L4+: MSI range 6 */
#elif defined(TARGET_CORTEX_M7F)
uint32_t SystemCoreClock = 64000000u;      /* STM32H7A3: HSI 64 MHz, HSIDIV /1 */
#else
uint32_t SystemCoreClock = 4000000u;       /* STM32U5: MSIS range 4 */
#endif

void su_system_init_family(void) __attribute__((weak));
void su_system_init_family(void) { }

void SystemInit(void)
{
#if HAS_FPU
    SCB_CPACR |= CPACR_CP10_CP11_FULL;
#endif
    /* VTOR: on Armv6-M an option, implemented by the Cortex-M0+ of STM32G0 */
    SCB_VTOR = (uint32_t)(uintptr_t)g_pfnVectors;
    su_system_init_family();
    cpu_dsb();
    cpu_isb();
}

void SystemCoreClockUpdate(void)
{
    SystemCoreClock = su_cpu_clock_hz();
}
