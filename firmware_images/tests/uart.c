/*
 * uart -- the console U(S)ART by polling (no semihosting for the console traffic):
 * prints "uart: type 5 characters\n", reads 5 bytes (poll ISR.RXNE, read RDR), echoes
 * them uppercased followed by "\n", prints "done\n", waits for ISR.TC, exits 0.
 * Line ends go out as "\r\n". With input "hello" the console shows "HELLO" then "done".
 */
#include "cortexm.h"
#include "target.h"
#include "uart.h"
#include "semihost.h"

int main(void)
{
    uart_init();
    uart_puts("uart: " CONSOLE_NAME " on " TARGET_NAME "\n");
    uart_puts("uart: type 5 characters\n");
    char buf[6];
    for (int i = 0; i < 5; i++) {
        int c = uart_getc();
        if (c >= 'a' && c <= 'z') c -= 'a' - 'A';
        buf[i] = (char)c;
    }
    buf[5] = 0;
    uart_puts(buf);
    uart_puts("\n");
    uart_puts("done\n");
    uart_flush();
    return 0;
}
