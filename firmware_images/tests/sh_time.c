/* sh_time -- semihosting time calls: SYS_TICKFREQ > 0, SYS_ELAPSED increases across a
 * busy loop, SYS_CLOCK is not an error (>= 0) and does not decrease. Exits 0. */
#include "semihost.h"
#include "test.h"

static void busy(unsigned n)
{
    for (volatile unsigned i = 0; i < n; i++) { }
}

int main(void)
{
    int f = sh_tickfreq();
    check(f > 0, "SYS_TICKFREQ > 0");
    uint64_t t0 = 0, t1 = 0;
    int r0 = sh_elapsed(&t0);
    int c0 = sh_clock();
    busy(20000);
    int r1 = sh_elapsed(&t1);
    int c1 = sh_clock();
    check(r0 == 0 && r1 == 0, "SYS_ELAPSED returns 0");
    check(t1 > t0, "SYS_ELAPSED increases across a busy loop");
    check(c0 >= 0 && c1 >= c0, "SYS_CLOCK >= 0 and monotonic");
    return test_done("sh_time");
}
