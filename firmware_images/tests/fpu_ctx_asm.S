/*
 * fpu_ctx_asm.S -- FP context across an interrupt (Armv7-M/Armv8-M with FPU).
 *
 * uint32_t fp_thread_run(uint32_t seed, uint32_t fpscr):
 *   s0-s15 = seed + i, FPSCR = fpscr, record SP in fp_thread_sp, pend IRQ FP_IRQ via
 *   NVIC_ISPR, DSB/ISB (the handler runs here), then count the registers among s0-s15
 *   and FPSCR that changed; returns that count.
 * void int_thread_run(void): records SP and pends the IRQ without touching the FPU.
 * FP_IRQ_HANDLER: entry SP and FPCCR (read before any FP instruction) are passed to
 *   fp_irq_c(entry_sp, fpccr, exc_return).
 * void fp_clobber(void): s0-s15 = 0xBAD00000 + i, FPSCR = 0.
 */
    .syntax unified
    .thumb
    .text

#define FP_IRQ 20
#define NVIC_ISPR0 0xE000E200

    .global fp_thread_run
    .type fp_thread_run, %function
    .thumb_func
fp_thread_run:
    push {r4-r6, lr}
    mov r4, r0
    mov r5, r1
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    add r2, r4, #\n
    vmov s\n, r2
    .endr
    vmsr fpscr, r5
    ldr r3, =fp_thread_sp
    mov r2, sp
    str r2, [r3]
    ldr r2, =NVIC_ISPR0
    mov r3, #(1 << FP_IRQ)
    str r3, [r2]
    dsb
    isb
    movs r0, #0
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vmov r2, s\n
    add r3, r4, #\n
    cmp r2, r3
    it ne
    addne r0, r0, #1
    .endr
    vmrs r2, fpscr
    cmp r2, r5
    it ne
    addne r0, r0, #1
    pop {r4-r6, pc}
    .size fp_thread_run, . - fp_thread_run

    .global int_thread_run
    .type int_thread_run, %function
    .thumb_func
int_thread_run:
    ldr r3, =fp_thread_sp
    mov r2, sp
    str r2, [r3]
    ldr r2, =NVIC_ISPR0
    mov r3, #(1 << FP_IRQ)
    str r3, [r2]
    dsb
    isb
    bx lr
    .size int_thread_run, . - int_thread_run

    .global IRQ20_Handler
    .type IRQ20_Handler, %function
    .thumb_func
IRQ20_Handler:
    mov r0, sp
    ldr r1, =0xE000EF34         /* FPCCR */
    ldr r1, [r1]
    mov r2, lr                  /* EXC_RETURN: bit 4 = 0 for an extended (FP) frame */
    push {r4, lr}
    bl fp_irq_c
    pop {r4, pc}
    .size IRQ20_Handler, . - IRQ20_Handler

    .global fp_clobber
    .type fp_clobber, %function
    .thumb_func
fp_clobber:
    ldr r1, =0xBAD00000
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    add r2, r1, #\n
    vmov s\n, r2
    .endr
    movs r2, #0
    vmsr fpscr, r2
    bx lr
    .size fp_clobber, . - fp_clobber

    .global fp_read_fpscr
    .type fp_read_fpscr, %function
    .thumb_func
fp_read_fpscr:
    vmrs r0, fpscr
    bx lr
    .size fp_read_fpscr, . - fp_read_fpscr

    .ltorg
