/*
 * memtest (cortex-m4f, STM32L4R5) -- memories of the part:
 *  - SRAM1 (0x20000000, 192 KB), SRAM2 (0x20030000, 64 KB), SRAM3 (0x20040000, 384 KB):
 *    in the first and last 4 KB of each bank inside .arena, write and read back
 *    0x55555555, 0xAAAAAAAA and address-in-address; byte and halfword stores read back as
 *    little-endian words; unaligned word accesses across the SRAM1/SRAM2 and SRAM2/SRAM3
 *    boundaries.
 *  - flash: a const table reads back its known values; the boot alias at 0x00000000 reads
 *    the same words as 0x08000000 over the whole loaded image.
 *  - with -DCHECK_SRAM2_ALIAS (memtest_sram2_alias): SRAM2 is also at 0x10000000.
 * Exits 0 when every check passes.
 */
#include "cortexm.h"
#include "target.h"
#include "test.h"

extern uint32_t __arena_start[], __arena_end[];
extern const uint32_t __vector_table_start[];
extern const uint32_t __data_load_end[];

struct bank { const char *name; uint32_t base, size; };
static const struct bank banks[3] = {
    { "SRAM1 pattern errors", 0x20000000u, 192u * 1024u },
    { "SRAM2 pattern errors", 0x20030000u, 64u * 1024u },
    { "SRAM3 pattern errors", 0x20040000u, 384u * 1024u },
};

static const uint32_t flash_table[8] = {
    0x01234567u, 0x89ABCDEFu, 0xDEADBEEFu, 0xCAFEF00Du,
    0x00000000u, 0xFFFFFFFFu, 0x5A5AA5A5u, 0x13579BDFu,
};

static uint32_t launder(uint32_t v) { __asm__("" : "+r"(v)); return v; }

static uint32_t test_window(uint32_t lo, uint32_t hi)
{
    uint32_t errors = 0;
    volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)lo;
    uint32_t n = (hi - lo) / 4u;
    static const uint32_t pats[2] = { 0x55555555u, 0xAAAAAAAAu };
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < n; i++) p[i] = pats[k];
        for (uint32_t i = 0; i < n; i++) errors += p[i] != pats[k];
    }
    for (uint32_t i = 0; i < n; i++) p[i] = lo + 4u * i;
    for (uint32_t i = 0; i < n; i++) errors += p[i] != lo + 4u * i;
    return errors;
}

int main(void)
{
    out_str("memtest on " TARGET_NAME " (STM32L4R5)\n");
    uint32_t a_lo = ((uint32_t)(uintptr_t)__arena_start + 15u) & ~15u;
    uint32_t a_hi = (uint32_t)(uintptr_t)__arena_end;

    for (int b = 0; b < 3; b++) {
        uint32_t lo = banks[b].base, hi = banks[b].base + banks[b].size;
        if (lo < a_lo) lo = a_lo;
        if (hi > a_hi) hi = a_hi;
        uint32_t errors = 0;
        if (hi - lo > 8192u) {
            errors += test_window(lo, lo + 4096u);
            errors += test_window(hi - 4096u, hi);
        } else {
            errors += test_window(lo, hi);
        }
        check_eq(banks[b].name, errors, 0);
    }

    /* byte / halfword lanes, little-endian */
    volatile uint32_t *w = (volatile uint32_t *)(uintptr_t)a_lo;
    volatile uint8_t *b8 = (volatile uint8_t *)w;
    volatile uint16_t *h16 = (volatile uint16_t *)w;
    w[0] = 0;
    b8[0] = 0x11; b8[1] = 0x22; b8[2] = 0x33; b8[3] = 0x44;
    check_eq("byte stores -> word", w[0], 0x44332211u);
    h16[1] = 0xBEEF;
    check_eq("halfword store -> word", w[0], 0xBEEF2211u);
    check_eq("byte load", b8[3], 0xBE);

    /* unaligned words across bank boundaries (CCR.UNALIGN_TRP = 0 at reset) */
    static const uint32_t edges[2] = { 0x20030000u, 0x20040000u };
    for (int i = 0; i < 2; i++) {
        uint32_t e = launder(edges[i]);
        volatile uint32_t *u = (volatile uint32_t *)(uintptr_t)(e - 2u);
        volatile uint16_t *lo16 = (volatile uint16_t *)(uintptr_t)(e - 2u);
        volatile uint16_t *hi16 = (volatile uint16_t *)(uintptr_t)e;
        *u = 0xA1B2C3D4u;
        check_eq(i == 0 ? "unaligned across SRAM1/SRAM2" : "unaligned across SRAM2/SRAM3",
                 ((uint32_t)*hi16 << 16) | *lo16, 0xA1B2C3D4u);
        check_eq("unaligned word readback", *u, 0xA1B2C3D4u);
    }

    /* flash */
    const volatile uint32_t *ft = flash_table;
    check((uint32_t)(uintptr_t)flash_table >= 0x08000000u &&
          (uint32_t)(uintptr_t)flash_table < 0x08200000u, "const table is in flash");
    check_eq("flash table[2]", ft[2], 0xDEADBEEFu);
    check_eq("flash table[7]", ft[7], 0x13579BDFu);
    uint32_t words = ((uint32_t)(uintptr_t)__data_load_end - 0x08000000u) / 4u;
    const volatile uint32_t *f = (const volatile uint32_t *)(uintptr_t)launder(0x08000000u);
    const volatile uint32_t *z = (const volatile uint32_t *)(uintptr_t)launder(0x00000000u);
    uint32_t diffs = 0;
    for (uint32_t i = 0; i < words; i++) diffs += f[i] != z[i];
    check_eq("flash alias 0x00000000 == 0x08000000 (mismatched words)", diffs, 0);
    check_eq("initial MSP at 0x00000000", z[0], __vector_table_start[0]);
    check_eq("reset vector at 0x00000004", z[1], __vector_table_start[1]);

#ifdef CHECK_SRAM2_ALIAS
    volatile uint32_t *s2 = (volatile uint32_t *)(uintptr_t)launder(0x2003F000u);
    volatile uint32_t *s2a = (volatile uint32_t *)(uintptr_t)launder(0x1000F000u);
    *s2 = 0x600DF00Du;
    check_eq("SRAM2 alias at 0x10000000 reads SRAM2", *s2a, 0x600DF00Du);
    *s2a = 0x0BADCAFEu;
    check_eq("SRAM2 written through its alias", *s2, 0x0BADCAFEu);
#endif
    return test_done("memtest");
}
