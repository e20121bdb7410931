/* test.h -- self-checking helpers: every check prints one line ("ok ..." or "FAIL ...");
 * test_done() prints the summary and returns the failure count (main's exit status). */
#ifndef TEST_H
#define TEST_H
#include <stdint.h>
#include "semihost.h"

extern volatile uint32_t test_failures;

void check(int cond, const char *what);
void check_eq(const char *what, uint32_t got, uint32_t expected);
void check_range(const char *what, uint32_t got, uint32_t lo, uint32_t hi);
int test_done(const char *name);

#endif
