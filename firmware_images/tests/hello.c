/* hello -- semihosting console output: SYS_WRITE0, SYS_WRITEC, SYS_WRITE to stdout and
 * stderr. Expected stdout: "hello, world\n" "WRITEC ok\n" "SYS_WRITE stdout\n";
 * stderr: "SYS_WRITE stderr\n". Exits 0. */
#include "semihost.h"

int main(void)
{
    sh_write0("hello, world\n");
    const char *w = "WRITEC ok\n";
    while (*w) sh_writec(*w++);
    static const char out[] = "SYS_WRITE stdout\n";
    static const char err[] = "SYS_WRITE stderr\n";
    int r1 = sh_write(sh_stdout_handle(), out, sizeof out - 1);
    int r2 = sh_write(sh_stderr_handle(), err, sizeof err - 1);
    if (r1 != 0 || r2 != 0) {
        sh_write0("SYS_WRITE returned nonzero\n");
        return 1;
    }
    return 0;
}
