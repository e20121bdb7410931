/*
 * accel_toy -- drives the toy accelerator of docs/accelerators.md (the dot product of two
 * int8 vectors; examples/accelerators/toy_dot.py), attached by a catalog entry. Checked by
 * tests/test_accelerators.py; simulator-only.
 *   1. found through the control block (DEV_FIND/DEV_BASE); registers: ID, reset values,
 *      a read-only register ignores writes, a write-only one reads 0.
 *   2. a 256-element job with the interrupt, the core in WFI: RESULT and the word stored
 *      at OUT equal the CPU's dot product; prints START-to-handler cycles.
 *   3. the same job polled (no interrupt); DONE cleared by writing 1.
 *   4. contention: a load/store loop timed alone and while a 16 KB job reads the bus;
 *      prints both ("loop alone N", "loop with toy M").
 *   5. not attached: DEV_BASE of another ID reads 0.
 * Exits 0 when every check passes.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"
#include "mcusim_accel.h"

#define TOY_ID 0x444F5430u
#define R(off) (*(volatile uint32_t *)(uintptr_t)(base + (off)))
#define TOY_A 0x04u
#define TOY_B 0x08u
#define TOY_LEN 0x0Cu
#define TOY_CTRL 0x10u
#define TOY_STATUS 0x14u
#define TOY_RESULT 0x18u
#define TOY_OUT 0x1Cu
#define TOY_IRQ 0x20u

#define N_SMALL 256u
#define N_BIG 16384u
#define WORK_WORDS 256u
#define LOOP_ITERS 500u

extern const uint32_t __vector_table[];
static uint32_t base;
static int8_t va[N_BIG], vb[N_BIG];
static volatile int32_t out_word;
static uint32_t work[WORK_WORDS];
static uint32_t ram_vectors[16 + MCU_NUM_IRQ] __attribute__((aligned(1024)));
static volatile uint32_t irq_count, irq_cycle, irq_status;

static void toy_handler(void)
{
    irq_cycle = DWT_CYCCNT;
    irq_status = R(TOY_STATUS);
    R(TOY_STATUS) = 2u;
    irq_count++;
}

__attribute__((noinline)) uint32_t work_loop(volatile uint32_t *w, uint32_t iters)
{
    uint32_t s = 1;
    for (uint32_t i = 0; i < iters; i++) {
        uint32_t j = i & (WORK_WORDS - 1u);
        w[j] = w[j] + s;
        s += w[(j + 7u) & (WORK_WORDS - 1u)];
    }
    return s;
}

static uint32_t timed_loop(void)
{
    for (uint32_t i = 0; i < WORK_WORDS; i++) work[i] = i;
    uint32_t c0 = DWT_CYCCNT;
    work_loop(work, LOOP_ITERS);
    return DWT_CYCCNT - c0;
}

static int32_t cpu_dot(uint32_t n)
{
    int32_t s = 0;
    for (uint32_t i = 0; i < n; i++) s += va[i] * vb[i];
    return s;
}

static void wait_irq(uint32_t count)
{
    cpu_disable_irq();
    while (irq_count < count) {
        cpu_wfi();
        cpu_enable_irq();
        cpu_isb();
        cpu_disable_irq();
    }
    cpu_enable_irq();
}

int main(void)
{
    out_str("accel_toy on " TARGET_NAME "\n");
    dwt_cyccnt_start();
    uint32_t x = 12345u;
    for (uint32_t i = 0; i < N_BIG; i++) {
        x = x * 1664525u + 1013904223u;
        va[i] = (int8_t)(x >> 24);
        vb[i] = (int8_t)(x >> 16);
    }
    /* 1. discovery and registers */
    base = mcusim_accel_find(TOY_ID);
    check(base != 0, "toy found through DEV_FIND");
    if (!base) return test_done("accel_toy");
    out_str("toy at "); out_hex(base); out_str("\n");
    check_eq("ID", R(0), TOY_ID);
    check_eq("LEN reset", R(TOY_LEN), 0);
    check_eq("STATUS reset", R(TOY_STATUS), 0);
    R(TOY_RESULT) = 0x1234u;
    check_eq("RESULT is read-only", R(TOY_RESULT), 0);
    R(TOY_LEN) = 0xABCDu;
    check_eq("LEN read back", R(TOY_LEN), 0xABCDu);
    check_eq("CTRL is write-only (reads 0)", R(TOY_CTRL), 0);
    uint32_t irq = R(TOY_IRQ);
    out_str("toy irq "); out_udec(irq); out_str("\n");
    check(irq < MCU_NUM_IRQ, "IRQ line");
    for (unsigned i = 0; i < 16 + MCU_NUM_IRQ; i++) ram_vectors[i] = __vector_table[i];
    ram_vectors[16 + irq] = (uint32_t)(uintptr_t)toy_handler;
    cpu_disable_irq();
    SCB_VTOR = (uint32_t)(uintptr_t)ram_vectors;
    cpu_dsb();
    cpu_isb();
    cpu_enable_irq();
    nvic_unpend(irq);
    nvic_enable(irq);

    /* 2. a job with the interrupt */
    R(TOY_A) = (uint32_t)(uintptr_t)va;
    R(TOY_B) = (uint32_t)(uintptr_t)vb;
    R(TOY_LEN) = N_SMALL;
    R(TOY_OUT) = (uint32_t)(uintptr_t)&out_word;
    out_word = 0x55555555;
    uint32_t t0 = DWT_CYCCNT;
    R(TOY_CTRL) = 3u;
    check_eq("BUSY after START", R(TOY_STATUS), 1u);
    wait_irq(1);
    out_str("toy 256: "); out_udec(irq_cycle - t0); out_str(" cycles to the handler\n");
    int32_t want = cpu_dot(N_SMALL);
    check_eq("RESULT = CPU dot product", R(TOY_RESULT), (uint32_t)want);
    check_eq("OUT word written by the accelerator", (uint32_t)out_word, (uint32_t)want);
    check_eq("DONE seen in the handler", irq_status, 2u);
    check_eq("DONE cleared", R(TOY_STATUS), 0);

    /* 3. polled */
    R(TOY_OUT) = 0;
    R(TOY_LEN) = 100u;
    R(TOY_CTRL) = 1u;
    while (!(R(TOY_STATUS) & 2u))
        ;
    check_eq("polled RESULT", R(TOY_RESULT), (uint32_t)cpu_dot(100u));
    R(TOY_STATUS) = 2u;
    check_eq("DONE cleared (polled)", R(TOY_STATUS), 0);
    check_eq("no interrupt without IE", irq_count, 1u);

    /* 4. contention */
    (void)timed_loop();
    uint32_t alone = timed_loop();
    R(TOY_LEN) = N_BIG;
    R(TOY_CTRL) = 3u;
    uint32_t with = timed_loop();
    uint32_t busy = R(TOY_STATUS) & 1u;
    out_str("loop alone "); out_udec(alone); out_str("\n");
    out_str("loop with toy "); out_udec(with); out_str("\n");
    check(busy, "job still running after the loop");
    check(with > alone, "loop slower while the toy reads the bus");
    wait_irq(2);
    check_eq("16 KB RESULT", R(TOY_RESULT), (uint32_t)cpu_dot(N_BIG));

    /* 5. nothing else attached */
    check_eq("DEV_BASE of an absent ID", mcusim_accel_find(0x12345678u), 0);
    return test_done("accel_toy");
}
