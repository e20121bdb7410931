/*
 * sh_files -- semihosting host file operations (SYS_OPEN/WRITE/CLOSE/FLEN/SEEK/READ/
 * REMOVE), as a test of the simulator's sandbox: inside the directory the user allows,
 * files work; paths that escape it are refused (-1).
 * Prints "sandbox: files ok" or "sandbox: files refused" and one line per escape attempt;
 * exits 0 when every result is one of the two consistent outcomes.
 */
#include <string.h>
#include "semihost.h"
#include "test.h"

static int sh_open(const char *name, int mode)
{
    uint32_t blk[3] = {(uint32_t)(uintptr_t)name, (uint32_t)mode, (uint32_t)strlen(name)};
    return sh_call(SYS_OPEN, blk);
}

static int sh_close(int h)
{
    uint32_t blk[1] = {(uint32_t)h};
    return sh_call(0x02, blk);
}

static int sh_read(int h, void *buf, uint32_t n)
{
    uint32_t blk[3] = {(uint32_t)h, (uint32_t)(uintptr_t)buf, n};
    return sh_call(0x06, blk);
}

static int sh_flen(int h)
{
    uint32_t blk[1] = {(uint32_t)h};
    return sh_call(0x0C, blk);
}

static int sh_remove(const char *name)
{
    uint32_t blk[2] = {(uint32_t)(uintptr_t)name, (uint32_t)strlen(name)};
    return sh_call(0x0E, blk);
}

int main(void)
{
    static const char msg[] = "written by firmware\n";
    int h = sh_open("out.txt", 4);               /* "wb" */
    if (h == -1) {
        out_str("sandbox: files refused\n");
    } else {
        check_eq("SYS_WRITE", (uint32_t)sh_write(h, msg, sizeof msg - 1), 0);
        check_eq("SYS_CLOSE", (uint32_t)sh_close(h), 0);
        h = sh_open("out.txt", 0);               /* "rb" */
        check(h != -1, "reopen for reading");
        check_eq("SYS_FLEN", (uint32_t)sh_flen(h), sizeof msg - 1);
        char buf[32] = {0};
        check_eq("SYS_READ (bytes not read)", (uint32_t)sh_read(h, buf, sizeof msg - 1), 0);
        check(memcmp(buf, msg, sizeof msg - 1) == 0, "read back the same bytes");
        sh_close(h);
        h = sh_open("tmp.txt", 4);
        sh_close(h);
        check_eq("SYS_REMOVE", (uint32_t)sh_remove("tmp.txt"), 0);
        out_str("sandbox: files ok\n");
    }
    check_eq("escape with ..", (uint32_t)sh_open("../escape.txt", 4), 0xFFFFFFFFu);
    check_eq("absolute path stays inside", (uint32_t)sh_open("/etc/passwd", 0), 0xFFFFFFFFu);
    return test_done("sh_files");
}
