/*
 * fpu_ctx -- FP context preservation across an interrupt (FPv4-SP / FPv5):
 *  A. lazy stacking (FPCCR.ASPEN = LSPEN = 1, reset default): the thread sets s0-s15 and
 *     FPSCR and pends IRQ 20; on entry the frame is 26 words (SP difference 104, +4 if
 *     the thread SP was not 8-aligned) and FPCCR.LSPACT = 1 (space reserved, not yet
 *     written); the handler reads FPSCR (= FPDSCR, not the thread's), which triggers the
 *     lazy save, clobbers s0-s15 and FPSCR; the saved s0-s15 in the frame then equal the
 *     thread's values, and the thread finds its s0-s15 and FPSCR intact after return.
 *  B. eager stacking (LSPEN = 0): same, with LSPACT = 0 at entry and s0-s15 already in
 *     the frame before the handler touches the FPU.
 *  C. no FP context (CONTROL.FPCA = 0): the frame is 8 words (SP difference 32).
 * Exits 0 when every check passes.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"

#define FP_IRQ 20

uint32_t fp_thread_run(uint32_t seed, uint32_t fpscr);
void int_thread_run(void);
void fp_clobber(void);
uint32_t fp_read_fpscr(void);

volatile uint32_t fp_thread_sp;
static volatile uint32_t h_entry_sp, h_fpccr, h_fpscr, h_runs;
static volatile uint32_t h_frame_before[17], h_frame_after[17];

static volatile uint32_t h_exc_return;

void fp_irq_c(uint32_t *entry_sp, uint32_t fpccr, uint32_t exc_return)
{
    h_exc_return = exc_return;
    h_entry_sp = (uint32_t)(uintptr_t)entry_sp;
    h_fpccr = fpccr;
    int extended = (exc_return & 0x10u) == 0;
    if (extended)
        for (int i = 0; i < 17; i++) h_frame_before[i] = entry_sp[8 + i];
    h_fpscr = fp_read_fpscr();                 /* first FP instruction in the handler */
    fp_clobber();
    if (extended)
        for (int i = 0; i < 17; i++) h_frame_after[i] = entry_sp[8 + i];
    h_runs++;
}

static uint32_t frame_diff(void)
{
    return fp_thread_sp - h_entry_sp - (fp_thread_sp & 4u);   /* minus alignment pad */
}

static int frame_matches(volatile uint32_t *frame, uint32_t seed, uint32_t fpscr)
{
    for (int i = 0; i < 16; i++)
        if (frame[i] != seed + (uint32_t)i) return 0;
    return frame[16] == fpscr;
}

#define FPSCR_THREAD 0x63C0009Fu   /* Z C, DN FZ, RMode=RZ, all cumulative flags */

int main(void)
{
    out_str("fpu_ctx on " TARGET_NAME "\n");
    nvic_set_priority(FP_IRQ, 0x80);
    nvic_unpend(FP_IRQ);
    nvic_enable(FP_IRQ);
    check_eq("FPCCR ASPEN|LSPEN at reset", FPU_FPCCR & (FPCCR_ASPEN | FPCCR_LSPEN),
             FPCCR_ASPEN | FPCCR_LSPEN);
    uint32_t fpdscr = FPU_FPDSCR;

    /* A. lazy */
    uint32_t bad = fp_thread_run(0x3F800000u, FPSCR_THREAD);
    check_eq("A lazy: handler ran", h_runs, 1);
    check_eq("A lazy: s0-s15 and FPSCR changed in thread", bad, 0);
    check_eq("A lazy: frame bytes (26 words)", frame_diff(), 104);
    check_eq("A lazy: FPCCR.LSPACT at entry", h_fpccr & FPCCR_LSPACT, 1);
    check_eq("A lazy: EXC_RETURN[4] = 0 (FP frame)", (h_exc_return >> 4) & 1u, 0);
    check_eq("A lazy: FPSCR in handler = FPDSCR", h_fpscr, fpdscr);
    check(frame_matches(h_frame_after, 0x3F800000u, FPSCR_THREAD),
          "A lazy: frame holds thread s0-s15, FPSCR after lazy save");
    check_eq("A lazy: CONTROL.FPCA in thread", (cpu_get_control() >> 2) & 1u, 1);

    /* B. eager */
    FPU_FPCCR &= ~FPCCR_LSPEN;
    cpu_dsb();
    cpu_isb();
    bad = fp_thread_run(0x40000000u, FPSCR_THREAD ^ 0x00400000u);
    check_eq("B eager: handler ran", h_runs, 2);
    check_eq("B eager: s0-s15 and FPSCR changed in thread", bad, 0);
    check_eq("B eager: frame bytes (26 words)", frame_diff(), 104);
    check_eq("B eager: FPCCR.LSPACT at entry", h_fpccr & FPCCR_LSPACT, 0);
    check(frame_matches(h_frame_before, 0x40000000u, FPSCR_THREAD ^ 0x00400000u),
          "B eager: frame holds thread s0-s15, FPSCR at entry");
    check(frame_matches(h_frame_after, 0x40000000u, FPSCR_THREAD ^ 0x00400000u),
          "B eager: frame unchanged by handler FP use");
    FPU_FPCCR |= FPCCR_LSPEN;

    /* C. no FP context: basic frame */
    cpu_set_control(cpu_get_control() & ~4u);   /* FPCA = 0 */
    int_thread_run();
    check_eq("C no FP: handler ran", h_runs, 3);
    check_eq("C no FP: frame bytes (8 words)", frame_diff(), 32);
    check_eq("C no FP: FPCCR.LSPACT at entry", h_fpccr & FPCCR_LSPACT, 0);
    check_eq("C no FP: EXC_RETURN[4] = 1 (basic frame)", (h_exc_return >> 4) & 1u, 1);

    return test_done("fpu_ctx");
}
