/*
 * Microbenchmark driver: runs the kernels of mb_kernels.S and prints one line per
 * measurement through semihosting:
 *
 *     MB <name> <cycles per sequence copy x 1000>
 *
 * then exits 0. The value is (kernel - empty) / (iters * copies), where kernel and empty
 * are the counter deltas of the kernel and of the same harness with no body (measured
 * right before it, with the same memory configuration).
 *
 * Cycle counter: DWT CYCCNT on Armv7-M / Armv8-M (DEMCR.TRCENA, DWT_CTRL.CYCCNTENA, the
 * DWT software lock opened on Cortex-M7); SysTick on Armv6-M (no CYCCNT): LOAD 0xFFFFFF,
 * CLKSOURCE = processor clock, no interrupt, counting down.
 *
 * Build variants (MB_SET):
 *   1 mb_int    integer kernels (Thumb-1 on Armv6-M; Thumb-2 integer-only on v7/v8,
 *               so the cortex-m4f image also runs on a Cortex-M3)
 *   2 mb_dsp    SMLAD and FPv4/FPv5 single-precision kernels
 *   3 mb_flash  (STM32L4R5) straight-line loop in flash with FLASH_ACR = LATENCY only,
 *               + PRFTEN, + PRFTEN/ICEN/DCEN; MB_FLASH_LATENCY = the wait states
 *   4 mb_dcache (STM32H7A3) Cortex-M7 L1 caches on: one load per 32-byte line over an
 *               8 KB and a 64 KB array in AXI SRAM (the arena); prints CCR.DC/IC read back
 *   5 mb_branch (Armv7-M) taken-branch refill by branch kind and target alignment/width
 *   6 mb_unaligned (Armv7-M) LDR/LDRH/STR/STRH at byte offsets 0-3 of a word (CCR.UNALIGN_TRP
 *               = 0); ua_ldr_o1_long repeats ua_ldr_o1 long enough (> 100 000 cycles) for
 *               `fast` mode to learn it outside its first detailed window
 *   7 mb_wbuf   (Armv7-M) the write buffer: STR followed by 0-3 ALU instructions, by a
 *               load, by DSB; then the same with ACTLR.DISDEFWBUF = 1 (names + "_nowb").
 *               Meant for RAM with write wait states (tests/catalogs/wbuf_m4.toml)
 *   8 mb_literal (STM32L4R5) data reads from a flash array through D-Code: four words of a
 *               16-byte line, one word per line, one word again; FLASH_ACR = LATENCY |
 *               PRFTEN | ICEN (D-cache off: the current buffer alone), then + DCEN
 *
 * On a real board: mb_flash_* set only FLASH_ACR, not the clock; configure the 120 MHz
 * (or 24 MHz) system clock first (see tests/rcc_clock.c) -- in mcusim, --clock-mhz does.
 */
#include <stdint.h>
#include "cortexm.h"
#include "semihost.h"

#ifndef MB_SET
#define MB_SET 1
#endif
#define COPIES 32
#define ITERS 4

typedef uint32_t (*kernel_fn)(uint32_t iters, uint32_t *ctx);

uint32_t mb_empty(uint32_t, uint32_t *);
#if MB_SET == 1
uint32_t mb_alu4(uint32_t, uint32_t *), mb_ldr3(uint32_t, uint32_t *),
    mb_ldr_dep(uint32_t, uint32_t *), mb_ldm4(uint32_t, uint32_t *),
    mb_ldm5(uint32_t, uint32_t *), mb_ldm4_self(uint32_t, uint32_t *),
    mb_ldm6_self(uint32_t, uint32_t *), mb_stm4(uint32_t, uint32_t *),
    mb_stm5(uint32_t, uint32_t *), mb_b_taken(uint32_t, uint32_t *),
    mb_bl(uint32_t, uint32_t *), mb_bcc_taken(uint32_t, uint32_t *),
    mb_bcc_not(uint32_t, uint32_t *);
#if ARCH_V6M
uint32_t mb_muls(uint32_t, uint32_t *);
#else
uint32_t mb_mul(uint32_t, uint32_t *), mb_mla(uint32_t, uint32_t *),
    mb_umull(uint32_t, uint32_t *), mb_sdiv_small(uint32_t, uint32_t *),
    mb_sdiv_large(uint32_t, uint32_t *), mb_udiv_large(uint32_t, uint32_t *);
#endif
#elif MB_SET == 2
uint32_t mb_smlad(uint32_t, uint32_t *), mb_vadd(uint32_t, uint32_t *),
    mb_vmul(uint32_t, uint32_t *), mb_vdiv(uint32_t, uint32_t *);
#elif MB_SET == 3
uint32_t mb_flash_run(uint32_t, uint32_t *);
#elif MB_SET == 4
uint32_t mb_empty_walk(uint32_t, uint32_t *), mb_walk(uint32_t, uint32_t *);
extern uint32_t __arena_start[];
#elif MB_SET == 5
uint32_t mb_br_n_al(uint32_t, uint32_t *), mb_br_n_un(uint32_t, uint32_t *),
    mb_br_w_al(uint32_t, uint32_t *), mb_br_w_un(uint32_t, uint32_t *),
    mb_bcc_w_un(uint32_t, uint32_t *), mb_bl_w_un(uint32_t, uint32_t *),
    mb_cbnz_taken(uint32_t, uint32_t *), mb_bx_lr(uint32_t, uint32_t *),
    mb_bx_lr_dirty(uint32_t, uint32_t *), mb_bx_reg(uint32_t, uint32_t *);
#elif MB_SET == 8
uint32_t mb_lit_line4(uint32_t, uint32_t *), mb_lit_stride16(uint32_t, uint32_t *),
    mb_lit_same(uint32_t, uint32_t *);
#elif MB_SET == 7
uint32_t mb_wb_str(uint32_t, uint32_t *), mb_wb_str_alu1(uint32_t, uint32_t *),
    mb_wb_str_alu2(uint32_t, uint32_t *), mb_wb_str_alu3(uint32_t, uint32_t *),
    mb_wb_str_ldr(uint32_t, uint32_t *), mb_wb_str_dsb(uint32_t, uint32_t *);
#elif MB_SET == 6
uint32_t mb_ua_ldr_o0(uint32_t, uint32_t *), mb_ua_ldr_o1(uint32_t, uint32_t *),
    mb_ua_ldr_o2(uint32_t, uint32_t *), mb_ua_ldr_o3(uint32_t, uint32_t *),
    mb_ua_ldrh_o1(uint32_t, uint32_t *), mb_ua_ldrh_o2(uint32_t, uint32_t *),
    mb_ua_str_o0(uint32_t, uint32_t *), mb_ua_str_o1(uint32_t, uint32_t *),
    mb_ua_str_o2(uint32_t, uint32_t *), mb_ua_strh_o1(uint32_t, uint32_t *);
#define UA_LONG_ITERS 1200            /* 1200 x 32 x ~5 cycles: past the first window */
#endif

struct kernel {
    const char *name;
    kernel_fn fn;
    uint32_t copies;
};

#if MB_SET == 1 || MB_SET == 2 || MB_SET == 5 || MB_SET == 6 || MB_SET == 7
static const struct kernel kernels[] = {
#if MB_SET == 1
    {"alu4", mb_alu4, COPIES},
    {"ldr3", mb_ldr3, COPIES},
    {"ldr_dep", mb_ldr_dep, COPIES},
    {"ldm4", mb_ldm4, COPIES},
    {"ldm5", mb_ldm5, COPIES},
    {"ldm4_self", mb_ldm4_self, COPIES},
    {"ldm6_self", mb_ldm6_self, COPIES},
    {"stm4", mb_stm4, COPIES},
    {"stm5", mb_stm5, COPIES},
    {"b_taken", mb_b_taken, COPIES},
    {"bl", mb_bl, COPIES},
    {"bcc_taken", mb_bcc_taken, COPIES},
    {"bcc_not", mb_bcc_not, COPIES},
#if ARCH_V6M
    {"muls", mb_muls, COPIES},
#else
    {"mul", mb_mul, COPIES},
    {"mla", mb_mla, COPIES},
    {"umull", mb_umull, COPIES},
    {"sdiv_small", mb_sdiv_small, COPIES},
    {"sdiv_large", mb_sdiv_large, COPIES},
    {"udiv_large", mb_udiv_large, COPIES},
#endif
#elif MB_SET == 2
    {"smlad", mb_smlad, COPIES},
    {"vadd", mb_vadd, COPIES},
    {"vmul", mb_vmul, COPIES},
    {"vdiv", mb_vdiv, COPIES},
#elif MB_SET == 5
    {"br_n_al", mb_br_n_al, COPIES},
    {"br_n_un", mb_br_n_un, COPIES},
    {"br_w_al", mb_br_w_al, COPIES},
    {"br_w_un", mb_br_w_un, COPIES},
    {"bcc_w_un", mb_bcc_w_un, COPIES},
    {"bl_w_un", mb_bl_w_un, COPIES},
    {"cbnz_taken", mb_cbnz_taken, COPIES},
    {"bx_lr", mb_bx_lr, COPIES},
    {"bx_lr_dirty", mb_bx_lr_dirty, COPIES},
    {"bx_reg", mb_bx_reg, COPIES},
#elif MB_SET == 6
    {"ua_ldr_o0", mb_ua_ldr_o0, COPIES},
    {"ua_ldr_o1", mb_ua_ldr_o1, COPIES},
    {"ua_ldr_o2", mb_ua_ldr_o2, COPIES},
    {"ua_ldr_o3", mb_ua_ldr_o3, COPIES},
    {"ua_ldrh_o1", mb_ua_ldrh_o1, COPIES},
    {"ua_ldrh_o2", mb_ua_ldrh_o2, COPIES},
    {"ua_str_o0", mb_ua_str_o0, COPIES},
    {"ua_str_o1", mb_ua_str_o1, COPIES},
    {"ua_str_o2", mb_ua_str_o2, COPIES},
    {"ua_strh_o1", mb_ua_strh_o1, COPIES},
#endif
#if MB_SET == 7
    {"wb_str", mb_wb_str, COPIES},
    {"wb_str_alu1", mb_wb_str_alu1, COPIES},
    {"wb_str_alu2", mb_wb_str_alu2, COPIES},
    {"wb_str_alu3", mb_wb_str_alu3, COPIES},
    {"wb_str_ldr", mb_wb_str_ldr, COPIES},
    {"wb_str_dsb", mb_wb_str_dsb, COPIES},
#endif
    {0, 0, 0},
};
#endif

/* 64 words of scratch (ctx[0] = ctx[3] = ctx: self pointers for the pointer chase and
 * for LDM with the base in its list) + room for 32 STMs of 5 registers. */
static uint32_t ctx[64 + 32 * 5 + 16] __attribute__((aligned(64)));

static void init_ctx(void)
{
    for (unsigned i = 0; i < sizeof ctx / sizeof ctx[0]; i++)
        ctx[i] = i;
    ctx[0] = (uint32_t)(uintptr_t)ctx;
    ctx[3] = (uint32_t)(uintptr_t)ctx;
}

static void counter_init(void)
{
#if ARCH_V6M
    SYST_CSR = 0;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;                   /* any write clears it; reloads on the next tick */
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_ENABLE;
#else
    DEMCR |= DEMCR_TRCENA;
#if defined(TARGET_CORTEX_M7F)
    DWT_LAR = CORESIGHT_UNLOCK_KEY;
#endif
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
#endif
}

static void put_int(const char *name, int32_t v)
{
    char buf[48];
    char *p = buf;
    const char *q = "MB ";
    while (*q)
        *p++ = *q++;
    while (*name && p < buf + 30)
        *p++ = *name++;
    *p++ = ' ';
    uint32_t u = (uint32_t)v;
    if (v < 0) {
        *p++ = '-';
        u = (uint32_t)(-v);
    }
    char d[12];
    int n = 0;
    do {
        d[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    while (n)
        *p++ = d[--n];
    *p++ = '\n';
    *p = 0;
    sh_write0(buf);
}

#if MB_SET == 7 || MB_SET == 8
/* out = name + suffix (a kernel's name in another configuration), cut to fit 32 bytes */
static const char *suffixed(char out[32], const char *name, const char *suffix)
{
    unsigned n = 0;
    for (const char *q = name; *q && n < 31; q++)
        out[n++] = *q;
    for (const char *q = suffix; *q && n < 31; q++)
        out[n++] = *q;
    out[n] = 0;
    return out;
}
#endif

/* (kernel - empty) * 1000 / (iters * copies), rounded to nearest */
static int32_t per_copy_x1000(uint32_t k, uint32_t e, uint32_t iters, uint32_t copies)
{
    int32_t diff = (int32_t)(k - e);
    int32_t den = (int32_t)(iters * copies);
    int32_t num = diff * 1000;
    return num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den);
}

static void measure(const char *name, kernel_fn empty, kernel_fn fn, uint32_t iters,
                    uint32_t copies, uint32_t *base)
{
    if (base == ctx)
        init_ctx();
    uint32_t e = empty(iters, base);
    if (base == ctx)
        init_ctx();
    uint32_t k = fn(iters, base);
    put_int(name, per_copy_x1000(k, e, iters, copies));
}

#if MB_SET == 3 || MB_SET == 8
#define FLASH_ACR REG32(0x40022000u)    /* RM0432 3.7.1: LATENCY[3:0], PRFTEN 8, ICEN 9, DCEN 10 */
#define ACR_PRFTEN (1u << 8)
#define ACR_ICEN (1u << 9)
#define ACR_DCEN (1u << 10)
#define ACR_ICRST (1u << 11)
#define ACR_DCRST (1u << 12)
#ifndef MB_FLASH_LATENCY
#define MB_FLASH_LATENCY 5
#endif
static void set_acr(uint32_t v)
{
    /* caches reset while disabled, then the new configuration (RM0432 3.3.4) */
    FLASH_ACR = MB_FLASH_LATENCY;
    FLASH_ACR = MB_FLASH_LATENCY | ACR_ICRST | ACR_DCRST;
    FLASH_ACR = MB_FLASH_LATENCY;
    FLASH_ACR = v;
    (void)FLASH_ACR;                  /* read back: the new latency is in effect */
}
#endif

#if MB_SET == 8
/* 512 bytes (32 copies x 16) of data in flash, line aligned */
static const uint32_t flash_array[128] __attribute__((aligned(32))) = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};
#endif

#if MB_SET == 4
#define SCB_ICIALLU REG32(0xE000EF50u)
#define SCB_DCISW   REG32(0xE000EF60u)
#define SCB_CCSIDR  REG32(0xE000ED80u)
#define SCB_CSSELR  REG32(0xE000ED84u)
#define CCR_DC (1u << 16)
#define CCR_IC (1u << 17)
static inline void dsb(void) { __asm__ volatile("dsb 0xF" ::: "memory"); }
static inline void isb(void) { __asm__ volatile("isb 0xF" ::: "memory"); }

static void caches_on(void)
{
    /* Armv7-M B2.2.7 / Cortex-M7 TRM: invalidate, then enable (as CMSIS SCB_Enable*Cache) */
    dsb();
    isb();
    SCB_ICIALLU = 0;
    SCB_CSSELR = 0;                   /* level 1 data cache */
    dsb();
    uint32_t ccsidr = SCB_CCSIDR;
    uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    for (uint32_t s = 0; s < sets; s++)
        for (uint32_t w = 0; w < ways; w++)
            SCB_DCISW = (s << 5) | (w << 30);
    dsb();
    SCB_CCR |= CCR_DC | CCR_IC;
    dsb();
    isb();
}

static void walk(const char *name, uint32_t bytes)
{
    uint32_t iters = bytes / (COPIES * 32u);
    uint32_t *a = __arena_start;
    /* warm-up pass of both (fills the caches as far as they can hold the array) */
    mb_empty_walk(iters, a);
    mb_walk(iters, a);
    measure(name, mb_empty_walk, mb_walk, iters, COPIES, a);
}
#endif

int main(void)
{
    counter_init();
#if MB_SET == 1 || MB_SET == 2 || MB_SET == 5 || MB_SET == 6 || MB_SET == 7
    for (const struct kernel *k = kernels; k->name; k++)
        measure(k->name, mb_empty, k->fn, ITERS, k->copies, ctx);
#if MB_SET == 7
    /* ACTLR.DISDEFWBUF (bit 1): no write buffer for default memory map accesses */
    REG32(0xE000E008u) |= 2u;
    for (const struct kernel *k = kernels; k->name; k++) {
        char name[32];
        measure(suffixed(name, k->name, "_nowb"), mb_empty, k->fn, ITERS, k->copies, ctx);
    }
#endif
#if MB_SET == 6
    measure("ua_ldr_o1_long", mb_empty, mb_ua_ldr_o1, UA_LONG_ITERS, COPIES, ctx);
#endif
#elif MB_SET == 3
    static const struct {
        const char *name;
        uint32_t acr;
    } cfg[] = {
        {"flash_off", MB_FLASH_LATENCY},
        {"flash_prefetch", MB_FLASH_LATENCY | ACR_PRFTEN},
        {"flash_art", MB_FLASH_LATENCY | ACR_PRFTEN | ACR_ICEN | ACR_DCEN},
    };
    for (unsigned i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        set_acr(cfg[i].acr);
        /* one untimed call of each so that the timed ones run warm (ART lines filled) */
        mb_empty(ITERS, ctx);
        mb_flash_run(ITERS, ctx);
        measure(cfg[i].name, mb_empty, mb_flash_run, ITERS, 128, ctx);
    }
#elif MB_SET == 8
    static const struct {
        const char *name;
        kernel_fn fn;
    } lit[] = {
        {"lit_line4", mb_lit_line4}, {"lit_stride16", mb_lit_stride16},
        {"lit_same", mb_lit_same},
    };
    static const struct {
        const char *suffix;
        uint32_t acr;
    } cfg[] = {
        {"", MB_FLASH_LATENCY | ACR_PRFTEN | ACR_ICEN},
        {"_dcen", MB_FLASH_LATENCY | ACR_PRFTEN | ACR_ICEN | ACR_DCEN},
    };
    for (unsigned c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        set_acr(cfg[c].acr);
        for (unsigned i = 0; i < sizeof lit / sizeof lit[0]; i++) {
            char name[32];
            suffixed(name, lit[i].name, cfg[c].suffix);
            /* one untimed call of each: the loop's code is in the ART I-cache when timed */
            mb_empty(ITERS, (uint32_t *)flash_array);
            lit[i].fn(ITERS, (uint32_t *)flash_array);
            measure(name, mb_empty, lit[i].fn, ITERS, COPIES, (uint32_t *)flash_array);
        }
    }
#elif MB_SET == 4
    walk("walk_nocache_64k", 64 * 1024);
    caches_on();
    /* CCR.DC / CCR.IC read back (RW on a Cortex-M7 with caches: Armv7-M B3.2.8, M7 TRM) */
    put_int("ccr_dc", (int32_t)((SCB_CCR >> 16) & 1u));
    put_int("ccr_ic", (int32_t)((SCB_CCR >> 17) & 1u));
    walk("walk_8k", 8 * 1024);
    walk("walk_64k", 64 * 1024);
#endif
    return 0;
}
