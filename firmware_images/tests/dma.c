/*
 * dma -- the simulator's memory-to-memory DMA engine (include/mcusim_dma.h), a bus master
 * in mcusim's SimPy system model. Simulator-only (the engine exists nowhere else).
 *   1. ID; the IRQ line is the MCU's last one (MCU_NUM_IRQ rounds the part's count up).
 *   2. 4 KB copy, 16-byte bursts, interrupt on done while the core sleeps in WFI
 *      (PRIMASK idiom): data correct; START-to-handler cycles (DWT CYCCNT on v7-M+, the
 *      control block's cycle counter on v6-M) = START_CYCLES + 256 x BURST_CYCLES plus the
 *      exception entry; REMAIN = 0; DONE cleared by W1C.
 *   3. Contention: a load/store loop over a 1 KB work buffer, timed alone and then while a
 *      32 KB copy runs (the copy outlasts the loop: REMAIN > 0 after it); the loop is
 *      slower with the DMA on the bus. Prints both counts ("loop alone N", "loop with dma
 *      M") for tests/test_system.py, which checks the slowdown against the model.
 *   4. A copy to flash sets ERR (and raises the interrupt), BUSY clears.
 * Exits 0 when every check passes.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"
#include "mcusim_dev.h"
#include "mcusim_dma.h"

extern const uint32_t __vector_table[];

#define BIG 32768u
#define SMALL 4096u
#define WORK_WORDS 256u
#define LOOP_ITERS 500u

static uint32_t src[BIG / 4], dst[BIG / 4];
static uint32_t work[WORK_WORDS];
static uint32_t ram_vectors[16 + MCU_NUM_IRQ] __attribute__((aligned(1024)));
static volatile uint32_t irq_count, irq_cycle, irq_status;

static inline uint32_t cycles_now(void)
{
#if ARCH_V6M
    return MCUSIM_CYCLES_LO;
#else
    return DWT_CYCCNT;
#endif
}

static void dma_handler(void)
{
    irq_cycle = cycles_now();
    irq_status = MCUSIM_DMA_STATUS;
    MCUSIM_DMA_STATUS = MCUSIM_DMA_ST_DONE | MCUSIM_DMA_ST_ERR;
    irq_count++;
}

/* the memory-heavy loop: a load, a load and a store per iteration */
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

static void fill(uint32_t n, uint32_t seed)
{
    uint32_t x = seed;
    for (uint32_t i = 0; i < n / 4; i++) {
        x = x * 1664525u + 1013904223u;
        src[i] = x;
        dst[i] = 0;
    }
}

static int same(uint32_t n)
{
    for (uint32_t i = 0; i < n / 4; i++)
        if (src[i] != dst[i]) return 0;
    return 1;
}

static void wait_irq(uint32_t count)
{
    cpu_disable_irq();
    while (irq_count < count) {
        cpu_wfi();
        cpu_enable_irq();                    /* take the interrupt that woke us */
        cpu_isb();
        cpu_disable_irq();
    }
    cpu_enable_irq();
}

static uint32_t timed_loop(void)
{
    for (uint32_t i = 0; i < WORK_WORDS; i++) work[i] = i;
    uint32_t c0 = cycles_now();
    work_loop(work, LOOP_ITERS);
    return cycles_now() - c0;
}

int main(void)
{
    out_str("dma on " TARGET_NAME "\n");
#if !ARCH_V6M
    dwt_cyccnt_start();
#endif
    /* 1. identity, IRQ line, vector */
    check_eq("DMA ID", MCUSIM_DMA_ID, MCUSIM_DMA_ID_VALUE);
    uint32_t irq = MCUSIM_DMA_IRQ;
    check(irq < MCU_NUM_IRQ && irq + 16u > MCU_NUM_IRQ, "DMA IRQ is the part's last line");
    out_str("dma irq "); out_udec(irq); out_str("\n");
    for (unsigned i = 0; i < 16 + MCU_NUM_IRQ; i++) ram_vectors[i] = __vector_table[i];
    ram_vectors[16 + irq] = (uint32_t)(uintptr_t)dma_handler;
    cpu_disable_irq();
    SCB_VTOR = (uint32_t)(uintptr_t)ram_vectors;
    cpu_dsb();
    cpu_isb();
    cpu_enable_irq();
    nvic_set_priority(irq, 0x40);
    nvic_unpend(irq);
    nvic_enable(irq);

    /* 2. 4 KB copy while the core sleeps */
    fill(SMALL, 1);
    MCUSIM_DMA_SRC = (uint32_t)(uintptr_t)src;
    MCUSIM_DMA_DST = (uint32_t)(uintptr_t)dst;
    MCUSIM_DMA_LEN = SMALL;
    MCUSIM_DMA_CTRL = MCUSIM_DMA_CTRL_BURST(2);
    uint32_t burst = MCUSIM_DMA_BURST_CYCLES, start = MCUSIM_DMA_START_CYCLES;
    uint32_t expect = start + (SMALL / 16u) * burst;
    uint32_t t0 = cycles_now();
    MCUSIM_DMA_CTRL = MCUSIM_DMA_CTRL_START | MCUSIM_DMA_CTRL_IE | MCUSIM_DMA_CTRL_BURST(2);
    check((MCUSIM_DMA_STATUS & MCUSIM_DMA_ST_BUSY) != 0, "BUSY after START");
    wait_irq(1);
    uint32_t elapsed = irq_cycle - t0;
    out_str("dma 4096 bytes: "); out_udec(elapsed); out_str(" cycles to the handler, model ");
    out_udec(expect); out_str("\n");
    check_range("START to handler (cycles)", elapsed, expect, expect + 60u);
    check_eq("DONE seen in the handler", irq_status & (MCUSIM_DMA_ST_DONE | MCUSIM_DMA_ST_BUSY),
             MCUSIM_DMA_ST_DONE);
    check_eq("DONE cleared by W1C", MCUSIM_DMA_STATUS, 0);
    check_eq("REMAIN", MCUSIM_DMA_REMAIN, 0);
    check(same(SMALL), "4 KB copied");
    check_eq("byte after the copy untouched", dst[SMALL / 4], 0);

    /* 3. contention */
    uint32_t alone0 = timed_loop();          /* warm-up: flash prefetch/cache state */
    uint32_t alone = timed_loop();
    out_str("loop first run "); out_udec(alone0); out_str("\n");
    fill(BIG, 7);
    MCUSIM_DMA_LEN = BIG;
    MCUSIM_DMA_CTRL = MCUSIM_DMA_CTRL_START | MCUSIM_DMA_CTRL_IE | MCUSIM_DMA_CTRL_BURST(2);
    uint32_t with = timed_loop();
    uint32_t remain = MCUSIM_DMA_REMAIN;
    out_str("loop alone "); out_udec(alone); out_str("\n");
    out_str("loop with dma "); out_udec(with); out_str("\n");
    check(remain > 0 && remain < BIG, "copy in flight after the loop (REMAIN)");
    check(with > alone + alone / 20u, "loop slower while the DMA uses the bus");
    wait_irq(2);
    check(same(BIG), "32 KB copied");

    /* 4. destination in flash: ERR */
    MCUSIM_DMA_DST = 0x08000000u;
    MCUSIM_DMA_LEN = 64;
    MCUSIM_DMA_CTRL = MCUSIM_DMA_CTRL_START | MCUSIM_DMA_CTRL_IE;
    wait_irq(3);
    check_eq("ERR for a flash destination", irq_status & 7u, MCUSIM_DMA_ST_ERR);
    return test_done("dma");
}
