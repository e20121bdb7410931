/* exitcode -- ways of leaving through semihosting, selected at build time:
 *   EXIT_MODE 1 (exit_3):       SYS_EXIT_EXTENDED {ApplicationExit, 3} -> status 3
 *   EXIT_MODE 2 (exit_appexit): SYS_EXIT ADP_Stopped_ApplicationExit  -> status 0
 *   EXIT_MODE 3 (exit_other):   SYS_EXIT ADP_Stopped_RunTimeErrorUnknown (0x20023)
 *                               -> status 1
 *   EXIT_MODE 4 (exit_return):  main returns 7; the startup code exits with 7 */
#include "semihost.h"

#ifndef EXIT_MODE
#error "EXIT_MODE"
#endif

int main(void)
{
    out_str("exitcode: leaving\n");
#if EXIT_MODE == 1
    sh_exit_extended(ADP_Stopped_ApplicationExit, 3);
#elif EXIT_MODE == 2
    sh_exit_reason(ADP_Stopped_ApplicationExit);
#elif EXIT_MODE == 3
    sh_exit_reason(ADP_Stopped_RunTimeErrorUnknown);
#elif EXIT_MODE == 4
    return 7;
#endif
}
