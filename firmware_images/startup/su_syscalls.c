/*
 * su_syscalls.c -- newlib hooks as CubeMX generates them in syscalls.c/sysmem.c: printf
 * goes to the console U(S)ART (the __io_putchar retarget of generated projects), the heap
 * is the linker script's .heap section, the other calls are stubs.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "su_stm32.h"
#include "semihost.h"

extern char __heap_start[], __heap_end[];

int _write(int fd, const char *buf, int len)
{
    (void)fd;
    if (su_uart_base == 0)
        return len;                  /* console not set up yet: dropped, as on the board */
    for (int i = 0; i < len; i++)
        su_uart_putc(buf[i]);
    return len;
}

int _read(int fd, char *buf, int len) { (void)fd; (void)buf; (void)len; errno = ENOSYS; return -1; }
int _close(int fd) { (void)fd; return -1; }
int _lseek(int fd, int off, int whence) { (void)fd; (void)off; (void)whence; return 0; }
int _fstat(int fd, struct stat *st) { (void)fd; st->st_mode = S_IFCHR; return 0; }
int _isatty(int fd) { (void)fd; return 1; }
int _getpid(void) { return 1; }
int _kill(int pid, int sig) { (void)pid; (void)sig; errno = EINVAL; return -1; }
void _exit(int status) { sh_exit_status(status); }

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
