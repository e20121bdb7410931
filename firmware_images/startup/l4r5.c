/*
 * l4r5.c -- STM32L4R5 (NUCLEO-L4R5ZI) family part of the start-up application, from RM0432
 * (STM32L4+ reference manual): the RCC, PWR, FLASH, GPIO and LPUART chapters.
 * See docs/research/stm32-startup.md for every register and where the manual has it.
 *
 * Reset: MSI range 6 (4 MHz) is SYSCLK; PWR_CR1.VOS = range 1, PWR_CR5.R1MODE = 1 (range 1
 * normal, max 80 MHz); FLASH_ACR = 0x600 (ICEN | DCEN, LATENCY 0, PRFTEN 0).
 *
 * SystemClock_Config (120 MHz, as CubeMX generates for this board with MSI as PLL input):
 *   1. HAL_PWREx_ControlVoltageScaling(SCALE1_BOOST): in range 1 already, so only
 *      PWR_CR5.R1MODE = 0 (from range 2 it would set VOS = range 1 and wait VOSF = 0);
 *   2. HAL_RCC_OscConfig: MSI range 6 selected by RCC_CR (MSIRGSEL), wait MSIRDY;
 *      PLLON = 0, wait PLLRDY = 0; RCC_PLLCFGR = MSI / M1 * N60 (VCO 240 MHz), R /2,
 *      Q /2, P /7; PLLON, PLLREN; wait PLLRDY;
 *   3. HAL_RCC_ClockConfig(FLASH_LATENCY_5): FLASH_ACR.LATENCY = 5 by read-modify-write
 *      (ICEN/DCEN of the reset value stay set), wait until it reads back; PRFTEN;
 *      target above 80 MHz with AHB /1: AHB /2 first (RM0432 5.1.8 range 1 boost
 *      sequence), SW = PLL, wait SWS = PLL, wait >= 1 us, AHB /1; APB1/APB2 /1;
 *      SystemCoreClock = 120 MHz, SysTick reloaded for 1 kHz.
 * Console: LPUART1 on PG7/PG8 (AF8, VDDIO2: PWR_CR2.IOSV), kernel clock HSI16 chosen in
 * RCC_CCIPR.LPUART1SEL (HSI switched on for it), BRR = 256 * 16 MHz / 115200.
 * LED: LD1 green on PC7.
 */
#include <stdio.h>
#include "su_stm32.h"

#define RCC_BASE 0x40021000u
#define RCC_CR       REG32(RCC_BASE + 0x00u)
#define RCC_ICSCR    REG32(RCC_BASE + 0x04u)
#define RCC_CFGR     REG32(RCC_BASE + 0x08u)
#define RCC_PLLCFGR  REG32(RCC_BASE + 0x0Cu)
#define RCC_AHB2ENR  REG32(RCC_BASE + 0x4Cu)
#define RCC_APB1ENR1 REG32(RCC_BASE + 0x58u)
#define RCC_APB1ENR2 REG32(RCC_BASE + 0x5Cu)
#define RCC_APB2ENR  REG32(RCC_BASE + 0x60u)
#define RCC_CCIPR    REG32(RCC_BASE + 0x88u)
#define RCC_CSR      REG32(RCC_BASE + 0x94u)

#define CR_MSION    (1u << 0)
#define CR_MSIRDY   (1u << 1)
#define CR_MSIRGSEL (1u << 3)
#define CR_MSIRANGE_SHIFT 4
#define CR_HSION    (1u << 8)
#define CR_HSIRDY   (1u << 10)
#define CR_PLLON    (1u << 24)
#define CR_PLLRDY   (1u << 25)
#define CFGR_SW_MASK    3u
#define CFGR_SW_PLL     3u
#define CFGR_SWS_SHIFT  2
#define CFGR_HPRE_SHIFT 4
#define CFGR_HPRE_MASK  (0xFu << 4)
#define CFGR_HPRE_DIV2  (0x8u << 4)
#define CFGR_PPRE1_SHIFT 8
#define CFGR_PPRE2_SHIFT 11
#define PLLCFGR_SRC_MSI 1u
#define PLLCFGR_REN     (1u << 24)
#define CCIPR_LPUART1SEL_SHIFT 10
#define CCIPR_SEL_HSI16 2u

#define PWR_BASE 0x40007000u
#define PWR_CR1 REG32(PWR_BASE + 0x00u)
#define PWR_CR2 REG32(PWR_BASE + 0x04u)
#define PWR_SR2 REG32(PWR_BASE + 0x14u)
#define PWR_CR5 REG32(PWR_BASE + 0x80u)
#define PWR_CR1_VOS_MASK   (3u << 9)
#define PWR_CR1_VOS_RANGE1 (1u << 9)
#define PWR_CR1_VOS_RANGE2 (2u << 9)
#define PWR_CR2_IOSV (1u << 9)
#define PWR_SR2_VOSF (1u << 10)
#define PWR_CR5_R1MODE (1u << 8)

#define FLASH_ACR_ADDR 0x40022000u
#define FLASH_ACR REG32(FLASH_ACR_ADDR)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_PRFTEN (1u << 8)

#define GPIOC_BASE 0x48000800u
#define GPIOG_BASE 0x48001800u
#define LPUART1_BASE 0x40008000u

#define HSI16_HZ 16000000u
#define HSE_HZ 8000000u            /* HSE_VALUE of the board files (no HSE used here) */
#define LSE_HZ 32768u

const struct su_family su_fam = {
    .name = "stm32l4r5", .board = "NUCLEO-L4R5ZI",
    .reset_hz = 4000000u, .max_hz = 120000000u, .tick_priority = 15u,
    .uart_name = "LPUART1", .uart_kernel = "HSI16", .uart_is_lpuart = 1,
    .led_name = "PC7", .led_port = GPIOC_BASE, .led_pin = 7u,
};

static const uint8_t ahb_shift[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 6, 7, 8, 9 };
static const uint8_t apb_shift[8] = { 0, 0, 0, 0, 1, 2, 3, 4 };
/* MSIRANGE 0..11 (RM0432 RCC_CR) */
static const uint32_t msi_hz[12] = { 100000u, 200000u, 400000u, 800000u, 1000000u, 2000000u,
                                     4000000u, 8000000u, 16000000u, 24000000u, 32000000u,
                                     48000000u };

static uint32_t msi_clock_hz(void)
{
    /* MSIRGSEL = 1: range in RCC_CR.MSIRANGE; 0: range after standby in RCC_CSR.MSISRANGE */
    uint32_t r = (RCC_CR & CR_MSIRGSEL) ? (RCC_CR >> CR_MSIRANGE_SHIFT) & 0xFu
                                        : (RCC_CSR >> 8) & 0xFu;
    return r < 12u ? msi_hz[r] : 0u;
}

uint32_t HAL_RCC_GetSysClockFreq(void)
{
    uint32_t sws = (RCC_CFGR >> CFGR_SWS_SHIFT) & 3u;
    if (sws == 0u) return msi_clock_hz();
    if (sws == 1u) return HSI16_HZ;
    if (sws == 2u) return HSE_HZ;
    uint32_t p = RCC_PLLCFGR;
    uint32_t src = p & 3u;
    uint32_t fin = src == 1u ? msi_clock_hz() : src == 2u ? HSI16_HZ : src == 3u ? HSE_HZ : 0u;
    uint32_t m = ((p >> 4) & 0xFu) + 1u;       /* PLLM [7:4]: /1../16 */
    uint32_t n = (p >> 8) & 0x7Fu;             /* PLLN [14:8] */
    uint32_t r = (((p >> 25) & 3u) + 1u) * 2u; /* PLLR [26:25]: /2,/4,/6,/8 */
    return fin / m * n / r;
}

uint32_t HAL_RCC_GetHCLKFreq(void)
{
    return HAL_RCC_GetSysClockFreq() >> ahb_shift[(RCC_CFGR >> CFGR_HPRE_SHIFT) & 0xFu];
}

uint32_t su_cpu_clock_hz(void) { return HAL_RCC_GetHCLKFreq(); }

uint32_t su_pclk_hz(int n)
{
    if (n == 1) return HAL_RCC_GetHCLKFreq() >> apb_shift[(RCC_CFGR >> CFGR_PPRE1_SHIFT) & 7u];
    if (n == 2) return HAL_RCC_GetHCLKFreq() >> apb_shift[(RCC_CFGR >> CFGR_PPRE2_SHIFT) & 7u];
    return 0u;
}

uint32_t su_uart_kernel_hz(void)
{
    switch ((RCC_CCIPR >> CCIPR_LPUART1SEL_SHIFT) & 3u) {
    case 0: return su_pclk_hz(1);
    case 1: return HAL_RCC_GetSysClockFreq();
    case 2: return (RCC_CR & CR_HSIRDY) ? HSI16_HZ : 0u;
    default: return LSE_HZ;
    }
}

void su_pre_hal_init(void) { }

void su_hal_init_family(void)
{
    /* hal_conf defaults: INSTRUCTION_CACHE_ENABLE 1, DATA_CACHE_ENABLE 1 (already set at
     * reset, nothing to write), PREFETCH_ENABLE 0 */
}

void HAL_MspInit(void)
{
    RCC_APB2ENR |= 1u << 0;            /* SYSCFGEN */
    (void)RCC_APB2ENR;
    RCC_APB1ENR1 |= 1u << 28;          /* PWREN */
    (void)RCC_APB1ENR1;
}

void SystemClock_Config(void)
{
    /* 1. voltage scaling: range 1 boost */
    if ((PWR_CR1 & PWR_CR1_VOS_MASK) == PWR_CR1_VOS_RANGE2) {
        PWR_CR5 &= ~PWR_CR5_R1MODE;
        PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | PWR_CR1_VOS_RANGE1;
        su_wait(PWR_BASE + 0x14u, PWR_SR2_VOSF, 0u, "PWR_SR2.VOSF = 0");
    } else {
        PWR_CR5 &= ~PWR_CR5_R1MODE;
    }

    /* 2. oscillators: MSI 4 MHz (range 6 from RCC_CR), PLL from MSI */
    su_wait(RCC_BASE + 0x00u, CR_MSIRDY, CR_MSIRDY, "RCC_CR.MSIRDY");
    RCC_CR |= CR_MSIRGSEL;
    RCC_CR = (RCC_CR & ~(0xFu << CR_MSIRANGE_SHIFT)) | (6u << CR_MSIRANGE_SHIFT);
    RCC_ICSCR &= ~(0xFFu << 8);        /* MSITRIM = 0 (default calibration) */
    RCC_CR &= ~CR_PLLON;
    su_wait(RCC_BASE + 0x00u, CR_PLLRDY, 0u, "RCC_CR.PLLRDY = 0");
    RCC_PLLCFGR = PLLCFGR_SRC_MSI      /* PLLSRC = MSI */
                | (0u << 4)            /* PLLM = /1 */
                | (60u << 8)           /* PLLN = 60: VCO = 240 MHz */
                | (0u << 17)           /* PLLP = /7 (PLLPDIV = 0) */
                | (0u << 21)           /* PLLQ = /2 */
                | (0u << 25);          /* PLLR = /2: 120 MHz */
    RCC_CR |= CR_PLLON;
    RCC_PLLCFGR |= PLLCFGR_REN;
    su_wait(RCC_BASE + 0x00u, CR_PLLRDY, CR_PLLRDY, "RCC_CR.PLLRDY");

    /* 3. flash latency first (read-modify-write), then the switch */
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 5u;
    su_wait(FLASH_ACR_ADDR, FLASH_ACR_LATENCY_MASK, 5u, "FLASH_ACR.LATENCY = 5");
    FLASH_ACR |= FLASH_ACR_PRFTEN;
    RCC_CFGR = (RCC_CFGR & ~CFGR_HPRE_MASK) | CFGR_HPRE_DIV2;      /* above 80 MHz: AHB /2 */
    RCC_CFGR = (RCC_CFGR & ~CFGR_SW_MASK) | CFGR_SW_PLL;
    su_wait(RCC_BASE + 0x08u, 3u << CFGR_SWS_SHIFT, CFGR_SW_PLL << CFGR_SWS_SHIFT,
            "RCC_CFGR.SWS = PLL");
    su_busy_loop(64u);                 /* >= 1 us at HCLK 60 MHz (>= 128 cycles) */
    RCC_CFGR &= ~CFGR_HPRE_MASK;                                   /* AHB /1 */
    RCC_CFGR &= ~((7u << CFGR_PPRE1_SHIFT) | (7u << CFGR_PPRE2_SHIFT));  /* APB1/APB2 /1 */

    SystemCoreClock = su_cpu_clock_hz();
    HAL_InitTick(uwTickPrio);
}

void MX_GPIO_Init(void)
{
    RCC_AHB2ENR |= 1u << 2;            /* GPIOCEN */
    (void)RCC_AHB2ENR;
    HAL_GPIO_WritePin(GPIOC_BASE, 7u, 0);
    su_gpio_init(GPIOC_BASE, 7u, GPIO_MODE_OUTPUT, 0u, 0u);
}

void MX_UART_Init(void)
{
    /* HAL_RCCEx_PeriphCLKConfig: LPUART1 kernel clock = HSI16 (switched on for it) */
    RCC_CR |= CR_HSION;
    su_wait(RCC_BASE + 0x00u, CR_HSIRDY, CR_HSIRDY, "RCC_CR.HSIRDY");
    RCC_CCIPR = (RCC_CCIPR & ~(3u << CCIPR_LPUART1SEL_SHIFT))
              | (CCIPR_SEL_HSI16 << CCIPR_LPUART1SEL_SHIFT);
    /* HAL_UART_MspInit */
    RCC_APB1ENR2 |= 1u << 0;           /* LPUART1EN */
    (void)RCC_APB1ENR2;
    RCC_AHB2ENR |= 1u << 6;            /* GPIOGEN */
    (void)RCC_AHB2ENR;
    PWR_CR2 |= PWR_CR2_IOSV;           /* HAL_PWREx_EnableVddIO2: PG[15:2] supply valid */
    su_gpio_init(GPIOG_BASE, 7u, GPIO_MODE_AF, 3u, 8u);    /* PG7 LPUART1_TX */
    su_gpio_init(GPIOG_BASE, 8u, GPIO_MODE_AF, 3u, 8u);    /* PG8 LPUART1_RX */
    su_uart_init(LPUART1_BASE, su_uart_brr(su_uart_kernel_hz(), 1));
}

void su_post_init(void) { }

void su_report(void)
{
    printf("flash_acr=0x%08lx pwr_cr1=0x%08lx pwr_cr5=0x%08lx rcc_cr=0x%08lx "
           "rcc_cfgr=0x%08lx rcc_pllcfgr=0x%08lx\n",
           (unsigned long)FLASH_ACR, (unsigned long)PWR_CR1, (unsigned long)PWR_CR5,
           (unsigned long)RCC_CR, (unsigned long)RCC_CFGR, (unsigned long)RCC_PLLCFGR);
}
