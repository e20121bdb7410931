#include "test.h"

volatile uint32_t test_failures;

void check(int cond, const char *what)
{
    out_str(cond ? "ok   " : "FAIL ");
    out_str(what);
    out_str("\n");
    if (!cond) test_failures++;
}

void check_eq(const char *what, uint32_t got, uint32_t expected)
{
    out_str(got == expected ? "ok   " : "FAIL ");
    out_str(what);
    out_str(" = ");
    out_hex(got);
    if (got != expected) {
        out_str(" (expected ");
        out_hex(expected);
        out_str(")");
        test_failures++;
    }
    out_str("\n");
}

void check_range(const char *what, uint32_t got, uint32_t lo, uint32_t hi)
{
    int ok = got >= lo && got <= hi;
    out_str(ok ? "ok   " : "FAIL ");
    out_str(what);
    out_str(" = ");
    out_udec(got);
    out_str(" in [");
    out_udec(lo);
    out_str(", ");
    out_udec(hi);
    out_str("]\n");
    if (!ok) test_failures++;
}

int test_done(const char *name)
{
    out_str(name);
    if (test_failures == 0) {
        out_str(": PASS\n");
        return 0;
    }
    out_str(": FAIL (");
    out_udec(test_failures);
    out_str(" failed)\n");
    return 1;   /* one status for any failed check (3 and 4 mean fault/limit in mcusim) */
}
