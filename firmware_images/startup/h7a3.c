/*
 * h7a3.c -- STM32H7A3 (NUCLEO-H7A3ZI-Q, SMPS part) family part of the start-up
 * application, from RM0455 (STM32H7A3/7B3/7B0 reference manual): the RCC, PWR,
 * FLASH (Table 16, wait states), GPIO and USART chapters. See
 * docs/research/stm32-startup.md for every register.
 *
 * Reset: HSI 64 MHz (HSIDIV /1) is SYSCLK; PWR_CR3 = SMPSEN | LDOEN (supply not yet
 * configured, written once after power-on); FLASH_ACR = 0x13 (LATENCY 3, WRHIGHFREQ 1).
 *
 * Before HAL_Init (CubeMX main): SCB_EnableICache(), SCB_EnableDCache() (Armv7-M cache
 * maintenance: ICIALLU, CSSELR/CCSIDR, DCISW by set/way, CCR.IC/DC).
 * SystemInit: also disables FMC bank 1 (FMC_BCR1 = 0x30D2, MBKEN = 0) as ST's system file
 * for the H7 does, against speculative reads.
 * SystemClock_Config (280 MHz):
 *   1. HAL_PWREx_ConfigSupply(PWR_DIRECT_SMPS_SUPPLY): PWR_CR3 supply bits = SMPSEN,
 *      wait PWR_CSR1.ACTVOSRDY;
 *   2. voltage scaling VOS0: PWR_SRDCR.VOS = 11, read back, wait PWR_SRDCR.VOSRDY;
 *   3. HAL_RCC_OscConfig: HSION with HSIDIV /1, wait HSIRDY; PLL1ON = 0, wait PLL1RDY = 0;
 *      PLLCKSELR: PLLSRC = HSI, DIVM1 = 4 (16 MHz reference); PLL1DIVR: N 35 (VCO 560
 *      MHz), P /2 (280 MHz), Q /2, R /2; PLL1FRACEN = 0, FRACN1 = 0; PLL1RGE = 8-16 MHz,
 *      PLL1VCOSEL = wide; DIVP1EN/DIVQ1EN/DIVR1EN; PLL1FRACEN = 1; PLL1ON; wait PLL1RDY;
 *   4. HAL_RCC_ClockConfig(FLASH_LATENCY_6): FLASH_ACR LATENCY = 6 and WRHIGHFREQ = 3
 *      (RM0455 Table 16, VOS0, 253-280 MHz), read back; APB3 (CDPPRE), APB1/APB2
 *      (CDPPRE1/2), APB4 (SRDPPRE) /2 first; AHB (HPRE) /1, CPU (CDCPRE) /1; SW = PLL1,
 *      wait SWS = PLL1; SystemCoreClock = 280 MHz, SysTick reloaded.
 * Console: USART3 on PD8/PD9 (AF7), kernel clock rcc_pclk1 (RCC_CDCCIP2R.USART234578SEL
 * = 0) = 140 MHz, BRR = pclk1 / 115200. LED: LD1 green on PB0.
 */
#include <stdio.h>
#include "su_stm32.h"

#define RCC_BASE 0x58024400u
#define RCC_CR        REG32(RCC_BASE + 0x000u)
#define RCC_CFGR      REG32(RCC_BASE + 0x010u)
#define RCC_CDCFGR1   REG32(RCC_BASE + 0x018u)
#define RCC_CDCFGR2   REG32(RCC_BASE + 0x01Cu)
#define RCC_SRDCFGR   REG32(RCC_BASE + 0x020u)
#define RCC_PLLCKSELR REG32(RCC_BASE + 0x028u)
#define RCC_PLLCFGR   REG32(RCC_BASE + 0x02Cu)
#define RCC_PLL1DIVR  REG32(RCC_BASE + 0x030u)
#define RCC_PLL1FRACR REG32(RCC_BASE + 0x034u)
#define RCC_CDCCIP2R  REG32(RCC_BASE + 0x054u)
#define RCC_AHB4ENR   REG32(RCC_BASE + 0x140u)
#define RCC_APB1LENR  REG32(RCC_BASE + 0x148u)
#define RCC_APB4ENR   REG32(RCC_BASE + 0x154u)

#define CR_HSION   (1u << 0)
#define CR_HSIRDY  (1u << 2)
#define CR_HSIDIV_SHIFT 3
#define CR_HSIDIV_MASK  (3u << 3)
#define CR_PLL1ON  (1u << 24)
#define CR_PLL1RDY (1u << 25)
#define CFGR_SW_MASK   7u
#define CFGR_SW_PLL1   3u
#define CFGR_SWS_SHIFT 3
#define PLLCFGR_PLL1FRACEN (1u << 0)
#define PLLCFGR_PLL1VCOSEL (1u << 1)
#define PLLCFGR_PLL1RGE_SHIFT 2
#define PLLCFGR_DIVP1EN (1u << 16)
#define PLLCFGR_DIVQ1EN (1u << 17)
#define PLLCFGR_DIVR1EN (1u << 18)

#define PWR_BASE 0x58024800u
#define PWR_CSR1  REG32(PWR_BASE + 0x04u)
#define PWR_CR3   REG32(PWR_BASE + 0x0Cu)
#define PWR_SRDCR REG32(PWR_BASE + 0x18u)
#define PWR_CSR1_ACTVOSRDY (1u << 13)
#define PWR_CR3_BYPASS (1u << 0)
#define PWR_CR3_LDOEN  (1u << 1)
#define PWR_CR3_SMPSEN (1u << 2)
#define PWR_CR3_SUPPLY_MASK 0x3Fu      /* SMPSLEVEL[5:4] SMPSEXTHP[3] SMPSEN LDOEN BYPASS */
#define PWR_SRDCR_VOSRDY (1u << 13)
#define PWR_SRDCR_VOS_MASK (3u << 14)
#define PWR_SRDCR_VOS0 (3u << 14)

#define FLASH_ACR_ADDR 0x52002000u
#define FLASH_ACR REG32(FLASH_ACR_ADDR)
#define FMC_BCR1 REG32(0x52004000u)

#define GPIOB_BASE 0x58020400u
#define GPIOD_BASE 0x58020C00u
#define USART3_BASE 0x40004800u

#define HSI_HZ 64000000u
#define CSI_HZ 4000000u
#define HSE_HZ 8000000u            /* ST-LINK MCO on the Nucleo (not used here) */
#define LSE_HZ 32768u

const struct su_family su_fam = {
    .name = "stm32h7a3", .board = "NUCLEO-H7A3ZI-Q",
    .reset_hz = 64000000u, .max_hz = 280000000u, .tick_priority = 15u,
    .uart_name = "USART3", .uart_kernel = "PCLK1", .uart_is_lpuart = 0,
    .led_name = "PB0", .led_port = GPIOB_BASE, .led_pin = 0u,
};

/* HPRE/CDCPRE 0xxx /1, 1000 /2 ... 1111 /512; CDPPREx/SRDPPRE 0xx /1, 100 /2 ... 111 /16 */
static const uint8_t ahb_shift[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 6, 7, 8, 9 };
static const uint8_t apb_shift[8] = { 0, 0, 0, 0, 1, 2, 3, 4 };

static uint32_t hsi_ck(void) { return HSI_HZ >> ((RCC_CR & CR_HSIDIV_MASK) >> CR_HSIDIV_SHIFT); }

uint32_t HAL_RCC_GetSysClockFreq(void)
{
    switch ((RCC_CFGR >> CFGR_SWS_SHIFT) & 7u) {
    case 0: return hsi_ck();
    case 1: return CSI_HZ;
    case 2: return HSE_HZ;
    case 3: {
        uint32_t sel = RCC_PLLCKSELR;
        uint32_t src = sel & 3u;
        uint32_t fin = src == 0u ? hsi_ck() : src == 1u ? CSI_HZ : src == 2u ? HSE_HZ : 0u;
        uint32_t m = (sel >> 4) & 0x3Fu;             /* DIVM1 [9:4]; 0 = prescaler off */
        if (m == 0u || fin == 0u) return 0u;
        uint32_t d = RCC_PLL1DIVR;
        uint32_t n = (d & 0x1FFu) + 1u;              /* DIVN1 [8:0] + 1 */
        uint32_t p = ((d >> 9) & 0x7Fu) + 1u;        /* DIVP1 [15:9] + 1 */
        uint32_t frac = (RCC_PLLCFGR & PLLCFGR_PLL1FRACEN)
                      ? (RCC_PLL1FRACR >> 3) & 0x1FFFu : 0u;   /* FRACN1 [15:3] */
        uint64_t ref = fin / m;
        uint64_t vco = ref * n + (ref * frac) / 8192u;
        return (uint32_t)(vco / p);
    }
    default: return 0u;
    }
}

/* CPU clock (sys_ck / CDCPRE) and AHB/AXI clock (CPU clock / HPRE) */
uint32_t su_cpu_clock_hz(void)
{
    return HAL_RCC_GetSysClockFreq() >> ahb_shift[(RCC_CDCFGR1 >> 8) & 0xFu];
}

uint32_t HAL_RCC_GetHCLKFreq(void)
{
    return su_cpu_clock_hz() >> ahb_shift[RCC_CDCFGR1 & 0xFu];
}

uint32_t su_pclk_hz(int n)
{
    uint32_t h = HAL_RCC_GetHCLKFreq();
    if (n == 1) return h >> apb_shift[(RCC_CDCFGR2 >> 4) & 7u];     /* CDPPRE1 */
    if (n == 2) return h >> apb_shift[(RCC_CDCFGR2 >> 8) & 7u];     /* CDPPRE2 */
    if (n == 3) return h >> apb_shift[(RCC_CDCFGR1 >> 4) & 7u];     /* CDPPRE (APB3) */
    if (n == 4) return h >> apb_shift[(RCC_SRDCFGR >> 4) & 7u];     /* SRDPPRE (APB4) */
    return 0u;
}

uint32_t su_uart_kernel_hz(void)
{
    switch (RCC_CDCCIP2R & 7u) {                     /* USART234578SEL */
    case 0: return su_pclk_hz(1);
    case 3: return hsi_ck();
    case 4: return CSI_HZ;
    case 5: return LSE_HZ;
    default: return 0u;                              /* PLL2Q/PLL3Q: not configured here */
    }
}

void su_system_init_family(void)
{
    FMC_BCR1 = 0x000030D2u;            /* FMC bank 1 off (MBKEN = 0): no speculative reads */
}

/* SCB_EnableICache / SCB_EnableDCache (Armv7-M B2.2.7 cache maintenance, Cortex-M7 TRM) */
#define SCB_CCR_IC (1u << 17)
#define SCB_CCR_DC (1u << 16)
#define SCB_CCSIDR REG32(0xE000ED80u)
#define SCB_CSSELR REG32(0xE000ED84u)
#define SCB_ICIALLU REG32(0xE000EF50u)
#define SCB_DCISW REG32(0xE000EF60u)

void su_pre_hal_init(void)
{
    cpu_dsb();
    cpu_isb();
    SCB_ICIALLU = 0;                   /* invalidate the whole I-cache */
    cpu_dsb();
    cpu_isb();
    SCB_CCR |= SCB_CCR_IC;
    cpu_dsb();
    cpu_isb();

    SCB_CSSELR = 0;                    /* level 1 data cache */
    cpu_dsb();
    uint32_t ccsidr = SCB_CCSIDR;
    uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    uint32_t set_shift = (ccsidr & 7u) + 4u;         /* log2(line bytes) */
    uint32_t way_shift = ways > 1u ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
    for (uint32_t s = 0; s < sets; s++)
        for (uint32_t w = 0; w < ways; w++)
            SCB_DCISW = (s << set_shift) | (ways > 1u ? w << way_shift : 0u);
    cpu_dsb();
    SCB_CCR |= SCB_CCR_DC;
    cpu_dsb();
    cpu_isb();
}

void su_hal_init_family(void)
{
    SystemCoreClockUpdate();           /* HAL_Init on H7 reads the clock from RCC */
}

void HAL_MspInit(void)
{
    RCC_APB4ENR |= 1u << 1;            /* SYSCFGEN */
    (void)RCC_APB4ENR;
}

void SystemClock_Config(void)
{
    /* 1. supply: direct SMPS (write-once after power-on) */
    if ((PWR_CR3 & (PWR_CR3_SMPSEN | PWR_CR3_LDOEN | PWR_CR3_BYPASS))
            != (PWR_CR3_SMPSEN | PWR_CR3_LDOEN)) {
        /* already configured since power-on: only the same configuration is accepted */
        if ((PWR_CR3 & PWR_CR3_SUPPLY_MASK) != PWR_CR3_SMPSEN)
            Error_Handler("PWR_CR3 supply configuration is locked to another mode");
    } else {
        PWR_CR3 = (PWR_CR3 & ~PWR_CR3_SUPPLY_MASK) | PWR_CR3_SMPSEN;
        su_wait(PWR_BASE + 0x04u, PWR_CSR1_ACTVOSRDY, PWR_CSR1_ACTVOSRDY, "PWR_CSR1.ACTVOSRDY");
    }

    /* 2. VOS0 */
    PWR_SRDCR = (PWR_SRDCR & ~PWR_SRDCR_VOS_MASK) | PWR_SRDCR_VOS0;
    (void)PWR_SRDCR;
    su_wait(PWR_BASE + 0x18u, PWR_SRDCR_VOSRDY, PWR_SRDCR_VOSRDY, "PWR_SRDCR.VOSRDY");

    /* 3. HSI / 1, PLL1 */
    RCC_CR = (RCC_CR & ~CR_HSIDIV_MASK) | CR_HSION;
    su_wait(RCC_BASE + 0x00u, CR_HSIRDY, CR_HSIRDY, "RCC_CR.HSIRDY");
    RCC_CR &= ~CR_PLL1ON;
    su_wait(RCC_BASE + 0x00u, CR_PLL1RDY, 0u, "RCC_CR.PLL1RDY = 0");
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~(3u | (0x3Fu << 4)))
                  | 0u                 /* PLLSRC = HSI */
                  | (4u << 4);         /* DIVM1 = 4: 16 MHz reference */
    RCC_PLL1DIVR = (35u - 1u)          /* DIVN1: x35, VCO 560 MHz */
                 | ((2u - 1u) << 9)    /* DIVP1: /2, 280 MHz */
                 | ((2u - 1u) << 16)   /* DIVQ1: /2 */
                 | ((2u - 1u) << 24);  /* DIVR1: /2 */
    RCC_PLLCFGR &= ~PLLCFGR_PLL1FRACEN;
    RCC_PLL1FRACR = 0u;
    RCC_PLLCFGR = (RCC_PLLCFGR & ~(3u << PLLCFGR_PLL1RGE_SHIFT))
                | (3u << PLLCFGR_PLL1RGE_SHIFT);               /* 8-16 MHz input */
    RCC_PLLCFGR &= ~PLLCFGR_PLL1VCOSEL;                        /* wide VCO range */
    RCC_PLLCFGR |= PLLCFGR_DIVP1EN | PLLCFGR_DIVQ1EN | PLLCFGR_DIVR1EN;
    RCC_PLLCFGR |= PLLCFGR_PLL1FRACEN;
    RCC_CR |= CR_PLL1ON;
    su_wait(RCC_BASE + 0x00u, CR_PLL1RDY, CR_PLL1RDY, "RCC_CR.PLL1RDY");

    /* 4. flash latency and programming delay first, bus dividers up, then the switch */
    FLASH_ACR = (FLASH_ACR & ~0x3Fu) | 6u | (3u << 4);
    su_wait(FLASH_ACR_ADDR, 0xFu, 6u, "FLASH_ACR.LATENCY = 6");
    RCC_CDCFGR1 = (RCC_CDCFGR1 & ~(7u << 4)) | (4u << 4);      /* CDPPRE (APB3) /2 */
    RCC_CDCFGR2 = (RCC_CDCFGR2 & ~(7u << 4)) | (4u << 4);      /* CDPPRE1 (APB1) /2 */
    RCC_CDCFGR2 = (RCC_CDCFGR2 & ~(7u << 8)) | (4u << 8);      /* CDPPRE2 (APB2) /2 */
    RCC_SRDCFGR = (RCC_SRDCFGR & ~(7u << 4)) | (4u << 4);      /* SRDPPRE (APB4) /2 */
    RCC_CDCFGR1 &= ~0xFu;                                      /* HPRE /1 */
    RCC_CDCFGR1 &= ~(0xFu << 8);                               /* CDCPRE /1 */
    RCC_CFGR = (RCC_CFGR & ~CFGR_SW_MASK) | CFGR_SW_PLL1;
    su_wait(RCC_BASE + 0x10u, 7u << CFGR_SWS_SHIFT, CFGR_SW_PLL1 << CFGR_SWS_SHIFT,
            "RCC_CFGR.SWS = PLL1");

    SystemCoreClock = su_cpu_clock_hz();
    HAL_InitTick(uwTickPrio);
}

void MX_GPIO_Init(void)
{
    RCC_AHB4ENR |= 1u << 1;            /* GPIOBEN */
    (void)RCC_AHB4ENR;
    HAL_GPIO_WritePin(GPIOB_BASE, 0u, 0);
    su_gpio_init(GPIOB_BASE, 0u, GPIO_MODE_OUTPUT, 0u, 0u);
}

void MX_UART_Init(void)
{
    RCC_CDCCIP2R &= ~7u;               /* USART234578SEL = rcc_pclk1 */
    RCC_APB1LENR |= 1u << 18;          /* USART3EN */
    (void)RCC_APB1LENR;
    RCC_AHB4ENR |= 1u << 3;            /* GPIODEN */
    (void)RCC_AHB4ENR;
    su_gpio_init(GPIOD_BASE, 8u, GPIO_MODE_AF, 0u, 7u);    /* PD8 USART3_TX */
    su_gpio_init(GPIOD_BASE, 9u, GPIO_MODE_AF, 0u, 7u);    /* PD9 USART3_RX */
    su_uart_init(USART3_BASE, su_uart_brr(su_uart_kernel_hz(), 0));
}

void su_post_init(void) { }

void su_report(void)
{
    printf("flash_acr=0x%08lx pwr_cr3=0x%08lx pwr_srdcr=0x%08lx pwr_csr1=0x%08lx "
           "rcc_cfgr=0x%08lx rcc_cdcfgr1=0x%08lx scb_ccr=0x%08lx\n",
           (unsigned long)FLASH_ACR, (unsigned long)PWR_CR3, (unsigned long)PWR_SRDCR,
           (unsigned long)PWR_CSR1, (unsigned long)RCC_CFGR, (unsigned long)RCC_CDCFGR1,
           (unsigned long)SCB_CCR);
    printf("pclk4_hz=%lu\n", (unsigned long)su_pclk_hz(4));
}
