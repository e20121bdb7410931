/*
 * uart.h -- polled driver for the console U(S)ART of the STM32 target (USARTv2/v3 IP of
 * STM32G0/L4/H7/U5: CR1 0x00, BRR 0x0C, ISR 0x1C, ICR 0x20, RDR 0x24, TDR 0x28).
 * uart_init() enables the bus clock in RCC, muxes the Nucleo virtual-COM-port pins to
 * the alternate function (skip with -DCONSOLE_SKIP_PINMUX), sets 115200 8N1 from the
 * post-reset kernel clock and enables TE/RE.
 */
#ifndef UART_H
#define UART_H
#include <stdint.h>
#include "target.h"

#define USART_CR1 (CONSOLE_BASE + 0x00u)
#define USART_CR2 (CONSOLE_BASE + 0x04u)
#define USART_CR3 (CONSOLE_BASE + 0x08u)
#define USART_BRR (CONSOLE_BASE + 0x0Cu)
#define USART_ISR (CONSOLE_BASE + 0x1Cu)
#define USART_ICR (CONSOLE_BASE + 0x20u)
#define USART_RDR (CONSOLE_BASE + 0x24u)
#define USART_TDR (CONSOLE_BASE + 0x28u)

#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_ISR_ORE  (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TC   (1u << 6)
#define USART_ISR_TXE  (1u << 7)
#define USART_ICR_ORECF (1u << 3)

#define CONSOLE_BAUD 115200u

void uart_init(void);
void uart_putc(char c);
void uart_puts(const char *s);
int uart_getc(void);      /* blocks until a byte arrives */
void uart_flush(void);    /* waits for TC */

#endif
