/*
 * infer_main.c -- the inference image: mcusim's int8 runtime (firmware_images/runtime)
 * running whatever .tflite mcusim places in the model slot.
 *
 * Two modes, chosen by mcusim_config[0] (docs/CONTRACTS.md, "Inference firmware ABI"):
 *   0  batch: copy mcusim_input into the input tensor, run mcusim_config[1] inferences
 *      (after mcusim_config[2] warm-ups), each inside MCUSIM window 1, copy the output
 *      tensor to mcusim_output, exit 0 through semihosting.
 *   1  the MLPerf Tiny (EEMBC) device protocol over the console UART, as the benchmark
 *      runner speaks it: name% profile% db load N% db HEX% infer N W% results%.
 * Errors: ERROR_ARG then ERROR in the simulator control block, and exit with the code.
 */
#include <stdint.h>
#include <string.h>

#include "mcrt.h"
#include "mcusim_dev.h"
#include "semihost.h"
#include "uart.h"

#define INPUT_CAPACITY 27648u   /* the EEMBC runner's largest input (vww01: 96x96x3) */
#define OUTPUT_CAPACITY 4096u

/* Written by mcusim into the image before reset: initialised data, so the values travel
 * in the .data load image and the startup code copies them to RAM. */
__attribute__((section(".data"))) volatile uint32_t mcusim_config[4] = {0, 1, 0, 0};
__attribute__((section(".data"))) volatile uint32_t mcusim_model_len = 0;
__attribute__((section(".data"))) volatile uint32_t mcusim_input_len = 0;
__attribute__((section(".data"))) uint8_t mcusim_input[INPUT_CAPACITY] = {1};
const uint32_t mcusim_input_capacity = INPUT_CAPACITY;

uint8_t mcusim_output[OUTPUT_CAPACITY];
volatile uint32_t mcusim_output_len;

extern uint8_t __model_slot_start[], __model_slot_end[];
extern uint8_t __arena_start[], __arena_end[];

static mcrt_ctx_t ctx;

static void fail(int code, uint32_t arg)
{
    MCUSIM_ERROR_ARG = arg;
    MCUSIM_ERROR = (uint32_t)code;
    sh_exit_status(code);
}

static int setup(void)
{
    uint32_t cap = (uint32_t)(__model_slot_end - __model_slot_start);
    uint32_t len = mcusim_model_len;
    if (len == 0 || len > cap)
        fail(MCUSIM_ERR_MODEL_SLOT, len);
    int rc = mcrt_init(&ctx, __model_slot_start, len, __arena_start,
                       (uint32_t)(__arena_end - __arena_start));
    if (rc)
        fail(rc, mcrt_error_arg(&ctx));
    MCUSIM_ARENA_BYTES = mcrt_arena_used(&ctx);
    return 0;
}

static void run_once(void)
{
    int rc = mcrt_invoke(&ctx);
    if (rc)
        fail(rc, mcrt_error_arg(&ctx));
}

/* ------------------------------------------------------------------ batch mode */
static void batch(void)
{
    uint32_t need = mcrt_input_bytes(&ctx, 0);
    if (mcusim_input_len != need)
        fail(MCUSIM_ERR_INPUT, need);
    /* The planner may reuse the input tensor's bytes for later layers (as TFLM's does):
     * load the input before every inference, outside the measured window. */
    for (uint32_t i = 0; i < mcusim_config[2]; i++) {
        memcpy(mcrt_input(&ctx, 0), (const void *)mcusim_input, need);
        run_once();
    }
    uint32_t n = mcusim_config[1] ? mcusim_config[1] : 1;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(mcrt_input(&ctx, 0), (const void *)mcusim_input, need);
        MCUSIM_WINDOW_BEGIN(1);
        run_once();
        MCUSIM_WINDOW_END(1);
    }
    uint32_t out = mcrt_output_bytes(&ctx, 0);
    if (out > OUTPUT_CAPACITY)
        out = OUTPUT_CAPACITY;
    memcpy(mcusim_output, mcrt_output(&ctx, 0), out);
    mcusim_output_len = out;
    sh_exit_status(0);
}

/* ------------------------------------------------------------------ EEMBC protocol */
static void puts_(const char *s) { uart_puts(s); }

static void put_udec(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    puts_(&b[i]);
}

/* x >= 0 printed with 3 decimals, rounded half up (the runner parses floats). */
static void put_fixed3(float x)
{
    if (x < 0) {
        puts_("-");
        x = -x;
    }
    uint32_t m = (uint32_t)(x * 1000.0f + 0.5f);
    put_udec(m / 1000u);
    puts_(".");
    uint32_t f = m % 1000u;
    char b[4] = {(char)('0' + f / 100u), (char)('0' + f / 10u % 10u), (char)('0' + f % 10u), 0};
    puts_(b);
}

static uint64_t cyc_hi;
static uint32_t cyc_last;

static uint64_t cycles64(void)
{
    /* DWT CYCCNT, extended to 64 bits (called often enough not to miss two wraps). */
    uint32_t c = *(volatile uint32_t *)0xE0001004u;
    if (c < cyc_last)
        cyc_hi += 1ull << 32;
    cyc_last = c;
    return cyc_hi | c;
}

static uint32_t micros(void)
{
    uint32_t hz = mcusim_config[3] ? mcusim_config[3] : 1000000u;
    return (uint32_t)(cycles64() * 1000000ull / hz);
}

static const char *model_tag(uint32_t in_bytes)
{
    switch (in_bytes) {
    case 490: return "kws01";
    case 27648: return "vww01";
    case 3072: return "ic01";
    case 640: return "ad01";
    default: return "unknown";
    }
}

static uint32_t db_expect, db_have;

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static uint32_t parse_u(const char **p)
{
    uint32_t v = 0;
    while (**p == ' ') (*p)++;
    while (**p >= '0' && **p <= '9') v = v * 10u + (uint32_t)(*(*p)++ - '0');
    return v;
}

/* The input tensor's bytes, converted once per `infer` command from the db buffer as the
 * reference firmware's th_load_tensor does (before the warm-ups, outside the timed laps):
 * kws int8 as sent; vww/ic uint8 pixels - 128, converted in place (db_staged: once per
 * db load); ad float32 quantised into the db buffer's unused tail (the 2560 bytes of
 * floats stay for the MSE; no RAM beyond the buffer). */
static uint32_t db_staged;

static const int8_t *stage_input(void)
{
    uint32_t need = mcrt_input_bytes(&ctx, 0);
    const mcrt_tensor_t *t = &ctx.t[ctx.inputs[0]];
    if (need == 640 && db_have >= 2560) {            /* ad: float32 -> int8 */
        int8_t *staged = (int8_t *)&mcusim_input[2560];
        for (uint32_t i = 0; i < 640; i++) {
            float x;
            memcpy(&x, &mcusim_input[4 * i], 4);
            float q = x / t->scale;
            int32_t r = (int32_t)(q >= 0 ? q + 0.5f : q - 0.5f) + t->zero_point;
            staged[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
        }
        return staged;
    }
    if ((need == 27648 || need == 3072) && !db_staged) {   /* vww, ic: uint8 pixels - 128 */
        for (uint32_t i = 0; i < need; i++)
            mcusim_input[i] = (uint8_t)(mcusim_input[i] - 128u);
        db_staged = 1;
    }
    return (const int8_t *)mcusim_input;
}

static void results(void)
{
    const mcrt_tensor_t *t = &ctx.t[ctx.outputs[0]];
    const int8_t *o = (const int8_t *)mcrt_output(&ctx, 0);
    uint32_t n = mcrt_output_bytes(&ctx, 0);
    puts_("m-results-[");
    if (n == 640) {                                   /* ad: MSE vs the float input */
        const mcrt_tensor_t *ti = &ctx.t[ctx.inputs[0]];
        (void)ti;
        float acc = 0;
        for (uint32_t i = 0; i < n; i++) {
            float x;
            memcpy(&x, &mcusim_input[4 * i], 4);
            float y = (float)(o[i] - t->zero_point) * t->scale;
            acc += (x - y) * (x - y);
        }
        put_fixed3(acc / (float)n);
    } else {
        for (uint32_t i = 0; i < n; i++) {
            if (i) puts_(",");
            put_fixed3((float)(o[i] - t->zero_point) * t->scale);
        }
    }
    puts_("]\n");
}

static void command(char *cmd)
{
    if (!strcmp(cmd, "name")) {
        puts_("m-name-dut-[mcusim]\n");
    } else if (!strcmp(cmd, "profile")) {
        puts_("m-profile-[ulp-mlperf]\n");
        puts_("m-model-[");
        puts_(model_tag(mcrt_input_bytes(&ctx, 0)));
        puts_("]\n");
    } else if (!strncmp(cmd, "db load", 7)) {
        const char *p = cmd + 7;
        db_expect = parse_u(&p);
        if (db_expect > INPUT_CAPACITY) db_expect = INPUT_CAPACITY;
        db_have = 0;
        db_staged = 0;
        puts_("m-[Expecting ");
        put_udec(db_expect);
        puts_(" bytes]\n");
    } else if (!strncmp(cmd, "db ", 3)) {
        const char *p = cmd + 3;
        while (p[0] && p[1] && db_have < db_expect) {
            int hi = hexval(p[0]), lo = hexval(p[1]);
            if (hi < 0 || lo < 0) break;
            mcusim_input[db_have++] = (uint8_t)(hi << 4 | lo);
            p += 2;
        }
        if (db_have >= db_expect) puts_("m-load-done\n");
    } else if (!strncmp(cmd, "infer", 5)) {
        const char *p = cmd + 5;
        uint32_t n = parse_u(&p), w = parse_u(&p);
        if (!n) n = 1;
        puts_("m-warmup-start-");
        put_udec(w);
        puts_("\n");
        const int8_t *staged = stage_input();
        uint32_t need = mcrt_input_bytes(&ctx, 0);
        for (uint32_t i = 0; i < w; i++) {
            memcpy(mcrt_input(&ctx, 0), staged, need);
            run_once();
        }
        puts_("m-warmup-done\n");
        puts_("m-infer-start-");
        put_udec(n);
        puts_("\n");
        puts_("m-lap-us-");
        put_udec(micros());
        puts_("\n");
        for (uint32_t i = 0; i < n; i++) {
            /* the planner may reuse the input tensor's bytes for later layers (as TFLM's
             * does), so each inference gets the staged input again: a copy, the only
             * work inside the laps besides the inference (at most 0.03% of it, vww) */
            memcpy(mcrt_input(&ctx, 0), staged, need);
            MCUSIM_WINDOW_BEGIN(1);
            run_once();
            MCUSIM_WINDOW_END(1);
        }
        puts_("m-lap-us-");
        put_udec(micros());
        puts_("\n");
        puts_("m-infer-done\n");
        results();
    } else if (!strcmp(cmd, "results")) {
        results();
    } else if (!strcmp(cmd, "exit")) {
        puts_("m-ready\n");
        uart_flush();
        sh_exit_status(0);
    } else if (cmd[0]) {
        puts_("e-[Unknown command: ");
        puts_(cmd);
        puts_("]\n");
    }
    puts_("m-ready\n");
}

static void protocol(void)
{
    /* cycle counter for m-lap-us */
    *(volatile uint32_t *)0xE000EDFCu |= 1u << 24;   /* DEMCR.TRCENA */
    *(volatile uint32_t *)0xE0001004u = 0;           /* CYCCNT */
    *(volatile uint32_t *)0xE0001000u |= 1u;         /* DWT_CTRL.CYCCNTENA */
    puts_("m-timestamp-mode-performance\n");
    puts_("m-lap-us-");
    put_udec(micros());
    puts_("\n");
    puts_("m-init-done\n");
    puts_("m-ready\n");
    static char line[96];
    uint32_t n = 0;
    for (;;) {
        int c = uart_getc();
        if (c == '%') {
            line[n] = 0;
            command(line);
            n = 0;
        } else if (c == '\r' || c == '\n') {
            /* the runner sends '%' as the terminator; ignore line ends */
        } else if (n < sizeof line - 1) {
            line[n++] = (char)c;
        }
    }
}

/* Caches on, as a deployment's SystemInit/HAL does before running a model: the M7 L1
 * I- and D-caches (invalidate, then SCB CCR.IC/DC; Armv7-M ARM B3.2.8, M7 TRM 4.3). On the
 * L4 the ART is configured by FLASH_ACR (the simulator applies the HAL set-up if the
 * firmware does not write it). */
static void caches_on(void)
{
#if defined(TARGET_CORTEX_M7F)
    volatile uint32_t *const ccr = (volatile uint32_t *)0xE000ED14u;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    *(volatile uint32_t *)0xE000EF50u = 0;            /* ICIALLU */
    *ccr |= 1u << 17;                                  /* IC */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    *ccr |= 1u << 16;                                  /* DC (D-cache invalid after reset
                                                          in the simulator; real code runs
                                                          DCISW over all sets/ways first) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
}

int main(void)
{
    caches_on();
    setup();
    if (mcusim_config[0] == 1) {
        uart_init();
        protocol();
    }
    batch();
    return 0;
}
