/* semihost.c -- semihosting calls and minimal console output. */
#include "semihost.h"

void sh_writec(char c) { sh_call(SYS_WRITEC, &c); }

void sh_write0(const char *s) { sh_call(SYS_WRITE0, s); }

int sh_write(int handle, const void *buf, size_t len)
{
    uint32_t block[3] = { (uint32_t)handle, (uint32_t)(uintptr_t)buf, (uint32_t)len };
    return sh_call(SYS_WRITE, block);
}

int sh_readc(void) { return sh_call(SYS_READC, 0); }

int sh_clock(void) { return sh_call(SYS_CLOCK, 0); }

int sh_elapsed(uint64_t *ticks)
{
    uint32_t block[2] = { 0, 0 };
    int r = sh_call(SYS_ELAPSED, block);
    *ticks = ((uint64_t)block[1] << 32) | block[0];   /* little-endian doubleword */
    return r;
}

int sh_tickfreq(void) { return sh_call(SYS_TICKFREQ, 0); }

void sh_exit_reason(uint32_t reason)
{
    /* On 32-bit targets the parameter register holds the reason code itself. */
    sh_call(SYS_EXIT, (const void *)(uintptr_t)reason);
    for (;;) { }
}

void sh_exit_extended(uint32_t reason, uint32_t subcode)
{
    uint32_t block[2] = { reason, subcode };
    sh_call(SYS_EXIT_EXTENDED, block);
    for (;;) { }
}

void sh_exit_status(int status)
{
    sh_exit_extended(ADP_Stopped_ApplicationExit, (uint32_t)status);
}

#ifndef SEMIHOST_FIXED_HANDLES
/* SYS_OPEN(":tt", mode): mode 4 ("w") is the console output (stdout), mode 8 ("a") the
 * console error stream (stderr). The handles are opened once and kept. */
static int sh_open_tt(int mode)
{
    uint32_t block[3] = { (uint32_t)(uintptr_t)":tt", (uint32_t)mode, 3 };
    return sh_call(SYS_OPEN, block);
}
static int h_out = -1, h_err = -1;
int sh_stdout_handle(void) { if (h_out < 0) h_out = sh_open_tt(4); return h_out; }
int sh_stderr_handle(void) { if (h_err < 0) h_err = sh_open_tt(8); return h_err; }
#else
/* -DSEMIHOST_FIXED_HANDLES: write to handles 1 and 2 without opening them. */
int sh_stdout_handle(void) { return SH_STDOUT; }
int sh_stderr_handle(void) { return SH_STDERR; }
#endif

static size_t str_len(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

void out_str(const char *s) { sh_write(sh_stdout_handle(), s, str_len(s)); }
void err_str(const char *s) { sh_write(sh_stderr_handle(), s, str_len(s)); }

void out_hex(uint32_t v)
{
    char b[11];
    b[0] = '0'; b[1] = 'x';
    for (int i = 0; i < 8; i++) {
        unsigned d = (v >> (28 - 4 * i)) & 0xFu;
        b[2 + i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    }
    b[10] = 0;
    out_str(b);
}

void out_udec(uint32_t v)
{
    char b[11];
    int i = 10;
    b[i] = 0;
    do { b[--i] = (char)('0' + v % 10u); v /= 10u; } while (v);
    out_str(&b[i]);
}

void out_dec(int32_t v)
{
    if (v < 0) { out_str("-"); out_udec((uint32_t)0 - (uint32_t)v); }
    else out_udec((uint32_t)v);
}
