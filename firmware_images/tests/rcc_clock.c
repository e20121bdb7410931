/*
 * rcc_clock (cortex-m4f, STM32L4R5, RM0432) -- HAL-like switch from MSI 4 MHz to the PLL
 * at 120 MHz (range 1 boost):
 *   RCC_APB1ENR1.PWREN; PWR_CR1.VOS = range 1, wait PWR_SR2.VOSF = 0;
 *   RCC_CR.HSION, wait HSIRDY; PLL off, RCC_PLLCFGR = HSI16 / M2 * N30 / R2 (PLLREN),
 *   PLLON, wait PLLRDY; AHB /2 for the transition; PWR_CR5.R1MODE = 0 (boost);
 *   FLASH_ACR = LATENCY 5 | PRFTEN | ICEN | DCEN, wait until it reads back;
 *   RCC_CFGR.SW = PLL, wait SWS = PLL; after >= 1 us, AHB /1.
 * Every wait is bounded; a timeout prints which and exits 1. Prints "clock ok" and exits 0.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"

#define RCC_CR       REG32(0x40021000u)
#define RCC_CFGR     REG32(0x40021008u)
#define RCC_PLLCFGR  REG32(0x4002100Cu)
#define RCC_APB1ENR1 REG32(0x40021058u)
#define PWR_CR1      REG32(0x40007000u)
#define PWR_SR2      REG32(0x40007014u)
#define PWR_CR5      REG32(0x40007080u)
#define FLASH_ACR    REG32(0x40022000u)

#define RCC_CR_HSION   (1u << 8)
#define RCC_CR_HSIRDY  (1u << 10)
#define RCC_CR_PLLON   (1u << 24)
#define RCC_CR_PLLRDY  (1u << 25)
#define RCC_CFGR_SW_MASK  (3u << 0)
#define RCC_CFGR_SW_PLL   (3u << 0)
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL  (3u << 2)
#define RCC_CFGR_HPRE_MASK (0xFu << 4)
#define RCC_CFGR_HPRE_DIV2 (0x8u << 4)
#define RCC_PLLCFGR_PLLSRC_HSI (2u << 0)
#define RCC_PLLCFGR_PLLM(m)  (((m) - 1u) << 4)     /* L4+: PLLM[7:4] */
#define RCC_PLLCFGR_PLLN(n)  ((n) << 8)            /* PLLN[14:8] */
#define RCC_PLLCFGR_PLLREN   (1u << 24)
#define RCC_PLLCFGR_PLLR_DIV2 (0u << 25)           /* PLLR[26:25]: 00 = /2 */
#define RCC_APB1ENR1_PWREN (1u << 28)
#define PWR_CR1_VOS_MASK   (3u << 9)
#define PWR_CR1_VOS_RANGE1 (1u << 9)
#define PWR_SR2_VOSF       (1u << 10)
#define PWR_CR5_R1MODE     (1u << 8)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN   (1u << 9)
#define FLASH_ACR_DCEN   (1u << 10)

#define TIMEOUT 100000u

static int wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t value, const char *what)
{
    for (uint32_t i = 0; i < TIMEOUT; i++)
        if ((*reg & mask) == value) return 0;
    out_str("timeout waiting for ");
    out_str(what);
    out_str("\n");
    return 1;
}

int main(void)
{
    out_str("rcc_clock on " TARGET_NAME " (STM32L4R5)\n");

    RCC_APB1ENR1 |= RCC_APB1ENR1_PWREN;
    (void)RCC_APB1ENR1;
    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | PWR_CR1_VOS_RANGE1;
    if (wait_bits(&PWR_SR2, PWR_SR2_VOSF, 0, "PWR_SR2.VOSF = 0")) return 1;

    RCC_CR |= RCC_CR_HSION;
    if (wait_bits(&RCC_CR, RCC_CR_HSIRDY, RCC_CR_HSIRDY, "RCC_CR.HSIRDY")) return 1;

    RCC_CR &= ~RCC_CR_PLLON;
    if (wait_bits(&RCC_CR, RCC_CR_PLLRDY, 0, "RCC_CR.PLLRDY = 0")) return 1;
    RCC_PLLCFGR = RCC_PLLCFGR_PLLSRC_HSI | RCC_PLLCFGR_PLLM(2) | RCC_PLLCFGR_PLLN(30) |
                  RCC_PLLCFGR_PLLR_DIV2 | RCC_PLLCFGR_PLLREN;
    RCC_CR |= RCC_CR_PLLON;
    if (wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY, "RCC_CR.PLLRDY")) return 1;

    /* above 80 MHz: AHB /2 during the transition, then range 1 boost */
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_HPRE_MASK) | RCC_CFGR_HPRE_DIV2;
    PWR_CR5 &= ~PWR_CR5_R1MODE;

    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | 5u |
                FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    if (wait_bits(&FLASH_ACR, FLASH_ACR_LATENCY_MASK, 5u, "FLASH_ACR.LATENCY = 5")) return 1;

    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL;
    if (wait_bits(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL, "RCC_CFGR.SWS = PLL"))
        return 1;

    for (volatile int i = 0; i < 100; i++) { }        /* >= 1 us at 60 MHz HCLK */
    RCC_CFGR &= ~RCC_CFGR_HPRE_MASK;

    check_eq("RCC_CFGR.SWS", RCC_CFGR & RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL);
    check_eq("RCC_CFGR.HPRE", RCC_CFGR & RCC_CFGR_HPRE_MASK, 0);
    check_eq("FLASH_ACR", FLASH_ACR & 0x70Fu, 0x705u);
    check_eq("PWR_CR5.R1MODE (boost)", PWR_CR5 & PWR_CR5_R1MODE, 0);
    check_eq("PWR_CR1.VOS", PWR_CR1 & PWR_CR1_VOS_MASK, PWR_CR1_VOS_RANGE1);
    if (test_done("rcc_clock") != 0) return 1;
    out_str("clock ok\n");
    return 0;
}
