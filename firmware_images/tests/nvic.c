/*
 * nvic -- external interrupts through the NVIC:
 *   pend by NVIC_ISPR (all) and by STIR (Armv7-M/v8-M); IPSR, ICSR.VECTACTIVE and
 *   NVIC_IABR (v7-M+) inside a handler; a disabled interrupt stays pending (ISPR) until
 *   enabled; ICPR clears a pending one; priority bits implemented (IPR readback);
 *   several pending -> taken by priority, then by lower number; PRIMASK holds them
 *   (ICSR.VECTPENDING/ISRPENDING show the pending one); BASEPRI masks by priority
 *   (v7-M+); a higher-priority IRQ pended in a lower one's handler preempts it (nested,
 *   RETTOBASE = 0); an equal-priority one pended in a handler runs after it returns
 *   (tail-chaining); VTOR moved to a RAM copy of the vector table with another handler.
 * Priorities used are multiples of 0x40, so they mean the same with 2 or 4 bits.
 * Exits 0 when every check passes.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"

extern const uint32_t __vector_table[];

#define LOG_MAX 32
static volatile uint8_t log_buf[LOG_MAX];
static volatile uint32_t log_len;
static volatile uint32_t hits[32];
static volatile uint32_t seen_ipsr, seen_vectactive, seen_active, seen_pending_other;
static volatile uint32_t seen_nested_active, seen_rettobase;

static void log_event(uint8_t e)
{
    if (log_len < LOG_MAX) log_buf[log_len++] = e;
}

static void log_reset(void)
{
    log_len = 0;
    for (int i = 0; i < LOG_MAX; i++) log_buf[i] = 0;
}

static int log_is(const uint8_t *exp, uint32_t n)
{
    if (log_len != n) return 0;
    for (uint32_t i = 0; i < n; i++)
        if (log_buf[i] != exp[i]) return 0;
    return 1;
}

static void print_log(void)
{
    out_str("     log:");
    for (uint32_t i = 0; i < log_len; i++) { out_str(" "); out_udec(log_buf[i]); }
    out_str("\n");
}

static inline void barrier(void) { cpu_dsb(); cpu_isb(); }

/* IRQ 3: basic; records what a handler sees */
void IRQ3_Handler(void)
{
    hits[3]++;
    seen_ipsr = cpu_get_ipsr();
    seen_vectactive = SCB_ICSR & ICSR_VECTACTIVE_MASK;
#if !ARCH_V6M
    seen_active = nvic_is_active(3);
#endif
}
void IRQ4_Handler(void) { hits[4]++; }
void IRQ5_Handler(void) { hits[5]++; }
/* ordering group */
void IRQ6_Handler(void) { log_event(6); }
void IRQ7_Handler(void) { log_event(7); }
void IRQ8_Handler(void) { log_event(8); }
void IRQ9_Handler(void) { log_event(9); }
/* tail-chaining: 10 pends 11 (same priority) */
void IRQ10_Handler(void)
{
    log_event(10);
    nvic_pend(11);
    barrier();
    seen_pending_other = nvic_is_pending(11);
    log_event(100 + 10);
}
void IRQ11_Handler(void) { log_event(11); }
/* preemption: 12 (low) pends 13 (high) */
void IRQ12_Handler(void)
{
    log_event(12);
    nvic_pend(13);
    barrier();
    log_event(100 + 12);
}
void IRQ13_Handler(void)
{
    log_event(13);
#if !ARCH_V6M
    seen_nested_active = (uint32_t)(nvic_is_active(12) && nvic_is_active(13));
    seen_rettobase = (SCB_ICSR & ICSR_RETTOBASE) != 0;
#endif
    seen_vectactive = SCB_ICSR & ICSR_VECTACTIVE_MASK;
}
void IRQ14_Handler(void) { hits[14]++; }
void IRQ15_Handler(void) { hits[15]++; }
void IRQ16_Handler(void) { hits[16]++; }
void IRQ17_Handler(void) { hits[17]++; }
static void irq17_ram_handler(void) { hits[18]++; }

static uint32_t ram_vectors[16 + MCU_NUM_IRQ] __attribute__((aligned(1024)));

int main(void)
{
    out_str("nvic on " TARGET_NAME "\n");
    for (unsigned i = 3; i <= 17; i++) {
        nvic_disable(i);
        nvic_unpend(i);
        nvic_set_priority(i, 0x80);
    }

    /* priority bits */
    nvic_set_priority(20, 0xFF);
    check_eq("IPR readback of 0xFF (implemented bits)", nvic_get_priority(20), MCU_PRIO_MASK);
    nvic_set_priority(20, 0);

    /* 1. pend by ISPR */
    nvic_enable(3);
    nvic_pend(3);
    barrier();
    check_eq("IRQ3 via ISPR ran", hits[3], 1);
    check_eq("IPSR in IRQ3", seen_ipsr, EXC_IRQ(3));
    check_eq("ICSR.VECTACTIVE in IRQ3", seen_vectactive, EXC_IRQ(3));
#if !ARCH_V6M
    check_eq("NVIC_IABR bit in IRQ3", seen_active, 1);
    check_eq("NVIC_IABR clear after return", nvic_is_active(3), 0);
#endif
    check_eq("IPSR back in thread mode", cpu_get_ipsr(), 0);

    /* 2. STIR */
#if !ARCH_V6M
    nvic_enable(4);
    NVIC_STIR = 4;
    barrier();
    check_eq("IRQ4 via STIR ran", hits[4], 1);
#endif

    /* 3. disabled: stays pending; ICPR clears */
    nvic_pend(5);
    barrier();
    check_eq("disabled IRQ5 did not run", hits[5], 0);
    check_eq("disabled IRQ5 pending in ISPR", nvic_is_pending(5), 1);
    nvic_enable(5);
    barrier();
    check_eq("IRQ5 ran once enabled", hits[5], 1);
    check_eq("IRQ5 no longer pending", nvic_is_pending(5), 0);
    nvic_disable(5);
    nvic_pend(5);
    nvic_unpend(5);
    nvic_enable(5);
    barrier();
    check_eq("IRQ5 cleared by ICPR did not run", hits[5], 1);

    /* 4. ordering: priority first, then IRQ number */
    nvic_set_priority(6, 0xC0);
    nvic_set_priority(7, 0x40);
    nvic_set_priority(8, 0x40);
    nvic_set_priority(9, 0x80);
    for (unsigned i = 6; i <= 9; i++) nvic_enable(i);
    log_reset();
    cpu_disable_irq();
    nvic_pend(6); nvic_pend(9); nvic_pend(8); nvic_pend(7);
    barrier();
    check_eq("PRIMASK holds pending IRQs", log_len, 0);
    cpu_enable_irq();
    barrier();
    {
        static const uint8_t exp[] = { 7, 8, 9, 6 };
        check(log_is(exp, 4), "order by priority then number: 7 8 9 6");
        if (!log_is(exp, 4)) print_log();
    }

    /* 5. tail-chaining: equal priority pended inside a handler runs after it */
    nvic_set_priority(10, 0x80);
    nvic_set_priority(11, 0x80);
    nvic_enable(10);
    nvic_enable(11);
    log_reset();
    nvic_pend(10);
    barrier();
    {
        static const uint8_t exp[] = { 10, 110, 11 };
        check(log_is(exp, 3), "tail-chain: 10 runs to completion, then 11");
        if (!log_is(exp, 3)) print_log();
        check_eq("IRQ11 pending while in IRQ10", seen_pending_other, 1);
    }

    /* 6. preemption: higher priority pended inside a lower one's handler nests */
    nvic_set_priority(12, 0xC0);
    nvic_set_priority(13, 0x40);
    nvic_enable(12);
    nvic_enable(13);
    log_reset();
    nvic_pend(12);
    barrier();
    {
        static const uint8_t exp[] = { 12, 13, 112 };
        check(log_is(exp, 3), "preemption: 13 nested inside 12");
        if (!log_is(exp, 3)) print_log();
        check_eq("VECTACTIVE in nested IRQ13", seen_vectactive, EXC_IRQ(13));
#if !ARCH_V6M
        check_eq("IABR shows 12 and 13 active when nested", seen_nested_active, 1);
        check_eq("RETTOBASE = 0 when nested", seen_rettobase, 0);
#endif
    }

    /* 7. PRIMASK + VECTPENDING */
    nvic_set_priority(14, 0x80);
    nvic_enable(14);
    cpu_disable_irq();
    nvic_pend(14);
    barrier();
    check_eq("PRIMASK masks IRQ14", hits[14], 0);
    check_eq("ICSR.VECTPENDING = IRQ14", (SCB_ICSR >> ICSR_VECTPENDING_SHIFT) & 0x1FFu,
             EXC_IRQ(14));
    check_eq("ICSR.ISRPENDING", (SCB_ICSR & ICSR_ISRPENDING) != 0, 1);
    cpu_enable_irq();
    barrier();
    check_eq("IRQ14 runs after cpsie i", hits[14], 1);

    /* 8. BASEPRI */
#if !ARCH_V6M
    nvic_set_priority(15, 0xC0);
    nvic_set_priority(16, 0x40);
    nvic_enable(15);
    nvic_enable(16);
    cpu_set_basepri(0x80);
    check_eq("BASEPRI readback", cpu_get_basepri(), 0x80);
    nvic_pend(15);
    barrier();
    check_eq("BASEPRI 0x80 masks priority 0xC0", hits[15], 0);
    nvic_pend(16);
    barrier();
    check_eq("BASEPRI 0x80 lets priority 0x40 through", hits[16], 1);
    cpu_set_basepri(0);
    barrier();
    check_eq("masked IRQ15 runs when BASEPRI = 0", hits[15], 1);
#endif

    /* 9. VTOR relocation */
    nvic_enable(17);
    nvic_pend(17);
    barrier();
    check_eq("IRQ17 flash handler", hits[17], 1);
    for (unsigned i = 0; i < 16 + MCU_NUM_IRQ; i++) ram_vectors[i] = __vector_table[i];
    ram_vectors[16 + 17] = (uint32_t)(uintptr_t)irq17_ram_handler;
    cpu_disable_irq();
    SCB_VTOR = (uint32_t)(uintptr_t)ram_vectors;
    barrier();
    cpu_enable_irq();
    check_eq("VTOR readback", SCB_VTOR, (uint32_t)(uintptr_t)ram_vectors);
    nvic_pend(17);
    barrier();
    check_eq("IRQ17 via RAM table: RAM handler ran", hits[18], 1);
    check_eq("IRQ17 via RAM table: flash handler not run", hits[17], 1);
    SCB_VTOR = (uint32_t)(uintptr_t)__vector_table;
    barrier();
    nvic_pend(17);
    barrier();
    check_eq("VTOR restored: flash handler again", hits[17], 2);

    return test_done("nvic");
}
