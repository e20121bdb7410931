/*
 * longloop -- a deterministic integer loop of about 50 million instructions:
 * LONGLOOP_ITERS iterations of x = x * 1664525 + 1013904223 (LCG mod 2^32);
 * h = (h ^ (x >> 13)) * 16777619 (FNV prime), starting x = 12345, h = 2166136261.
 * Prints "longloop: checksum 0x%08x\n" and exits 0. (The host recomputes the checksum.)
 */
#include <stdint.h>
#include "semihost.h"

#define LONGLOOP_ITERS 7000000u

__attribute__((noinline)) uint32_t longloop(uint32_t n)
{
    uint32_t x = 12345u, h = 2166136261u;
    for (uint32_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        h = (h ^ (x >> 13)) * 16777619u;
    }
    return h;
}

int main(void)
{
    uint32_t h = longloop(LONGLOOP_ITERS);
    out_str("longloop: checksum ");
    out_hex(h);
    out_str("\n");
    return 0;
}
