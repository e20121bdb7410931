/*
 * u585.c -- STM32U585 (B-U585I-IOT02A) family part of the start-up application, from
 * RM0456 (STM32U5 reference manual): the RCC, PWR (10.5.4 EPOD booster), FLASH, ICACHE,
 * GPIO and USART chapters. TrustZone disabled: non-secure
 * aliases. See docs/research/stm32-startup.md for every register.
 *
 * Reset: MSIS range 4 (4 MHz) is SYSCLK; PWR_VOSR.VOS = range 4, VOSRDY = 1, BOOSTEN = 0;
 * FLASH_ACR = 0 (LATENCY 0, PRFTEN 0); ICACHE_CR.EN = 0 (WAYSEL = 1: 2-way).
 *
 * HAL_Init: PRFTEN (hal_conf PREFETCH_ENABLE 1), priority grouping 4, SystemCoreClock from
 * RCC, SysTick on HCLK. HAL_MspInit: PWR clock, PWR_UCPDR.UCPD_DBDIS = 1.
 * SystemClock_Config (160 MHz):
 *   1. HAL_PWREx_ControlVoltageScaling(SCALE1): PWR_VOSR.VOS = range 1 and BOOSTEN (EPOD
 *      booster, needed above 55 MHz in range 1/2), wait VOSR.VOSRDY, wait SVMSR.ACTVOSRDY;
 *   2. HAL_RCC_OscConfig: MSIS range 4 from ICSCR1 (MSIRGSEL), wait MSISRDY; PLL1ON = 0,
 *      wait PLL1RDY = 0; BOOSTEN = 0 while PLL1MBOOST changes; PLL1CFGR: PLL1SRC = MSIS,
 *      PLL1MBOOST /1 (booster clock 4 MHz), PLL1M /1; PLL1DIVR: N 80 (VCO 320 MHz),
 *      P /2, Q /2, R /2 (160 MHz); FRACN 0; PLL1RGE = 4-8 MHz; BOOSTEN = 1; PLL1REN;
 *      PLL1ON; wait PLL1RDY;
 *   3. HAL_RCC_ClockConfig(FLASH_LATENCY_4): FLASH_ACR.LATENCY = 4 (read-modify-write,
 *      PRFTEN kept), read back; wait PWR_VOSR.BOOSTRDY; SW = PLL1, wait SWS = PLL1;
 *      AHB/APB1/APB2/APB3 /1; SystemCoreClock = 160 MHz, SysTick reloaded.
 * After the peripherals: MX_ICACHE_Init (2-way, invalidate: wait BUSYF/BSYENDF, clear
 * BSYENDF; ICACHE_CR.EN = 1).
 * Console: USART1 on PA9/PA10 (AF7), kernel clock PCLK2 (RCC_CCIPR1.USART1SEL = 0),
 * BRR = PCLK2 / 115200. LED: LD7 green on PH7 (lit when low).
 */
#include <stdio.h>
#include "su_stm32.h"

#define RCC_BASE 0x46020C00u
#define RCC_CR        REG32(RCC_BASE + 0x00u)
#define RCC_ICSCR1    REG32(RCC_BASE + 0x08u)
#define RCC_CFGR1     REG32(RCC_BASE + 0x1Cu)
#define RCC_CFGR2     REG32(RCC_BASE + 0x20u)
#define RCC_CFGR3     REG32(RCC_BASE + 0x24u)
#define RCC_PLL1CFGR  REG32(RCC_BASE + 0x28u)
#define RCC_PLL1DIVR  REG32(RCC_BASE + 0x34u)
#define RCC_PLL1FRACR REG32(RCC_BASE + 0x38u)
#define RCC_AHB2ENR1  REG32(RCC_BASE + 0x8Cu)
#define RCC_AHB3ENR   REG32(RCC_BASE + 0x94u)
#define RCC_APB2ENR   REG32(RCC_BASE + 0xA4u)
#define RCC_CCIPR1    REG32(RCC_BASE + 0xE0u)
#define RCC_CSR       REG32(RCC_BASE + 0xF4u)

#define CR_MSISON   (1u << 0)
#define CR_MSISRDY  (1u << 2)
#define CR_HSION    (1u << 8)
#define CR_HSIRDY   (1u << 10)
#define CR_PLL1ON   (1u << 24)
#define CR_PLL1RDY  (1u << 25)
#define ICSCR1_MSIRGSEL (1u << 23)
#define ICSCR1_MSISRANGE_SHIFT 28
#define CFGR1_SW_MASK 3u
#define CFGR1_SW_PLL1 3u
#define CFGR1_SWS_SHIFT 2
#define PLL1CFGR_SRC_MSIS 1u
#define PLL1CFGR_RGE_SHIFT 2
#define PLL1CFGR_FRACEN (1u << 4)
#define PLL1CFGR_M_SHIFT 8
#define PLL1CFGR_MBOOST_SHIFT 12
#define PLL1CFGR_REN (1u << 18)

#define PWR_BASE 0x46020800u
#define PWR_VOSR  REG32(PWR_BASE + 0x0Cu)
#define PWR_UCPDR REG32(PWR_BASE + 0x2Cu)
#define PWR_SVMSR REG32(PWR_BASE + 0x3Cu)
#define PWR_VOSR_BOOSTRDY (1u << 14)
#define PWR_VOSR_VOSRDY   (1u << 15)
#define PWR_VOSR_VOS_MASK (3u << 16)
#define PWR_VOSR_RANGE1   (3u << 16)
#define PWR_VOSR_BOOSTEN  (1u << 18)
#define PWR_SVMSR_ACTVOSRDY (1u << 15)
#define PWR_SVMSR_ACTVOS_MASK (3u << 16)

#define FLASH_ACR_ADDR 0x40022000u
#define FLASH_ACR REG32(FLASH_ACR_ADDR)
#define FLASH_ACR_PRFTEN (1u << 8)

#define ICACHE_BASE 0x40030400u
#define ICACHE_CR  REG32(ICACHE_BASE + 0x00u)
#define ICACHE_SR  REG32(ICACHE_BASE + 0x04u)
#define ICACHE_FCR REG32(ICACHE_BASE + 0x0Cu)
#define ICACHE_CR_EN       (1u << 0)
#define ICACHE_CR_CACHEINV (1u << 1)
#define ICACHE_CR_WAYSEL   (1u << 2)
#define ICACHE_SR_BUSYF    (1u << 0)
#define ICACHE_SR_BSYENDF  (1u << 1)

#define GPIOA_BASE 0x42020000u
#define GPIOH_BASE 0x42021C00u
#define USART1_BASE 0x40013800u

#define HSI16_HZ 16000000u
#define HSE_HZ 16000000u           /* HSE_VALUE of the board (16 MHz crystal; unused here) */
#define LSE_HZ 32768u

const struct su_family su_fam = {
    .name = "stm32u585", .board = "B-U585I-IOT02A",
    .reset_hz = 4000000u, .max_hz = 160000000u, .tick_priority = 15u,
    .uart_name = "USART1", .uart_kernel = "PCLK2", .uart_is_lpuart = 0,
    .led_name = "PH7", .led_port = GPIOH_BASE, .led_pin = 7u,
};

static const uint8_t ahb_shift[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 6, 7, 8, 9 };
static const uint8_t apb_shift[8] = { 0, 0, 0, 0, 1, 2, 3, 4 };
/* MSISRANGE 0..15 (RM0456 RCC_ICSCR1) */
static const uint32_t msis_hz[16] = { 48000000u, 24000000u, 16000000u, 12000000u, 4000000u,
                                      2000000u, 1330000u, 1000000u, 3072000u, 1536000u,
                                      1024000u, 768000u, 400000u, 200000u, 133000u, 100000u };

static uint32_t msis_clock_hz(void)
{
    /* MSIRGSEL = 1: ICSCR1.MSISRANGE; 0: RCC_CSR.MSISSRANGE (range after Standby) */
    uint32_t r = (RCC_ICSCR1 & ICSCR1_MSIRGSEL) ? RCC_ICSCR1 >> ICSCR1_MSISRANGE_SHIFT
                                                : (RCC_CSR >> 12) & 0xFu;
    return msis_hz[r & 0xFu];
}

uint32_t HAL_RCC_GetSysClockFreq(void)
{
    switch ((RCC_CFGR1 >> CFGR1_SWS_SHIFT) & 3u) {
    case 0: return msis_clock_hz();
    case 1: return HSI16_HZ;
    case 2: return HSE_HZ;
    default: {
        uint32_t c = RCC_PLL1CFGR;
        uint32_t src = c & 3u;
        uint32_t fin = src == 1u ? msis_clock_hz() : src == 2u ? HSI16_HZ
                     : src == 3u ? HSE_HZ : 0u;
        uint32_t m = ((c >> PLL1CFGR_M_SHIFT) & 0xFu) + 1u;    /* PLL1M [11:8] + 1 */
        uint32_t d = RCC_PLL1DIVR;
        uint32_t n = (d & 0x1FFu) + 1u;                        /* PLL1N [8:0] + 1 */
        uint32_t r = ((d >> 24) & 0x7Fu) + 1u;                 /* PLL1R [30:24] + 1 */
        uint32_t frac = (c & PLL1CFGR_FRACEN) ? (RCC_PLL1FRACR >> 3) & 0x1FFFu : 0u;
        uint64_t ref = fin / m;
        uint64_t vco = ref * n + (ref * frac) / 8192u;
        return (uint32_t)(vco / r);
    }
    }
}

uint32_t HAL_RCC_GetHCLKFreq(void)
{
    return HAL_RCC_GetSysClockFreq() >> ahb_shift[RCC_CFGR2 & 0xFu];
}

uint32_t su_cpu_clock_hz(void) { return HAL_RCC_GetHCLKFreq(); }

uint32_t su_pclk_hz(int n)
{
    uint32_t h = HAL_RCC_GetHCLKFreq();
    if (n == 1) return h >> apb_shift[(RCC_CFGR2 >> 4) & 7u];      /* PPRE1 */
    if (n == 2) return h >> apb_shift[(RCC_CFGR2 >> 8) & 7u];      /* PPRE2 */
    if (n == 3) return h >> apb_shift[(RCC_CFGR3 >> 4) & 7u];      /* PPRE3 */
    return 0u;
}

uint32_t su_uart_kernel_hz(void)
{
    switch (RCC_CCIPR1 & 3u) {                       /* USART1SEL */
    case 0: return su_pclk_hz(2);
    case 1: return HAL_RCC_GetSysClockFreq();
    case 2: return (RCC_CR & CR_HSIRDY) ? HSI16_HZ : 0u;
    default: return LSE_HZ;
    }
}

void su_pre_hal_init(void) { }

void su_hal_init_family(void)
{
    FLASH_ACR |= FLASH_ACR_PRFTEN;     /* PREFETCH_ENABLE 1 */
    SystemCoreClockUpdate();           /* HAL_Init on U5 reads the clock from RCC */
}

void HAL_MspInit(void)
{
    RCC_AHB3ENR |= 1u << 2;            /* PWREN */
    (void)RCC_AHB3ENR;
    PWR_UCPDR |= 1u << 0;              /* UCPD_DBDIS: dead-battery pull-downs off */
}

void SystemClock_Config(void)
{
    /* 1. range 1 with the EPOD booster */
    if ((PWR_SVMSR & PWR_SVMSR_ACTVOS_MASK) != PWR_VOSR_RANGE1) {
        PWR_VOSR = (PWR_VOSR & ~(PWR_VOSR_VOS_MASK | PWR_VOSR_BOOSTEN))
                 | PWR_VOSR_RANGE1 | PWR_VOSR_BOOSTEN;
        su_wait(PWR_BASE + 0x0Cu, PWR_VOSR_VOSRDY, PWR_VOSR_VOSRDY, "PWR_VOSR.VOSRDY");
        su_wait(PWR_BASE + 0x3Cu, PWR_SVMSR_ACTVOSRDY, PWR_SVMSR_ACTVOSRDY,
                "PWR_SVMSR.ACTVOSRDY");
    }

    /* 2. MSIS 4 MHz, PLL1 from MSIS */
    su_wait(RCC_BASE + 0x00u, CR_MSISRDY, CR_MSISRDY, "RCC_CR.MSISRDY");
    RCC_ICSCR1 = (RCC_ICSCR1 & ~(0xFu << ICSCR1_MSISRANGE_SHIFT))
               | (4u << ICSCR1_MSISRANGE_SHIFT) | ICSCR1_MSIRGSEL;
    RCC_CR &= ~CR_PLL1ON;
    su_wait(RCC_BASE + 0x00u, CR_PLL1RDY, 0u, "RCC_CR.PLL1RDY = 0");
    uint32_t boost = PWR_VOSR & PWR_VOSR_BOOSTEN;
    PWR_VOSR &= ~PWR_VOSR_BOOSTEN;     /* EPOD off while PLL1MBOOST changes */
    RCC_PLL1CFGR = (RCC_PLL1CFGR & ~(3u | (0xFu << PLL1CFGR_M_SHIFT)
                                     | (0xFu << PLL1CFGR_MBOOST_SHIFT)))
                 | PLL1CFGR_SRC_MSIS                   /* PLL1SRC = MSIS */
                 | (0u << PLL1CFGR_M_SHIFT)            /* PLL1M = /1 */
                 | (0u << PLL1CFGR_MBOOST_SHIFT);      /* PLL1MBOOST = /1 */
    RCC_PLL1DIVR = (80u - 1u)          /* PLL1N: x80, VCO 320 MHz */
                 | ((2u - 1u) << 9)    /* PLL1P: /2 */
                 | ((2u - 1u) << 16)   /* PLL1Q: /2 */
                 | ((2u - 1u) << 24);  /* PLL1R: /2, 160 MHz */
    RCC_PLL1CFGR &= ~PLL1CFGR_FRACEN;
    RCC_PLL1FRACR = 0u;
    RCC_PLL1CFGR |= PLL1CFGR_FRACEN;
    RCC_PLL1CFGR = (RCC_PLL1CFGR & ~(3u << PLL1CFGR_RGE_SHIFT))
                 | (0u << PLL1CFGR_RGE_SHIFT);         /* 4-8 MHz input */
    if (boost)
        PWR_VOSR |= PWR_VOSR_BOOSTEN;
    RCC_PLL1CFGR |= PLL1CFGR_REN;
    RCC_CR |= CR_PLL1ON;
    su_wait(RCC_BASE + 0x00u, CR_PLL1RDY, CR_PLL1RDY, "RCC_CR.PLL1RDY");

    /* 3. flash latency, booster ready, switch */
    FLASH_ACR = (FLASH_ACR & ~0xFu) | 4u;
    su_wait(FLASH_ACR_ADDR, 0xFu, 4u, "FLASH_ACR.LATENCY = 4");
    if (PWR_VOSR & PWR_VOSR_BOOSTEN)
        su_wait(PWR_BASE + 0x0Cu, PWR_VOSR_BOOSTRDY, PWR_VOSR_BOOSTRDY, "PWR_VOSR.BOOSTRDY");
    RCC_CFGR1 = (RCC_CFGR1 & ~CFGR1_SW_MASK) | CFGR1_SW_PLL1;
    su_wait(RCC_BASE + 0x1Cu, 3u << CFGR1_SWS_SHIFT, CFGR1_SW_PLL1 << CFGR1_SWS_SHIFT,
            "RCC_CFGR1.SWS = PLL1");
    RCC_CFGR2 &= ~(0xFu | (7u << 4) | (7u << 8));            /* HPRE, PPRE1, PPRE2 /1 */
    RCC_CFGR3 &= ~(7u << 4);                                   /* PPRE3 /1 */

    SystemCoreClock = su_cpu_clock_hz();
    HAL_InitTick(uwTickPrio);
}

void MX_GPIO_Init(void)
{
    RCC_AHB2ENR1 |= 1u << 7;           /* GPIOHEN */
    (void)RCC_AHB2ENR1;
    HAL_GPIO_WritePin(GPIOH_BASE, 7u, 0);
    su_gpio_init(GPIOH_BASE, 7u, GPIO_MODE_OUTPUT, 0u, 0u);
}

void MX_UART_Init(void)
{
    RCC_CCIPR1 &= ~3u;                 /* USART1SEL = PCLK2 */
    RCC_APB2ENR |= 1u << 14;           /* USART1EN */
    (void)RCC_APB2ENR;
    RCC_AHB2ENR1 |= 1u << 0;           /* GPIOAEN */
    (void)RCC_AHB2ENR1;
    su_gpio_init(GPIOA_BASE, 9u, GPIO_MODE_AF, 0u, 7u);    /* PA9 USART1_TX */
    su_gpio_init(GPIOA_BASE, 10u, GPIO_MODE_AF, 0u, 7u);   /* PA10 USART1_RX */
    su_uart_init(USART1_BASE, su_uart_brr(su_uart_kernel_hz(), 0));
}

/* MX_ICACHE_Init: 2-way, invalidate, enable */
static void icache_wait_invalidate(void)
{
    if (ICACHE_SR & ICACHE_SR_BUSYF)
        su_wait(ICACHE_BASE + 0x04u, ICACHE_SR_BSYENDF, ICACHE_SR_BSYENDF, "ICACHE_SR.BSYENDF");
    ICACHE_FCR = ICACHE_SR_BSYENDF;    /* CBSYENDF */
}

void su_post_init(void)
{
    icache_wait_invalidate();          /* the invalidation started by reset */
    ICACHE_CR |= ICACHE_CR_WAYSEL;     /* 2-way (only while EN = 0) */
    if (!(ICACHE_SR & ICACHE_SR_BUSYF))
        ICACHE_CR |= ICACHE_CR_CACHEINV;
    icache_wait_invalidate();
    ICACHE_CR |= ICACHE_CR_EN;
}

void su_report(void)
{
    printf("flash_acr=0x%08lx pwr_vosr=0x%08lx pwr_svmsr=0x%08lx rcc_cfgr1=0x%08lx "
           "rcc_pll1cfgr=0x%08lx icache_cr=0x%08lx icache_sr=0x%08lx\n",
           (unsigned long)FLASH_ACR, (unsigned long)PWR_VOSR, (unsigned long)PWR_SVMSR,
           (unsigned long)RCC_CFGR1, (unsigned long)RCC_PLL1CFGR, (unsigned long)ICACHE_CR,
           (unsigned long)ICACHE_SR);
}
