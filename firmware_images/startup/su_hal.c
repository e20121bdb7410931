/*
 * su_hal.c -- the parts of a CubeMX project's HAL that every family shares, written from
 * the Armv6-M/Armv7-M/Armv8-M ARMs (SysTick B3.3, NVIC/SCB B3.4/B3.2, DWT C1.8) and the
 * STM32 GPIO and USART chapters (the same IP on L4+, G0, H7A3 and U5):
 *
 *   HAL_Init          family flash/cache enables (hal_conf defaults), NVIC priority
 *                     grouping 4 (all bits preemption; not on Armv6-M, which has none),
 *                     the 1 kHz SysTick time base at SystemCoreClock, HAL_MspInit;
 *   HAL_InitTick      SysTick LOAD = SystemCoreClock / 1000 - 1, VAL = 0, processor clock,
 *                     TICKINT, ENABLE; SysTick priority = TICK_INT_PRIORITY (lowest);
 *   HAL_GetTick/HAL_Delay  uwTick in ms; HAL_Delay(n) waits until n + 1 ticks have
 *                     passed, so it lasts at least n ms and at most n + 1 ms;
 *   GPIO              HAL_GPIO_Init order of writes, WritePin/TogglePin through BSRR;
 *   U(S)ART           HAL_UART_Init order (UE off, CR1/CR2/CR3, PRESC, BRR, UE on, wait
 *                     TEACK/REACK), polled transmit;
 *   cycle counter     DWT CYCCNT, or SysTick on Armv6-M.
 */
#include "su_stm32.h"
#include "semihost.h"

volatile uint32_t uwTick;
uint32_t uwTickPrio = 0xFFFFFFFFu;
uint32_t su_uart_base;

/* ---------------------------------------------------------------- errors and waits */
static void su_hex(char *out, uint32_t v)
{
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 8; i++) {
        uint32_t d = (v >> (28 - 4 * i)) & 0xFu;
        out[2 + i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    }
    out[10] = 0;
}

void Error_Handler(const char *what)
{
    /* CubeMX's Error_Handler masks interrupts and loops; here the reason goes to the
     * semihosting stderr (the UART may not be set up yet) and the run ends with status 1. */
    cpu_disable_irq();
    err_str("error: ");
    err_str(what);
    err_str("\n");
    sh_exit_status(1);
}

void su_wait(uint32_t addr, uint32_t mask, uint32_t value, const char *what)
{
    for (uint32_t i = 0; i < SU_WAIT_LOOPS; i++)
        if ((REG32(addr) & mask) == value)
            return;
    char a[11], v[11];
    su_hex(a, addr);
    su_hex(v, REG32(addr));
    err_str("error: timeout waiting for ");
    err_str(what);
    err_str(" (register ");
    err_str(a);
    err_str(" reads ");
    err_str(v);
    err_str(")\n");
    Error_Handler("SystemClock_Config/peripheral init failed");
}

/* ---------------------------------------------------------------- NVIC, SysTick, ticks */
void su_nvic_priority_grouping_4(void)
{
#if !ARCH_V6M
    /* AIRCR: VECTKEY 0x05FA in [31:16], PRIGROUP [10:8] = 3: group priority = bits [7:4] */
    uint32_t v = SCB_AIRCR & ~((0xFFFFu << 16) | (7u << 8));
    SCB_AIRCR = v | (0x05FAu << 16) | (3u << 8);
#endif
}

#if defined(TARGET_CORTEX_M0PLUS)
#define SU_PRIO_BITS 2
#else
#define SU_PRIO_BITS 4
#endif

void su_set_systick_priority(uint32_t prio)
{
    /* SHPR3 [31:24] = SysTick; word access (Armv6-M allows no byte access to SHPR) */
    uint32_t v = SCB_SHPR3 & 0x00FFFFFFu;
    SCB_SHPR3 = v | (((prio << (8 - SU_PRIO_BITS)) & 0xFFu) << 24);
}

void HAL_InitTick(uint32_t priority)
{
    SYST_RVR = SystemCoreClock / 1000u - 1u;
    SYST_CVR = 0;
    su_set_systick_priority((1u << SU_PRIO_BITS) - 1u);
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    su_set_systick_priority(priority);
    uwTickPrio = priority;
}

void HAL_Init(void)
{
    su_hal_init_family();
    su_nvic_priority_grouping_4();
    HAL_InitTick(su_fam.tick_priority);
    HAL_MspInit();
}

void HAL_IncTick(void) { uwTick += 1u; }          /* uwTickFreq = 1 kHz */

uint32_t HAL_GetTick(void) { return uwTick; }

void SysTick_Handler(void) { HAL_IncTick(); }

void HAL_Delay(uint32_t ms)
{
    uint32_t start = HAL_GetTick();
    uint32_t wait = ms;
    if (wait < HAL_MAX_DELAY)
        wait += 1u;                                  /* one tick more: at least ms */
    while ((HAL_GetTick() - start) < wait) { }
}

/* ---------------------------------------------------------------- cycle counter */
void su_cyc_init(void)
{
#if !ARCH_V6M
    DEMCR |= DEMCR_TRCENA;
#if defined(TARGET_CORTEX_M7F)
    DWT_LAR = CORESIGHT_UNLOCK_KEY;                  /* Cortex-M7 DWT software lock */
#endif
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
#endif
}

const char *su_cyc_source(void) { return ARCH_V6M ? "systick" : "dwt"; }

uint32_t su_cyc_now(void)
{
#if !ARCH_V6M
    return DWT_CYCCNT;
#else
    /* SysTick counts processor cycles down from LOAD: cycles = ticks * (LOAD + 1) +
     * (LOAD - VAL). Re-read when a tick interrupt came in between; a wrap whose interrupt
     * is still pending (ICSR.PENDSTSET) counts as a tick. Used only with VAL far from a
     * wrap or right after the tick interrupt, as the caller arranges. */
    uint32_t t, v, pend;
    do {
        t = uwTick;
        v = SYST_CVR;
        pend = SCB_ICSR & ICSR_PENDSTSET;
    } while (t != uwTick);
    uint32_t period = SYST_RVR + 1u;
    uint32_t c = t * period + (period - 1u - v);
    if (pend && v > period / 2u)
        c += period;
    return c;
#endif
}

/* two instructions, 16-byte aligned so the loop sits in one flash line on every part */
__attribute__((noinline, aligned(16))) void su_busy_loop(uint32_t n)
{
#if ARCH_V6M
    __asm__ volatile("1: sub %0, #1\n\tbne 1b" : "+l"(n) : : "cc");   /* divided syntax: SUBS */
#else
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
#endif
}

/* A short span with interrupts masked: DWT CYCCNT difference, or on Armv6-M the SysTick
 * VAL difference (the span must be shorter than one SysTick period). */
static uint32_t span_start;

void su_span_begin(void)
{
    cpu_disable_irq();
#if !ARCH_V6M
    span_start = DWT_CYCCNT;
#else
    span_start = SYST_CVR;
#endif
}

uint32_t su_span_end(void)
{
#if !ARCH_V6M
    uint32_t d = DWT_CYCCNT - span_start;
#else
    uint32_t v1 = SYST_CVR, period = SYST_RVR + 1u;
    uint32_t d = span_start >= v1 ? span_start - v1 : span_start + period - v1;
#endif
    cpu_enable_irq();
    return d;
}

uint32_t su_loop_cycles(uint32_t iterations)
{
    su_span_begin();
    su_busy_loop(iterations);
    return su_span_end();
}

/* ---------------------------------------------------------------- GPIO */
void su_gpio_init(uint32_t port, uint32_t pin, uint32_t mode, uint32_t speed, uint32_t af)
{
    uint32_t two = 2u * pin;
    if (mode == GPIO_MODE_OUTPUT || mode == GPIO_MODE_AF) {
        GPIO_OSPEEDR(port) = (GPIO_OSPEEDR(port) & ~(3u << two)) | ((speed & 3u) << two);
        GPIO_OTYPER(port) &= ~(1u << pin);                         /* push-pull */
    }
    GPIO_PUPDR(port) &= ~(3u << two);                              /* no pull */
    if (mode == GPIO_MODE_AF) {
        uint32_t n = pin >> 3, sh = 4u * (pin & 7u);
        GPIO_AFR(port, n) = (GPIO_AFR(port, n) & ~(0xFu << sh)) | ((af & 0xFu) << sh);
    }
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(3u << two)) | (mode << two);
}

void HAL_GPIO_WritePin(uint32_t port, uint32_t pin, int level)
{
    GPIO_BSRR(port) = level ? (1u << pin) : (1u << (pin + 16u));
}

void HAL_GPIO_TogglePin(uint32_t port, uint32_t pin)
{
    uint32_t odr = GPIO_ODR(port);
    uint32_t m = 1u << pin;
    GPIO_BSRR(port) = ((odr & m) << 16) | (~odr & m);
}

int HAL_GPIO_ReadPin(uint32_t port, uint32_t pin)
{
    return (int)((GPIO_IDR(port) >> pin) & 1u);
}

/* ---------------------------------------------------------------- U(S)ART */
uint32_t su_uart_brr(uint32_t kernel_hz, int lpuart)
{
    if (lpuart)
        return (uint32_t)(((uint64_t)kernel_hz * 256u + SU_BAUD / 2u) / SU_BAUD);
    return (kernel_hz + SU_BAUD / 2u) / SU_BAUD;
}

void su_uart_init(uint32_t base, uint32_t brr)
{
    USART_CR1(base) &= ~USART_CR1_UE;
    USART_CR1(base) = USART_CR1_TE | USART_CR1_RE;   /* 8 data bits, no parity, 16x */
    USART_CR2(base) = 0;                             /* 1 stop bit */
    USART_CR3(base) = 0;
    USART_PRESC(base) = 0;                           /* kernel clock / 1 */
    USART_BRR(base) = brr;
    USART_CR1(base) |= USART_CR1_UE;
    su_wait(base + 0x1Cu, USART_ISR_TEACK, USART_ISR_TEACK, "USART ISR.TEACK");
    su_wait(base + 0x1Cu, USART_ISR_REACK, USART_ISR_REACK, "USART ISR.REACK");
    su_uart_base = base;
}

void su_uart_putc(char c)
{
    while (!(USART_ISR(su_uart_base) & USART_ISR_TXE)) { }
    USART_TDR(su_uart_base) = (uint8_t)c;
}

void su_uart_flush(void)
{
    while (!(USART_ISR(su_uart_base) & USART_ISR_TC)) { }
}
