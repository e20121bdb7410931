/*
 * g0b1.c -- STM32G0B1 (NUCLEO-G0B1RE) family part of the start-up application, from RM0444
 * (STM32G0x1 reference manual): the RCC, PWR, FLASH, GPIO, SYSCFG and USART chapters.
 * See docs/research/stm32-startup.md for every register and where the manual has it.
 *
 * Reset: HSISYS = HSI16 / 1 is SYSCLK (RCC_CR.HSIDIV = 0); PWR_CR1.VOS = range 1;
 * FLASH_ACR: LATENCY 0, ICEN 1, PRFTEN 0.
 *
 * HAL_Init: PRFTEN (hal_conf PREFETCH_ENABLE 1; ICEN stays on); no priority grouping on
 * Armv6-M; SysTick priority 3 (2 priority bits). HAL_MspInit: SYSCFG and PWR clocks,
 * SYSCFG_CFGR1.UCPD1_STROBE | UCPD2_STROBE (dead-battery pull-downs off, as CubeMX does
 * for the G0B1).
 * SystemClock_Config (64 MHz):
 *   1. HAL_PWREx_ControlVoltageScaling(SCALE1): VOS = range 1, wait PWR_SR2.VOSF = 0;
 *   2. HAL_RCC_OscConfig: HSION with HSIDIV /1, wait HSIRDY; PLLON = 0, wait PLLRDY = 0;
 *      RCC_PLLCFGR = HSI16 / M1 * N8 (VCO 128 MHz), R /2, P /2, Q /2; PLLON, PLLREN;
 *      wait PLLRDY;
 *   3. HAL_RCC_ClockConfig(FLASH_LATENCY_2): FLASH_ACR.LATENCY = 2 (read-modify-write),
 *      wait until it reads back; AHB /1; SW = PLLRCLK, wait SWS; APB /1;
 *      SystemCoreClock = 64 MHz, SysTick reloaded.
 * Console: USART2 on PA2/PA3 (AF1), kernel clock SYSCLK chosen in RCC_CCIPR.USART2SEL,
 * BRR = SYSCLK / 115200. LED: LD4 green on PA5.
 */
#include <stdio.h>
#include "su_stm32.h"

#define RCC_BASE 0x40021000u
#define RCC_CR      REG32(RCC_BASE + 0x00u)
#define RCC_CFGR    REG32(RCC_BASE + 0x08u)
#define RCC_PLLCFGR REG32(RCC_BASE + 0x0Cu)
#define RCC_IOPENR  REG32(RCC_BASE + 0x34u)
#define RCC_APBENR1 REG32(RCC_BASE + 0x3Cu)
#define RCC_APBENR2 REG32(RCC_BASE + 0x40u)
#define RCC_CCIPR   REG32(RCC_BASE + 0x54u)

#define CR_HSION   (1u << 8)
#define CR_HSIRDY  (1u << 10)
#define CR_HSIDIV_SHIFT 11
#define CR_HSIDIV_MASK  (7u << 11)
#define CR_PLLON   (1u << 24)
#define CR_PLLRDY  (1u << 25)
#define CFGR_SW_MASK   7u
#define CFGR_SW_PLLR   2u
#define CFGR_SWS_SHIFT 3
#define CFGR_HPRE_SHIFT 8
#define CFGR_PPRE_SHIFT 12
#define PLLCFGR_SRC_HSI16 2u
#define PLLCFGR_REN (1u << 28)
#define CCIPR_USART2SEL_SHIFT 2
#define CCIPR_SEL_SYSCLK 1u

#define PWR_BASE 0x40007000u
#define PWR_CR1 REG32(PWR_BASE + 0x00u)
#define PWR_SR2 REG32(PWR_BASE + 0x14u)
#define PWR_CR1_VOS_MASK   (3u << 9)
#define PWR_CR1_VOS_RANGE1 (1u << 9)
#define PWR_SR2_VOSF (1u << 10)

#define FLASH_ACR_ADDR 0x40022000u
#define FLASH_ACR REG32(FLASH_ACR_ADDR)
#define FLASH_ACR_LATENCY_MASK 7u
#define FLASH_ACR_PRFTEN (1u << 8)

#define SYSCFG_CFGR1 REG32(0x40010000u)
#define SYSCFG_CFGR1_UCPD1_STROBE (1u << 9)
#define SYSCFG_CFGR1_UCPD2_STROBE (1u << 10)

#define GPIOA_BASE 0x50000000u
#define USART2_BASE 0x40004400u

#define HSI16_HZ 16000000u
#define HSE_HZ 8000000u
#define LSI_HZ 32000u
#define LSE_HZ 32768u

const struct su_family su_fam = {
    .name = "stm32g0b1", .board = "NUCLEO-G0B1RE",
    .reset_hz = 16000000u, .max_hz = 64000000u, .tick_priority = 3u,
    .uart_name = "USART2", .uart_kernel = "SYSCLK", .uart_is_lpuart = 0,
    .led_name = "PA5", .led_port = GPIOA_BASE, .led_pin = 5u,
};

static const uint8_t ahb_shift[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 6, 7, 8, 9 };
static const uint8_t apb_shift[8] = { 0, 0, 0, 0, 1, 2, 3, 4 };

uint32_t HAL_RCC_GetSysClockFreq(void)
{
    switch ((RCC_CFGR >> CFGR_SWS_SHIFT) & 7u) {
    case 0: return HSI16_HZ >> ((RCC_CR & CR_HSIDIV_MASK) >> CR_HSIDIV_SHIFT);   /* HSISYS */
    case 1: return HSE_HZ;
    case 2: {
        uint32_t p = RCC_PLLCFGR;
        uint32_t fin = (p & 3u) == 3u ? HSE_HZ : HSI16_HZ;
        uint32_t m = ((p >> 4) & 7u) + 1u;         /* PLLM [6:4]: /1../8 */
        uint32_t n = (p >> 8) & 0x7Fu;             /* PLLN [14:8]: 8..86 */
        uint32_t r = ((p >> 29) & 7u) + 1u;        /* PLLR [31:29]: /2../8 */
        return fin / m * n / r;
    }
    case 3: return LSI_HZ;
    case 4: return LSE_HZ;
    default: return 0u;
    }
}

uint32_t HAL_RCC_GetHCLKFreq(void)
{
    return HAL_RCC_GetSysClockFreq() >> ahb_shift[(RCC_CFGR >> CFGR_HPRE_SHIFT) & 0xFu];
}

uint32_t su_cpu_clock_hz(void) { return HAL_RCC_GetHCLKFreq(); }

uint32_t su_pclk_hz(int n)
{
    if (n == 1) return HAL_RCC_GetHCLKFreq() >> apb_shift[(RCC_CFGR >> CFGR_PPRE_SHIFT) & 7u];
    return 0u;
}

uint32_t su_uart_kernel_hz(void)
{
    switch ((RCC_CCIPR >> CCIPR_USART2SEL_SHIFT) & 3u) {
    case 0: return su_pclk_hz(1);
    case 1: return HAL_RCC_GetSysClockFreq();
    case 2: return (RCC_CR & CR_HSIRDY) ? HSI16_HZ : 0u;
    default: return LSE_HZ;
    }
}

void su_pre_hal_init(void) { }

void su_hal_init_family(void)
{
    FLASH_ACR |= FLASH_ACR_PRFTEN;     /* PREFETCH_ENABLE 1; INSTRUCTION_CACHE_ENABLE 1 */
}

void HAL_MspInit(void)
{
    RCC_APBENR2 |= 1u << 0;            /* SYSCFGEN */
    (void)RCC_APBENR2;
    RCC_APBENR1 |= 1u << 28;           /* PWREN */
    (void)RCC_APBENR1;
    SYSCFG_CFGR1 |= SYSCFG_CFGR1_UCPD1_STROBE | SYSCFG_CFGR1_UCPD2_STROBE;
}

void SystemClock_Config(void)
{
    /* 1. voltage scaling range 1 */
    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | PWR_CR1_VOS_RANGE1;
    su_wait(PWR_BASE + 0x14u, PWR_SR2_VOSF, 0u, "PWR_SR2.VOSF = 0");

    /* 2. HSI16 / 1, PLL */
    RCC_CR = (RCC_CR & ~CR_HSIDIV_MASK) | CR_HSION;
    su_wait(RCC_BASE + 0x00u, CR_HSIRDY, CR_HSIRDY, "RCC_CR.HSIRDY");
    RCC_CR &= ~CR_PLLON;
    su_wait(RCC_BASE + 0x00u, CR_PLLRDY, 0u, "RCC_CR.PLLRDY = 0");
    RCC_PLLCFGR = PLLCFGR_SRC_HSI16    /* PLLSRC = HSI16 */
                | (0u << 4)            /* PLLM = /1 */
                | (8u << 8)            /* PLLN = 8: VCO = 128 MHz */
                | (1u << 17)           /* PLLP = /2 */
                | (1u << 25)           /* PLLQ = /2 */
                | (1u << 29);          /* PLLR = /2: 64 MHz */
    RCC_CR |= CR_PLLON;
    RCC_PLLCFGR |= PLLCFGR_REN;
    su_wait(RCC_BASE + 0x00u, CR_PLLRDY, CR_PLLRDY, "RCC_CR.PLLRDY");

    /* 3. flash latency, then the switch */
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 2u;
    su_wait(FLASH_ACR_ADDR, FLASH_ACR_LATENCY_MASK, 2u, "FLASH_ACR.LATENCY = 2");
    RCC_CFGR &= ~(0xFu << CFGR_HPRE_SHIFT);                        /* AHB /1 */
    RCC_CFGR = (RCC_CFGR & ~CFGR_SW_MASK) | CFGR_SW_PLLR;
    su_wait(RCC_BASE + 0x08u, 7u << CFGR_SWS_SHIFT, CFGR_SW_PLLR << CFGR_SWS_SHIFT,
            "RCC_CFGR.SWS = PLLRCLK");
    RCC_CFGR &= ~(7u << CFGR_PPRE_SHIFT);                          /* APB /1 */

    SystemCoreClock = su_cpu_clock_hz();
    HAL_InitTick(uwTickPrio);
}

void MX_GPIO_Init(void)
{
    RCC_IOPENR |= 1u << 0;             /* GPIOAEN */
    (void)RCC_IOPENR;
    HAL_GPIO_WritePin(GPIOA_BASE, 5u, 0);
    su_gpio_init(GPIOA_BASE, 5u, GPIO_MODE_OUTPUT, 0u, 0u);
}

void MX_UART_Init(void)
{
    RCC_CCIPR = (RCC_CCIPR & ~(3u << CCIPR_USART2SEL_SHIFT))
              | (CCIPR_SEL_SYSCLK << CCIPR_USART2SEL_SHIFT);
    RCC_APBENR1 |= 1u << 17;           /* USART2EN */
    (void)RCC_APBENR1;
    RCC_IOPENR |= 1u << 0;             /* GPIOAEN */
    (void)RCC_IOPENR;
    su_gpio_init(GPIOA_BASE, 2u, GPIO_MODE_AF, 0u, 1u);    /* PA2 USART2_TX */
    su_gpio_init(GPIOA_BASE, 3u, GPIO_MODE_AF, 0u, 1u);    /* PA3 USART2_RX */
    su_uart_init(USART2_BASE, su_uart_brr(su_uart_kernel_hz(), 0));
}

void su_post_init(void) { }

void su_report(void)
{
    printf("flash_acr=0x%08lx pwr_cr1=0x%08lx rcc_cr=0x%08lx rcc_cfgr=0x%08lx "
           "rcc_pllcfgr=0x%08lx syscfg_cfgr1=0x%08lx\n",
           (unsigned long)FLASH_ACR, (unsigned long)PWR_CR1, (unsigned long)RCC_CR,
           (unsigned long)RCC_CFGR, (unsigned long)RCC_PLLCFGR, (unsigned long)SYSCFG_CFGR1);
}
