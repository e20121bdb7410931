/*
 * su_stm32.h -- CubeMX-style start-up applications (issue 10): what the common code
 * (su_*.c) and the family files (l4r5.c, g0b1.c, h7a3.c, u585.c) share.
 *
 * Written for mcusim from the STM32 reference manuals (RM0432 STM32L4+, RM0444 STM32G0x1,
 * RM0455 STM32H7A3/B3, RM0456 STM32U5) and the Arm architecture manuals; register
 * addresses and bit positions are facts of those documents. No ST HAL/CMSIS code is used:
 * the function names follow CubeMX projects (HAL_Init, SystemClock_Config, HAL_Delay,
 * MX_GPIO_Init, ...) so the program has the shape of a generated project, but every body
 * is our own.
 *
 * Build variants: -DSU_SKIP_CLOCK_CONFIG leaves out the SystemClock_Config() call, so the
 * program runs at the part's reset clock (MSI 4 MHz on L4/U5, HSI16 on G0, HSI 64 MHz on H7).
 */
#ifndef SU_STM32_H
#define SU_STM32_H
#include <stdint.h>
#include "cortexm.h"

/* ---------------------------------------------------------------- HAL-like core */
#define HAL_MAX_DELAY 0xFFFFFFFFu
extern volatile uint32_t uwTick;          /* ms ticks, incremented by SysTick_Handler */
extern uint32_t uwTickPrio;
extern uint32_t SystemCoreClock;          /* the CPU clock (Hz) the software believes in */

void HAL_Init(void);
void HAL_InitTick(uint32_t priority);
void HAL_IncTick(void);
uint32_t HAL_GetTick(void);
void HAL_Delay(uint32_t ms);               /* waits at least ms milliseconds (one tick more) */
void HAL_MspInit(void);                    /* family: clocks of SYSCFG/PWR, ... */
void SystemInit(void);                     /* su_system.c: CPACR, VTOR */
void SystemCoreClockUpdate(void);          /* su_system.c: from the RCC registers */
void Error_Handler(const char *what) __attribute__((noreturn));

/* Bounded wait: until (*reg & mask) == value, at most SU_WAIT_LOOPS reads; on timeout
 * Error_Handler(what) (prints the register and exits 1). On silicon every flag waited
 * for here is set within microseconds; the bound only keeps a wrong model from hanging. */
#define SU_WAIT_LOOPS 200000u
void su_wait(uint32_t addr, uint32_t mask, uint32_t value, const char *what);

/* NVIC (priority grouping as HAL_NVIC_SetPriorityGrouping(NVIC_PRIORITYGROUP_4)) */
void su_nvic_priority_grouping_4(void);
void su_set_systick_priority(uint32_t prio);

/* Cycle counter: DWT CYCCNT on Armv7-M/Armv8-M Mainline; on Armv6-M (no CYCCNT) the
 * SysTick count (uwTick periods plus the current VAL) -- see su_hal.c. */
void su_cyc_init(void);
uint32_t su_cyc_now(void);
const char *su_cyc_source(void);
/* a short span with IRQs masked (shorter than one SysTick period on Armv6-M) */
void su_span_begin(void);
uint32_t su_span_end(void);
/* cycles of `iterations` passes of a two-instruction loop (subs/bne) in flash, IRQs masked */
uint32_t su_loop_cycles(uint32_t iterations);
/* n passes of that loop (at least 2n cycles): a short busy wait before DWT is set up */
void su_busy_loop(uint32_t n);

/* ---------------------------------------------------------------- GPIO (same IP on all four) */
#define GPIO_MODER(b)   REG32((b) + 0x00u)
#define GPIO_OTYPER(b)  REG32((b) + 0x04u)
#define GPIO_OSPEEDR(b) REG32((b) + 0x08u)
#define GPIO_PUPDR(b)   REG32((b) + 0x0Cu)
#define GPIO_IDR(b)     REG32((b) + 0x10u)
#define GPIO_ODR(b)     REG32((b) + 0x14u)
#define GPIO_BSRR(b)    REG32((b) + 0x18u)
#define GPIO_AFR(b, n)  REG32((b) + 0x20u + 4u * (n))
#define GPIO_MODE_INPUT  0u
#define GPIO_MODE_OUTPUT 1u
#define GPIO_MODE_AF     2u
#define GPIO_MODE_ANALOG 3u
/* HAL_GPIO_Init order: OSPEEDR, OTYPER (outputs/AF), PUPDR, AFR (AF), MODER last */
void su_gpio_init(uint32_t port, uint32_t pin, uint32_t mode, uint32_t speed, uint32_t af);
void HAL_GPIO_WritePin(uint32_t port, uint32_t pin, int level);   /* through BSRR */
void HAL_GPIO_TogglePin(uint32_t port, uint32_t pin);             /* ODR read, BSRR write */
int HAL_GPIO_ReadPin(uint32_t port, uint32_t pin);                /* IDR */

/* ---------------------------------------------------------------- U(S)ART (same IP) */
#define USART_CR1(b)   REG32((b) + 0x00u)
#define USART_CR2(b)   REG32((b) + 0x04u)
#define USART_CR3(b)   REG32((b) + 0x08u)
#define USART_BRR(b)   REG32((b) + 0x0Cu)
#define USART_ISR(b)   REG32((b) + 0x1Cu)
#define USART_ICR(b)   REG32((b) + 0x20u)
#define USART_TDR(b)   REG32((b) + 0x28u)
#define USART_PRESC(b) REG32((b) + 0x2Cu)
#define USART_CR1_UE   (1u << 0)
#define USART_CR1_RE   (1u << 2)
#define USART_CR1_TE   (1u << 3)
#define USART_ISR_TC   (1u << 6)
#define USART_ISR_TXE  (1u << 7)
#define USART_ISR_TEACK (1u << 21)
#define USART_ISR_REACK (1u << 22)
#define SU_BAUD 115200u
/* BRR from the kernel clock: USART (16x oversampling) kernel/baud, LPUART 256*kernel/baud,
 * both rounded to nearest as UART_SetConfig does (PRESC = 1). */
uint32_t su_uart_brr(uint32_t kernel_hz, int lpuart);
/* HAL_UART_Init: UE off, CR1 (8 bit, no parity, TE|RE), CR2 (1 stop), CR3, PRESC, BRR,
 * UE on, wait TEACK and REACK */
void su_uart_init(uint32_t base, uint32_t brr);
void su_uart_putc(char c);
void su_uart_flush(void);                  /* wait TC */
extern uint32_t su_uart_base;

/* ---------------------------------------------------------------- family interface */
struct su_family {
    const char *name;            /* "stm32l4r5" */
    const char *board;           /* "NUCLEO-L4R5ZI" */
    uint32_t reset_hz;           /* clock after reset */
    uint32_t max_hz;             /* what SystemClock_Config configures */
    uint32_t tick_priority;      /* TICK_INT_PRIORITY: lowest (2 bits on G0, 4 elsewhere) */
    const char *uart_name;
    const char *uart_kernel;     /* name of the kernel clock chosen in RCC */
    int uart_is_lpuart;
    const char *led_name;        /* "PC7 (LD1 green)" */
    uint32_t led_port, led_pin;
};
extern const struct su_family su_fam;

void su_hal_init_family(void);         /* the family part of HAL_Init (flash enables of
                                          hal_conf, H7/U5: SystemCoreClock from RCC) */
void su_pre_hal_init(void);            /* before HAL_Init (H7: L1 caches as CubeMX does) */
void SystemClock_Config(void);
void MX_GPIO_Init(void);               /* LED pin: output push-pull, low speed, no pull */
void MX_UART_Init(void);               /* kernel clock in RCC, pins, BRR from the kernel clock */
void su_post_init(void);               /* after the peripherals (U5: MX_ICACHE_Init) */
uint32_t HAL_RCC_GetSysClockFreq(void);   /* SYSCLK from the RCC registers */
uint32_t HAL_RCC_GetHCLKFreq(void);       /* AHB clock from the RCC registers */
uint32_t su_cpu_clock_hz(void);           /* core clock from the RCC registers (= SystemCoreClock) */
uint32_t su_pclk_hz(int n);               /* APBn clock from the RCC registers (0 if no such bus) */
uint32_t su_uart_kernel_hz(void);         /* the console's kernel clock from RCC selection */
void su_report(void);                     /* family registers: flash, power, caches */

#endif
