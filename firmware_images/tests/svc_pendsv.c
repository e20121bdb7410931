/*
 * svc_pendsv -- SVC and PendSV:
 *  1. SVC #0x2A from thread mode on MSP: the handler reads the immediate from the
 *     halfword before the stacked PC, sees EXC_RETURN[2] = 0 (MSP), and returns
 *     imm + 1 in the stacked r0.
 *  2. the rest runs in thread mode on PSP (CONTROL.SPSEL = 1, through run_on_psp):
 *     SVC #0x33 now stacks on PSP (EXC_RETURN[2] = 1, frame address = PSP).
 *  3. Two threads on PSP stacks, switched cooperatively by PendSV (ICSR.PENDSVSET, lowest
 *     priority): each loads r2-r12 with known values, yields, and checks them on return;
 *     PendSV saves r4-r11 and EXC_RETURN (and s16-s31 for an FP frame) and returns to
 *     thread mode on the other PSP.
 * Exits 0 when every check passes.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"

uint32_t reg_check(uint32_t seed);
uint32_t run_on_psp(uint32_t psp_top, uint32_t (*fn)(void));

volatile uint32_t current_thread;        /* used by PendSV_Handler */
volatile uint32_t thread_sp[2];
volatile uint32_t switch_count;

static volatile uint32_t svc_imm, svc_exc_return, svc_frame, svc_count, svc_ipsr;

void svc_dispatch(uint32_t *frame, uint32_t exc_return)
{
    const uint16_t *pc = (const uint16_t *)(uintptr_t)frame[6];
    uint32_t imm = pc[-1] & 0xFFu;                 /* SVC #imm8: 0xDFxx */
    svc_imm = imm;
    svc_exc_return = exc_return;
    svc_frame = (uint32_t)(uintptr_t)frame;
    svc_ipsr = cpu_get_ipsr();
    svc_count++;
    frame[0] = imm + 1;                            /* return value in r0 */
}

static inline uint32_t svc_2a(void)
{
    register uint32_t r0 __asm__("r0") = 0;
    __asm__ volatile("svc #0x2A" : "+r"(r0) :: "r1", "r2", "r3", "r12", "memory");
    return r0;
}

static inline uint32_t svc_33(void)
{
    register uint32_t r0 __asm__("r0") = 0;
    __asm__ volatile("svc #0x33" : "+r"(r0) :: "r1", "r2", "r3", "r12", "memory");
    return r0;
}

#define STACK_WORDS 512
static uint64_t stack0[STACK_WORDS / 2];
static uint64_t stack1[STACK_WORDS / 2];

static volatile uint32_t t1_runs, t1_errors, t1_control, t1_ipsr;

static void thread1(void)
{
    t1_control = cpu_get_control();
    t1_ipsr = cpu_get_ipsr();
    for (;;) {
        t1_errors += reg_check(0x11110000u + t1_runs * 16u);
        t1_runs++;
    }
}

static uint32_t psp_top0;
static uint32_t on_psp(void);

static void thread1_exit_trap(void)
{
    for (;;) { }
}

int main(void)
{
    out_str("svc_pendsv on " TARGET_NAME "\n");
    SCB_SHPR3 |= 0xFFu << 16;                      /* PendSV lowest priority */

    /* 1. SVC on MSP */
    uint32_t r = svc_2a();
    check_eq("SVC #0x2A immediate", svc_imm, 0x2A);
    check_eq("SVC return value via stacked r0", r, 0x2B);
    check_eq("IPSR in SVC handler", svc_ipsr, EXC_SVCALL);
    check_eq("EXC_RETURN[3:2] from thread on MSP", svc_exc_return & 0xCu, 0x8u);

    /* 2. + 3. on the process stack */
    uint32_t psp0 = (uint32_t)(uintptr_t)&stack0[STACK_WORDS / 2];
    psp_top0 = psp0;
    run_on_psp(psp0, on_psp);
    check_eq("back on MSP: CONTROL.SPSEL", (cpu_get_control() >> 1) & 1u, 0);
    check_eq("main back in thread mode", cpu_get_ipsr(), 0);
    return test_done("svc_pendsv");
}

static uint32_t on_psp(void)
{
    uint32_t psp0 = psp_top0;
    uint32_t r;
    check_eq("CONTROL.SPSEL", (cpu_get_control() >> 1) & 1u, 1);
    r = svc_33();
    check_eq("SVC #0x33 immediate", svc_imm, 0x33);
    check_eq("SVC #0x33 return value", r, 0x34);
    check_eq("EXC_RETURN[3:2] from thread on PSP", svc_exc_return & 0xCu, 0xCu);
    check(svc_frame < psp0 && svc_frame >= psp0 - 256u, "SVC frame on the PSP stack");

    /* 3. thread 1: exception frame + software-saved r4-r11, EXC_RETURN */
    uint32_t *sp = (uint32_t *)(uintptr_t)&stack1[STACK_WORDS / 2];
    *--sp = 0x01000000u;                                           /* xPSR: T */
    *--sp = (uint32_t)(uintptr_t)thread1 & ~1u;                    /* PC */
    *--sp = (uint32_t)(uintptr_t)thread1_exit_trap;                /* LR */
    for (int i = 0; i < 5; i++) *--sp = 0;                         /* r12, r3-r0 */
    sp -= 9;                                   /* software frame, as stmdb {r4-r11, lr} */
    for (int i = 0; i < 8; i++) sp[i] = 0;     /* r4..r11 */
    sp[8] = svc_exc_return | 0x10u;            /* EXC_RETURN: thread, PSP, basic frame */
    thread_sp[1] = (uint32_t)(uintptr_t)sp;
    current_thread = 0;

    uint32_t errors = 0;
    for (uint32_t i = 0; i < 4; i++)
        errors += reg_check(0x22220000u + i * 16u);
    check_eq("thread 0 registers survived 4 switches", errors, 0);
    check_eq("thread 1 registers survived", t1_errors, 0);
    check_eq("thread 1 yielded back 3 times", t1_runs, 3);
    check_eq("PendSV switches", switch_count, 8);
    check_eq("thread 1 CONTROL.SPSEL", (t1_control >> 1) & 1u, 1);
    check_eq("thread 1 runs in thread mode (IPSR)", t1_ipsr, 0);
    return 0;
}
