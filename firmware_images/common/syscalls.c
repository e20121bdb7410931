/* syscalls.c -- newlib hooks: stdio through semihosting, a bounded heap, exit. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "semihost.h"

extern char __heap_start[], __heap_end[];

void _exit(int status) { sh_exit_status(status); }

int _write(int fd, const char *buf, int len)
{
    int h = fd == 2 ? sh_stderr_handle() : sh_stdout_handle();
    int left = sh_write(h, buf, (size_t)len);
    return len - left;
}

int _read(int fd, char *buf, int len)
{
    (void)fd;
    int n = 0;
    while (n < len) {
        int c = sh_readc();
        if (c < 0) break;
        buf[n++] = (char)c;
        if (c == '\n') break;
    }
    return n;
}

void *_sbrk(ptrdiff_t incr)
{
    static char *brk = __heap_start;
    if (incr < 0 ? brk + incr < __heap_start : brk + incr > __heap_end) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *old = brk;
    brk += incr;
    return old;
}

int _fstat(int fd, struct stat *st) { (void)fd; st->st_mode = S_IFCHR; return 0; }
int _isatty(int fd) { (void)fd; return 1; }
