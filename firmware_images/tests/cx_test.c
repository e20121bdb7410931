/*
 * cx_test -- the dot4 custom instructions (include/mcusim_cx.h; mcusim/accelerators/
 * dot4.py), trapped by the simulator on coprocessor 0. Checked by
 * tests/test_accelerators.py; simulator-only.
 *   1. detection through CPACR: coprocessor 0 reads back, coprocessor 1 (absent) does not.
 *   2. semantics against C: DOT4 (with offsets), MAC4 lanes, SET/GET of accumulators,
 *      sums modulo 2^32.
 *   3. timing: a loop of 4 DOT4 per iteration and the same loop with 4 NOP.W instead;
 *      prints both cycle counts ("cx loop N", "nop loop M").
 *   4. without CPACR access: DOT4 takes a UsageFault with CFSR.NOCP (resumed after it).
 * Exits 0 when every check passes.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"
#include "fault_common.h"
#include "mcusim_accel.h"
#include "mcusim_cx.h"

#define ITERS 1000u

static volatile uint32_t faults, fault_cfsr, fault_pc;

void usage_c(uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    fault_cfsr = SCB_CFSR;
    fault_pc = frame[6];
    SCB_CFSR = fault_cfsr;
    faults++;
    frame[6] += 4;                         /* skip the 32-bit coprocessor instruction */
}
FAULT_ENTRY(UsageFault_Handler, usage_c)

static int32_t sx(uint32_t v, int i) { return (int32_t)(int8_t)(uint8_t)(v >> (8 * i)); }

static uint32_t rng = 0x1234567u;
static uint32_t next(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng;
}

__attribute__((noinline)) void cx_loop(uint32_t n, uint32_t x, uint32_t w)
{
    __asm__ volatile(
        "1:\n\t"
        "mcrr p0, #0, %1, %2, c0\n\t"
        "mcrr p0, #0, %1, %2, c1\n\t"
        "mcrr p0, #0, %1, %2, c2\n\t"
        "mcrr p0, #0, %1, %2, c3\n\t"
        "subs %0, %0, #1\n\t"
        "bne 1b"
        : "+r"(n) : "r"(x), "r"(w) : "cc");
}

__attribute__((noinline)) void nop_loop(uint32_t n, uint32_t x, uint32_t w)
{
    __asm__ volatile(
        "1:\n\t"
        "nop.w\n\t"
        "nop.w\n\t"
        "nop.w\n\t"
        "nop.w\n\t"
        "subs %0, %0, #1\n\t"
        "bne 1b"
        : "+r"(n) : "r"(x), "r"(w) : "cc");
}

int main(void)
{
    out_str("cx_test on " TARGET_NAME "\n");
    dwt_cyccnt_start();
    SCB_SHCSR |= SHCSR_USGFAULTENA;
    cpu_dsb();
    cpu_isb();
    /* 1. detection */
    check_eq("coprocessor 0 present", mcusim_accel_coprocessor_enable(0), 1);
    check_eq("coprocessor 1 absent", mcusim_accel_coprocessor_enable(1), 0);

    /* 2. semantics */
    for (int t = 0; t < 50; t++) {
        int32_t off = (int32_t)(next() % 256u) - 127;
        uint32_t acc0 = next();
        int32_t want = (int32_t)acc0, lane[4];
        uint32_t lacc[4];
        for (int k = 0; k < 4; k++) lacc[k] = next();
        for (int k = 0; k < 4; k++) lane[k] = (int32_t)lacc[k];
        MCUSIM_CX_SET_OFFSET(off);
        MCUSIM_CX_SET_ACC(5, acc0);
        MCUSIM_CX_SET_ACC(8, lacc[0]);
        MCUSIM_CX_SET_ACC(9, lacc[1]);
        MCUSIM_CX_SET_ACC(10, lacc[2]);
        MCUSIM_CX_SET_ACC(11, lacc[3]);
        for (int r = 0; r < 8; r++) {
            uint32_t xw = next(), ww = next();
            MCUSIM_CX_DOT4(5, xw, ww);
            MCUSIM_CX_MAC4(8, xw, ww);
            for (int i = 0; i < 4; i++) {
                want = (int32_t)((uint32_t)want + (uint32_t)((sx(xw, i) + off) * sx(ww, i)));
                lane[i] = (int32_t)((uint32_t)lane[i] + (uint32_t)((sx(xw, i) + off) * sx(ww, i)));
            }
        }
        uint32_t got, g8, g9, g10, g11;
        MCUSIM_CX_GET_ACC(5, got);
        MCUSIM_CX_GET_ACC(8, g8);
        MCUSIM_CX_GET_ACC(9, g9);
        MCUSIM_CX_GET_ACC(10, g10);
        MCUSIM_CX_GET_ACC(11, g11);
        if (got != (uint32_t)want || g8 != (uint32_t)lane[0] || g9 != (uint32_t)lane[1] ||
            g10 != (uint32_t)lane[2] || g11 != (uint32_t)lane[3]) {
            check(0, "DOT4/MAC4 = C");
            break;
        }
        if (t == 49) check(1, "DOT4/MAC4 = C (50 cases, 8 steps each)");
    }

    /* 3. timing */
    uint32_t c0 = DWT_CYCCNT;
    cx_loop(ITERS, 0x01020304u, 0x05060708u);
    uint32_t cx = DWT_CYCCNT - c0;
    c0 = DWT_CYCCNT;
    nop_loop(ITERS, 0, 0);
    uint32_t nop = DWT_CYCCNT - c0;
    out_str("cx loop "); out_udec(cx); out_str("\n");
    out_str("nop loop "); out_udec(nop); out_str("\n");
    uint32_t a0;
    MCUSIM_CX_GET_ACC(0, a0);
    check(a0 != 0, "the loop accumulated");

    /* 4. NOCP without access */
    MCUSIM_CPACR &= ~(3u << 0);
    cpu_dsb();
    cpu_isb();
    MCUSIM_CX_DOT4(0, 1u, 1u);
    check_eq("UsageFault taken", faults, 1);
    check_eq("CFSR.NOCP", (fault_cfsr & CFSR_NOCP) != 0, 1);
    return test_done("cx_test");
}
