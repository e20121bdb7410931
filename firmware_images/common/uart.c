#include "uart.h"
#include "cortexm.h"

void uart_init(void)
{
    REG32(CONSOLE_CLK_EN_REG) |= CONSOLE_CLK_EN_BIT;
    (void)REG32(CONSOLE_CLK_EN_REG);          /* read back: delay after clock enable */
#ifndef CONSOLE_SKIP_PINMUX
#if defined(CONSOLE_NEEDS_VDDIO2)
    /* STM32L4R5: PG[15:2] are on VDDIO2, isolated until PWR_CR2.IOSV is set. */
    REG32(RCC_BASE + 0x58u) |= 1u << 28;       /* RCC_APB1ENR1.PWREN */
    (void)REG32(RCC_BASE + 0x58u);
    REG32(0x40007004u) |= 1u << 9;             /* PWR_CR2.IOSV */
#endif
    REG32(CONSOLE_GPIO_EN_REG) |= CONSOLE_GPIO_EN_BIT;
    (void)REG32(CONSOLE_GPIO_EN_REG);
    const uint32_t pins[2] = { CONSOLE_TX_PIN, CONSOLE_RX_PIN };
    for (int i = 0; i < 2; i++) {
        uint32_t p = pins[i];
        uint32_t moder = REG32(CONSOLE_GPIO_BASE + 0x00u);
        moder = (moder & ~(3u << (2 * p))) | (2u << (2 * p));       /* alternate function */
        REG32(CONSOLE_GPIO_BASE + 0x00u) = moder;
        uint32_t afr_off = p < 8 ? 0x20u : 0x24u;                   /* AFRL / AFRH */
        uint32_t sh = 4u * (p & 7u);
        uint32_t afr = REG32(CONSOLE_GPIO_BASE + afr_off);
        afr = (afr & ~(0xFu << sh)) | ((uint32_t)CONSOLE_AF << sh);
        REG32(CONSOLE_GPIO_BASE + afr_off) = afr;
    }
#endif
    REG32(USART_CR1) = 0;                      /* UE = 0 while configuring */
#if CONSOLE_IS_LPUART
    REG32(USART_BRR) = (uint32_t)(((uint64_t)CONSOLE_KERNEL_HZ * 256u + CONSOLE_BAUD / 2)
                                  / CONSOLE_BAUD);
#else
    REG32(USART_BRR) = (CONSOLE_KERNEL_HZ + CONSOLE_BAUD / 2) / CONSOLE_BAUD;
#endif
    REG32(USART_CR1) = USART_CR1_TE | USART_CR1_RE | USART_CR1_UE;
}

void uart_putc(char c)
{
    while (!(REG32(USART_ISR) & USART_ISR_TXE)) { }
    REG32(USART_TDR) = (uint8_t)c;
}

void uart_puts(const char *s)
{
    while (*s) {
        if (*s == '\n') uart_putc('\r');
        uart_putc(*s++);
    }
}

int uart_getc(void)
{
    for (;;) {
        uint32_t isr = REG32(USART_ISR);
        if (isr & USART_ISR_RXNE)
            return (int)(REG32(USART_RDR) & 0xFFu);
        if (isr & USART_ISR_ORE)
            REG32(USART_ICR) = USART_ICR_ORECF;
    }
}

void uart_flush(void)
{
    while (!(REG32(USART_ISR) & USART_ISR_TC)) { }
}
