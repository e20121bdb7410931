/*
 * su_main.c -- main() of the CubeMX-style start-up applications (the same flow on all four
 * families; the family files supply SystemClock_Config, the MSP and the RCC readers).
 *
 *   [H7: SCB_EnableICache/DCache]  HAL_Init  SystemClock_Config (unless
 *   -DSU_SKIP_CLOCK_CONFIG)  MX_GPIO_Init  MX_<UART>_Init  [U5: MX_ICACHE_Init]
 *
 * then prints, on the console U(S)ART, one line per fact as key=value pairs:
 *
 *   startup: part=<name> board=<board> variant=max-clock|reset-clock core=<target>
 *   sysclk_hz= hclk_hz= cpu_hz= system_core_clock=    HAL_RCC_GetSysClockFreq/GetHCLKFreq
 *                                                      computed from the RCC registers
 *   pclk1_hz= pclk2_hz= pclk3_hz=                     (0 where the bus does not exist)
 *   flash_acr=0x... and the family's power/cache registers (su_report)
 *   uart=<name> uart_kernel=<clock> uart_kernel_hz= uart_brr= baud=115200
 *   systick_load=                                      SysTick LOAD (SystemCoreClock/1000-1)
 *   led=<pin> led_odr_set= led_idr_set= led_odr_toggled= led_idr_toggled=
 *   uart_tx_bytes=8 uart_tx_cycles=                    8 frames sent and TC reached, IRQs masked
 *   loop_iterations=1000 loop_cycles=                  a subs/bne loop in flash, IRQs masked
 *   delay_ms=100 cycles= timer=dwt|systick             HAL_Delay(100) started half-way
 *                                                      through a tick: expect 100.5 ms
 *   host_elapsed_ticks= host_tickfreq=                 the same span by semihosting
 *                                                      SYS_ELAPSED / SYS_TICKFREQ
 *   done
 *
 * and returns 0 (the start-up file exits through semihosting). Cycle counts are core
 * cycles (DWT CYCCNT; SysTick on the Cortex-M0+).
 */
#include <stdio.h>
#include "su_stm32.h"
#include "semihost.h"

#define LOOP_ITERATIONS 1000u      /* < 1 SysTick period even at 4 MHz (3 cycles a pass) */
#define UART_TIMED_BYTES 8u        /* 694 us at 115200 baud: < 1 ms */
#define DELAY_MS 100u

#ifdef SU_SKIP_CLOCK_CONFIG
#define SU_VARIANT "reset-clock"
#else
#define SU_VARIANT "max-clock"
#endif

#if defined(TARGET_CORTEX_M0PLUS)
#define SU_CORE "cortex-m0plus"
#elif defined(TARGET_CORTEX_M4F)
#define SU_CORE "cortex-m4f"
#elif defined(TARGET_CORTEX_M7F)
#define SU_CORE "cortex-m7f"
#else
#define SU_CORE "cortex-m33"
#endif

typedef unsigned long ul;

/* wait for a tick edge, then until SysTick is half-way to the next one */
static void sync_half_tick(void)
{
    uint32_t t = HAL_GetTick();
    while (HAL_GetTick() == t) { }
    uint32_t half = SYST_RVR / 2u;
    while (SYST_CVR > half) { }
}

int main(void)
{
    su_pre_hal_init();
    HAL_Init();
#ifndef SU_SKIP_CLOCK_CONFIG
    SystemClock_Config();
#endif
    MX_GPIO_Init();
    MX_UART_Init();
    su_post_init();
    setvbuf(stdout, NULL, _IONBF, 0);
    su_cyc_init();

    printf("startup: part=%s board=%s variant=%s core=%s\n",
           su_fam.name, su_fam.board, SU_VARIANT, SU_CORE);
    printf("sysclk_hz=%lu hclk_hz=%lu cpu_hz=%lu system_core_clock=%lu\n",
           (ul)HAL_RCC_GetSysClockFreq(), (ul)HAL_RCC_GetHCLKFreq(), (ul)su_cpu_clock_hz(),
           (ul)SystemCoreClock);
    printf("pclk1_hz=%lu pclk2_hz=%lu pclk3_hz=%lu\n",
           (ul)su_pclk_hz(1), (ul)su_pclk_hz(2), (ul)su_pclk_hz(3));
    su_report();
    printf("uart=%s uart_kernel=%s uart_kernel_hz=%lu uart_brr=%lu baud=%lu\n",
           su_fam.uart_name, su_fam.uart_kernel, (ul)su_uart_kernel_hz(),
           (ul)USART_BRR(su_uart_base), (ul)SU_BAUD);
    printf("systick_load=%lu\n", (ul)SYST_RVR);

    /* LED: set through BSRR, read ODR and the pin (IDR), toggle, read again */
    uint32_t port = su_fam.led_port, pin = su_fam.led_pin;
    HAL_GPIO_WritePin(port, pin, 1);
    int odr_set = (int)((GPIO_ODR(port) >> pin) & 1u);
    int idr_set = HAL_GPIO_ReadPin(port, pin);
    HAL_GPIO_TogglePin(port, pin);
    int odr_tog = (int)((GPIO_ODR(port) >> pin) & 1u);
    int idr_tog = HAL_GPIO_ReadPin(port, pin);
    printf("led=%s led_odr_set=%d led_idr_set=%d led_odr_toggled=%d led_idr_toggled=%d\n",
           su_fam.led_name, odr_set, idr_set, odr_tog, idr_tog);

    /* UART line time: 8 frames from an idle line until TC */
    static const char frame[UART_TIMED_BYTES] = { '-', '-', '-', '-', '-', '-', '-', '\n' };
    su_uart_flush();
    su_span_begin();
    for (uint32_t i = 0; i < UART_TIMED_BYTES; i++)
        su_uart_putc(frame[i]);
    su_uart_flush();
    uint32_t uart_cycles = su_span_end();
    printf("uart_tx_bytes=%lu uart_tx_cycles=%lu\n", (ul)UART_TIMED_BYTES, (ul)uart_cycles);

    /* DWT-timed loop */
    uint32_t loop = su_loop_cycles(LOOP_ITERATIONS);
    printf("loop_iterations=%lu loop_cycles=%lu\n", (ul)LOOP_ITERATIONS, (ul)loop);

    /* blink with HAL_Delay, timed by the cycle counter and by the semihosting host clock */
    HAL_GPIO_TogglePin(port, pin);
    sync_half_tick();
    uint64_t e0 = 0, e1 = 0;
    int eok = sh_elapsed(&e0) == 0;
    uint32_t c0 = su_cyc_now();
    HAL_Delay(DELAY_MS);
    uint32_t c1 = su_cyc_now();
    eok = (sh_elapsed(&e1) == 0) && eok;
    int freq = sh_tickfreq();
    HAL_GPIO_TogglePin(port, pin);
    printf("delay_ms=%lu cycles=%lu timer=%s\n", (ul)DELAY_MS, (ul)(c1 - c0), su_cyc_source());
    if (eok && freq > 0)
        printf("host_elapsed_ticks=%lu host_tickfreq=%lu\n", (ul)(uint32_t)(e1 - e0), (ul)freq);
    else
        printf("host_elapsed_ticks=unsupported\n");
    printf("ticks=%lu\n", (ul)HAL_GetTick());
    printf("done\n");
    su_uart_flush();
    return 0;
}
