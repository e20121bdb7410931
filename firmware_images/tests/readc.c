/* readc -- SYS_READC: reads characters from the host console until '\n', EOF (-1) or 16
 * characters and prints "readc: <text>\n". With stdin "abc\n" stdout has "readc: abc".
 * Exits 0 when at least one character was read, 1 otherwise. */
#include "semihost.h"

int main(void)
{
    char buf[17];
    int n = 0;
    while (n < 16) {
        int c = sh_readc();
        if (c < 0 || c == '\n') break;
        buf[n++] = (char)c;
    }
    buf[n] = 0;
    out_str("readc: ");
    out_str(buf);
    out_str("\n");
    return n > 0 ? 0 : 1;
}
