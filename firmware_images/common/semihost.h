/*
 * semihost.h -- Arm semihosting (BKPT 0xAB on M-profile; op in r0, parameter in r1,
 * result in r0). See Arm "Semihosting for AArch32 and AArch64", version 3.
 *
 * Console handles: as the semihosting specification prescribes, the console streams are
 * opened with SYS_OPEN(":tt", 4) for stdout and SYS_OPEN(":tt", 8) for stderr (mode 4 =
 * "w", mode 8 = "a"), once, on the first write; SYS_WRITE then uses the returned handles.
 * This works on every host (OpenOCD, pyOCD and QEMU number their handles differently).
 * A host such as mcusim may return 1 and 2. Build with -DSEMIHOST_FIXED_HANDLES to skip
 * SYS_OPEN and write to the fixed handles 1 (stdout) and 2 (stderr).
 * SYS_OPEN parameter block: {pointer to ":tt", mode, length 3}.
 */
#ifndef SEMIHOST_H
#define SEMIHOST_H
#include <stdint.h>
#include <stddef.h>

#define SYS_OPEN          0x01
#define SYS_WRITEC        0x03
#define SYS_WRITE0        0x04
#define SYS_WRITE         0x05
#define SYS_READC         0x07
#define SYS_CLOCK         0x10
#define SYS_EXIT          0x18
#define SYS_EXIT_EXTENDED 0x20
#define SYS_ELAPSED       0x30
#define SYS_TICKFREQ      0x31

#define ADP_Stopped_ApplicationExit     0x20026u
#define ADP_Stopped_RunTimeErrorUnknown 0x20023u

#define SH_STDOUT 1
#define SH_STDERR 2

static inline int sh_call(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_writec(char c);
void sh_write0(const char *s);
/* Returns the number of bytes NOT written (0 on success), as SYS_WRITE does. */
int sh_write(int handle, const void *buf, size_t len);
int sh_readc(void);
int sh_clock(void);                 /* centiseconds since start, -1 on error */
int sh_elapsed(uint64_t *ticks);    /* 0 on success */
int sh_tickfreq(void);              /* ticks per second of SYS_ELAPSED, -1 if unknown */
void sh_exit_reason(uint32_t reason) __attribute__((noreturn));   /* SYS_EXIT */
void sh_exit_extended(uint32_t reason, uint32_t subcode) __attribute__((noreturn));
/* Exit with status n: SYS_EXIT_EXTENDED(ADP_Stopped_ApplicationExit, n). */
void sh_exit_status(int status) __attribute__((noreturn));
int sh_stdout_handle(void);
int sh_stderr_handle(void);

/* Small formatted output on stdout (no printf, no heap). */
void out_str(const char *s);
void out_hex(uint32_t v);            /* 0x%08x */
void out_dec(int32_t v);
void out_udec(uint32_t v);
void err_str(const char *s);        /* to stderr */

#endif
