/*
 * svc_pendsv_asm.S -- SVC entry stub, PendSV context switch, and reg_check.
 * One source for Armv6-M (Thumb-1 only: low-register STM/LDM, high registers via MOV)
 * and Armv7-M/Armv8-M (with FP: s16-s31 saved when EXC_RETURN[4] = 0).
 */
    .syntax unified
    .thumb
    .text

/* SVC_Handler: r0 = stacked frame (MSP or PSP per EXC_RETURN[2]), r1 = EXC_RETURN */
    .global SVC_Handler
    .type SVC_Handler, %function
    .thumb_func
SVC_Handler:
    mov r1, lr
    movs r0, #4
    tst r0, r1
    beq 1f
    mrs r0, psp
    b 2f
1:  mrs r0, msp
2:  ldr r2, =svc_dispatch
    bx r2
    .size SVC_Handler, . - SVC_Handler

/* PendSV_Handler: save the running thread's r4-r11 + EXC_RETURN (+ s16-s31) on its PSP
 * stack, store its PSP in thread_sp[current], switch to the other thread, restore. */
    .global PendSV_Handler
    .type PendSV_Handler, %function
    .thumb_func
PendSV_Handler:
#if defined(__ARM_ARCH_6M__)
    mrs r0, psp
    subs r0, r0, #36            /* r4-r11, lr */
    mov r1, r0
    stmia r1!, {r4-r7}
    mov r4, r8
    mov r5, r9
    mov r6, r10
    mov r7, r11
    stmia r1!, {r4-r7}
    mov r4, lr
    str r4, [r1]
    ldr r1, =current_thread
    ldr r2, [r1]
    ldr r3, =thread_sp
    lsls r2, r2, #2
    str r0, [r3, r2]
    lsrs r2, r2, #2
    movs r0, #1
    eors r2, r0
    str r2, [r1]
    lsls r2, r2, #2
    ldr r0, [r3, r2]
    ldr r1, =switch_count
    ldr r2, [r1]
    adds r2, r2, #1
    str r2, [r1]
    mov r1, r0
    adds r1, r1, #16
    ldmia r1!, {r4-r7}
    mov r8, r4
    mov r9, r5
    mov r10, r6
    mov r11, r7
    ldr r4, [r1]
    mov lr, r4
    ldmia r0!, {r4-r7}
    adds r0, r0, #20
    msr psp, r0
    bx lr
#else
    mrs r0, psp
    isb
#if defined(__ARM_FP)
    tst lr, #0x10
    it eq
    vstmdbeq r0!, {s16-s31}
#endif
    stmdb r0!, {r4-r11, lr}
    ldr r1, =current_thread
    ldr r2, [r1]
    ldr r3, =thread_sp
    str r0, [r3, r2, lsl #2]
    eor r2, r2, #1
    str r2, [r1]
    ldr r0, [r3, r2, lsl #2]
    ldr r1, =switch_count
    ldr r2, [r1]
    adds r2, r2, #1
    str r2, [r1]
    ldmia r0!, {r4-r11, lr}
#if defined(__ARM_FP)
    tst lr, #0x10
    it eq
    vldmiaeq r0!, {s16-s31}
#endif
    msr psp, r0
    isb
    bx lr
#endif
    .size PendSV_Handler, . - PendSV_Handler

/* uint32_t reg_check(uint32_t seed): r4-r11 = seed+1..seed+8, r2 = seed+9, r3 = seed+10,
 * r12 = seed+11; set ICSR.PENDSVSET (the other thread runs); return the number of those
 * registers that changed. Thumb-1 only, so the same code runs everywhere. */
    .global reg_check
    .type reg_check, %function
    .thumb_func
reg_check:
    push {r4-r7, lr}
    mov r4, r8
    mov r5, r9
    mov r6, r10
    mov r7, r11
    push {r4-r7}
    push {r0}                   /* seed at [sp] */
    adds r4, r0, #5
    mov r8, r4
    adds r4, r0, #6
    mov r9, r4
    adds r4, r0, #7
    mov r10, r4
    adds r4, r0, #7
    adds r4, r4, #1
    mov r11, r4
    adds r4, r0, #1
    adds r5, r0, #2
    adds r6, r0, #3
    adds r7, r0, #4
    adds r2, r0, #7
    adds r2, r2, #2             /* seed + 9 */
    adds r3, r2, #1             /* seed + 10 */
    adds r1, r3, #1
    mov r12, r1                 /* seed + 11 */
    ldr r0, =0xE000ED04         /* ICSR */
    ldr r1, =0x10000000         /* PENDSVSET */
    str r1, [r0]
    dsb
    isb
    /* back here after the other thread yielded to us */
    ldr r0, [sp]
    movs r1, #0
    adds r0, r0, #9
    cmp r2, r0
    beq 1f
    adds r1, r1, #1
1:  adds r0, r0, #1
    cmp r3, r0
    beq 1f
    adds r1, r1, #1
1:  adds r0, r0, #1
    cmp r12, r0
    beq 1f
    adds r1, r1, #1
1:  ldr r2, [sp]                /* r2 = expected, stepping seed+1.. */
    adds r2, r2, #1
    cmp r4, r2
    beq 1f
    adds r1, r1, #1
1:  adds r2, r2, #1
    cmp r5, r2
    beq 1f
    adds r1, r1, #1
1:  adds r2, r2, #1
    cmp r6, r2
    beq 1f
    adds r1, r1, #1
1:  adds r2, r2, #1
    cmp r7, r2
    beq 1f
    adds r1, r1, #1
1:  adds r2, r2, #1
    cmp r8, r2
    beq 1f
    adds r1, r1, #1
1:  adds r2, r2, #1
    cmp r9, r2
    beq 1f
    adds r1, r1, #1
1:  adds r2, r2, #1
    cmp r10, r2
    beq 1f
    adds r1, r1, #1
1:  adds r2, r2, #1
    cmp r11, r2
    beq 1f
    adds r1, r1, #1
1:  mov r0, r1
    add sp, sp, #4
    pop {r4-r7}
    mov r8, r4
    mov r9, r5
    mov r10, r6
    mov r11, r7
    pop {r4-r7, pc}
    .size reg_check, . - reg_check

/* uint32_t run_on_psp(uint32_t psp_top, uint32_t (*fn)(void)): switch thread mode to the
 * process stack (PSP = psp_top, CONTROL.SPSEL = 1), call fn there, switch back to MSP and
 * return fn's result. The caller's frame stays on MSP, untouched. */
    .global run_on_psp
    .type run_on_psp, %function
    .thumb_func
run_on_psp:
    push {r4, lr}
    msr psp, r0
    mrs r2, control
    movs r3, #2
    orrs r2, r2, r3
    msr control, r2
    isb
    blx r1
    mrs r2, control
    movs r3, #2
    bics r2, r2, r3
    msr control, r2
    isb
    pop {r4, pc}
    .size run_on_psp, . - run_on_psp

    .ltorg
