/*
 * Microbenchmark kernels: exact instruction sequences timed with the core's cycle counter.
 *
 * Every kernel is the same harness (macro KERNEL):
 *
 *     uint32_t mb_<name>(uint32_t iters, uint32_t *ctx);   returns elapsed counter cycles
 *
 *       push, r4 = r8 = ctx, r7 = counter address, <setup>
 *       b 10f
 *   10: ldr r1, [r7]          @ t0 -- first instruction of its basic block
 *       mov r9, r1
 *       b 11f
 *       .balign 64
 *   11: <body> x copies       @ the measured sequence, unrolled
 *       <tail>                @ mov r4, r8 (re-base the pointer) -- or nop
 *       subs r0, #1
 *       bne 11b               @ (Armv6-M: beq 19f; b 11b -- Thumb-1 B<cond> range)
 *   19: ldr r2, [r7]          @ t1 -- first instruction of its basic block
 *
 * Both counter reads are the first instruction of a basic block (a block ends at a
 * branch), so on the real core and on a simulator that charges a block's cost at its
 * start they see the same thing: everything executed before the block. The C driver
 * subtracts the cost of mb_empty (the same harness with no body) and divides by
 * iters * copies: cycles per sequence copy.
 *
 * Counter: DWT CYCCNT (0xE0001004, counts up) on Armv7-M/Armv8-M; SysTick CVR
 * (0xE000E018, 24 bits, counts down, CLKSOURCE = processor clock) on Armv6-M, which has
 * no DWT cycle counter. The driver configures it.
 *
 * Each kernel has its own 1 KB-aligned section so that its loop never straddles a 1 KB
 * page (a page boundary would split the loop into two translated blocks).
 *
 * Registers the bodies may use: r1-r3, r5, r6 (and r4 for loads/stores through ctx,
 * r10-r12, s0-s31 on v7/v8). r0 = iteration counter, r7 = counter address, r8 = ctx,
 * r9 = t0. The t0 read clobbers r1, so no body may depend on r1's setup value.
 */
    .syntax unified
    .thumb

#if defined(__ARM_ARCH_6M__)
#define MB_V6M 1
#define COUNTER_ADDR 0xE000E018
#else
#define MB_V6M 0
#define COUNTER_ADDR 0xE0001004
#endif

#ifndef MB_SET
#define MB_SET 1
#endif

/* ------------------------------------------------------------------ the harness */
    .macro KERNEL name, copies, setup, body, tail=MB_TAIL_REBASE
    .section .text.mb_\name, "ax", %progbits
    .balign 1024
    .global mb_\name
    .type mb_\name, %function
    .thumb_func
mb_\name:
    push {r4-r7, lr}
    mov r2, r8
    mov r3, r9
    push {r2, r3}
    mov r4, r1
    mov r8, r1
    ldr r7, =COUNTER_ADDR
    \setup
    b 10f
10:
    ldr r1, [r7]
    mov r9, r1
    b 11f
    .balign 64
11:
    .rept \copies
    \body
    .endr
    \tail
    subs r0, #1
#if MB_V6M
    beq 19f                  /* Thumb-1 B<cond> reaches only -256 bytes */
    b 11b
#else
    bne.w 11b                /* always 32-bit: the same loop edge for every body length */
#endif
19:
    ldr r2, [r7]
#if MB_V6M
    mov r1, r9
    subs r0, r1, r2          /* SysTick counts down */
    ldr r1, =0xFFFFFF
    ands r0, r1
#else
    mov r1, r9
    subs r0, r2, r1
#endif
    pop {r2, r3}
    mov r8, r2
    mov r9, r3
    pop {r4-r7, pc}
    .ltorg
    .size mb_\name, . - mb_\name
    .endm

    .macro MB_TAIL_REBASE
    mov r4, r8
    .endm
    .macro MB_TAIL_NOP
    nop
    .endm
    .macro MB_NONE
    .endm

/* ------------------------------------------------------------------ setups */
    .macro S_ZERO                 /* r1-r3, r5, r6 = small values */
    movs r1, #1
    movs r2, #2
    movs r3, #3
    movs r5, #5
    movs r6, #6
    .endm
    .macro S_FLAGS_NE             /* Z = 0 (iters >= 1), so bne is taken, beq is not */
    S_ZERO
    cmp r0, #0
    .endm
    .macro S_SELFPTR              /* r5 = ctx; ctx[0] = ctx (set by the driver) */
    mov r5, r4
    .endm

/* ------------------------------------------------------------------ bodies (Thumb-1 and Thumb-2) */
    .macro B_NONE
    .endm
    .macro B_ALU4                 /* 4 independent single-cycle ALU instructions */
    adds r1, #1
    adds r2, #1
    adds r3, #1
    adds r5, #1
    .endm
    .macro B_LDR3                 /* 3 independent loads (pipelined on M3/M4) + 1 ALU */
    ldr r1, [r4]
    ldr r2, [r4, #4]
    ldr r3, [r4, #8]
    adds r5, #1
    .endm
    .macro B_LDRDEP               /* pointer chase: the address is the previous load's result */
    ldr r5, [r5]
    .endm
    .macro B_LDM4                 /* writeback, walks ctx (re-based every iteration) */
    ldmia r4!, {r1, r2, r3, r5}
    .endm
    .macro B_LDM5
    ldmia r4!, {r1, r2, r3, r5, r6}
    .endm
    .macro B_LDM4_SELF            /* base in the list: no writeback; ctx[3] = ctx */
    ldm r4, {r1, r2, r3, r4}
    .endm
    .macro B_LDM6_SELF
    ldm r4, {r1, r2, r3, r4, r5, r6}
    .endm
    .macro B_STM4
    stmia r4!, {r1, r2, r3, r5}
    .endm
    .macro B_STM5
    stmia r4!, {r1, r2, r3, r5, r6}
    .endm
    .macro B_B                    /* unconditional forward branch over a (never executed) nop */
    b 1f
    nop
1:
    .endm
    .macro B_BL
    bl 1f
1:
    .endm
    .macro B_BNE_TAKEN            /* Z = 0: taken, forward over a (never executed) nop.
                                     Not to the next instruction: a simulator that tells
                                     taken from not-taken by the next block's address
                                     cannot see that one (compilers never emit it). */
    bne 1f
    nop
1:
    .endm
    .macro B_BEQ_NOT              /* Z = 0: never taken */
    beq 19f
    .endm
    .macro B_MULS                 /* M0+ MULS (Rd = Rm) */
    muls r1, r2, r1
    .endm

/* ------------------------------------------------------------------ Thumb-2 only bodies */
#if !MB_V6M
    .macro B_MUL
    mul r1, r2, r3
    .endm
    .macro B_MLA                  /* accumulator chain */
    mla r1, r2, r3, r1
    .endm
    .macro B_UMULL
    umull r1, r2, r3, r5
    .endm
    .macro S_MULL_BIG             /* full-width operands: no early termination on M3 */
    S_ZERO
    ldr r3, =0x89abcdef
    ldr r5, =0xfedcba98
    .endm
    .macro B_SDIV
    sdiv r1, r2, r3
    .endm
    .macro B_UDIV
    udiv r1, r2, r3
    .endm
    .macro S_DIV_SMALL            /* 7 / 5: quotient 1 */
    movs r2, #7
    movs r3, #5
    .endm
    .macro S_DIV_LARGE            /* 0x7fffffff / 1: 31-bit quotient */
    ldr r2, =0x7fffffff
    movs r3, #1
    .endm
    .macro S_UDIV_LARGE           /* 0xffffffff / 1: 32-bit quotient */
    ldr r2, =0xffffffff
    movs r3, #1
    .endm
    .macro B_ADDW                 /* 32-bit ALU instruction (4 per 128-bit flash line) */
    add.w r1, r1, #1
    .endm
    .macro B_LDR_LINE             /* one word per 32-byte cache line, walking the array */
    ldr r1, [r4], #32
    .endm
#endif

#if MB_SET == 5 && !MB_V6M
/* Taken-branch refill P (issue 15, docs/timing.md "Taken-branch refill"): the branch and its
 * target in every shape of the rule -- a copy is a multiple of 4 bytes, so every copy puts
 * the target at the same alignment; skipped filler is `nop` (never executed). */
    .macro B_BR_N_AL              /* B.N to a 16-bit instruction at a word address */
    b.n 1f
    nop
1:  adds r1, #1
    adds r2, #1
    .endm
    .macro B_BR_N_UN              /* B.N to a 16-bit instruction at a halfword address */
    b.n 1f
    nop
    nop
1:  adds r1, #1
    .endm
    .macro B_BR_W_AL              /* B.N to a 32-bit instruction at a word address */
    b.n 1f
    nop
1:  add.w r1, r1, #1
    .endm
    .macro B_BR_W_UN              /* B.N to a 32-bit instruction at a halfword address */
    b.n 1f
    nop
    nop
1:  add.w r1, r1, #1
    adds r2, #1
    .endm
    .macro B_BCC_W_UN             /* B<cc> (taken, Z = 0) to the same */
    bne.n 1f
    nop
    nop
1:  add.w r1, r1, #1
    adds r2, #1
    .endm
    .macro B_BL_W_UN              /* BL to the same (LR is restored by the harness' pop) */
    bl 1f
    nop
1:  add.w r1, r1, #1
    adds r2, #1
    .endm
    .macro B_CBNZ_TAKEN           /* CBNZ (r3 = 3: taken) to a 16-bit word-aligned target */
    cbnz r3, 1f
    nop
1:  adds r1, #1
    adds r2, #1
    .endm
    .macro B_BX_LR                /* BX LR, LR written two instructions before */
    adr r5, 1f
    adds r5, #1
    mov lr, r5
    nop
    bx lr
    nop
1:  adds r1, #1
    adds r2, #1
    .endm
    .macro B_BX_LR_DIRTY          /* BX LR right after the instruction that writes LR */
    adr r5, 1f
    adds r5, #1
    nop
    mov lr, r5
    bx lr
    nop
1:  adds r1, #1
    adds r2, #1
    .endm
    .macro B_BX_REG               /* BX to a register other than LR */
    adr r5, 1f
    adds r5, #1
    nop
    nop
    bx r5
    nop
1:  adds r1, #1
    adds r2, #1
    .endm
#endif

#if MB_SET == 6 && !MB_V6M
/* Unaligned LDR/LDRH/STR/STRH (issue 15, docs/timing.md "Unaligned accesses"): r4 = ctx
 * (64-byte aligned), CCR.UNALIGN_TRP = 0 (reset value). Each copy is one access at a fixed
 * byte offset + one independent ADDS, so no load pipelines with the next one. The offsets
 * need the 32-bit encodings (the 16-bit ones scale the offset); every copy is 6 bytes. */
    .macro B_LDR_O0
    ldr.w r1, [r4, #0]
    adds r5, #1
    .endm
    .macro B_LDR_O1
    ldr.w r1, [r4, #1]
    adds r5, #1
    .endm
    .macro B_LDR_O2
    ldr.w r1, [r4, #2]
    adds r5, #1
    .endm
    .macro B_LDR_O3
    ldr.w r1, [r4, #3]
    adds r5, #1
    .endm
    .macro B_LDRH_O1
    ldrh.w r1, [r4, #1]
    adds r5, #1
    .endm
    .macro B_LDRH_O2
    ldrh.w r1, [r4, #2]
    adds r5, #1
    .endm
    .macro B_STR_O0
    str.w r2, [r4, #0]
    adds r5, #1
    .endm
    .macro B_STR_O1
    str.w r2, [r4, #1]
    adds r5, #1
    .endm
    .macro B_STR_O2
    str.w r2, [r4, #2]
    adds r5, #1
    .endm
    .macro B_STRH_O1
    strh.w r2, [r4, #1]
    adds r5, #1
    .endm
#endif

#if MB_SET == 2
/* DSP and FP bodies (Armv7E-M / Armv8-M Mainline with DSP and FPU) */
    .macro B_SMLAD                /* accumulator chain */
    smlad r1, r2, r3, r1
    .endm
    .macro S_FP
    S_ZERO
    vmov s1, r2
    vmov s2, r3
    vcvt.f32.s32 s1, s1
    vcvt.f32.s32 s2, s2
    vmov.f32 s0, s1
    .endm
    .macro B_VADD                 /* independent: the result is not used by the next one */
    vadd.f32 s0, s1, s2
    .endm
    .macro B_VMUL
    vmul.f32 s0, s1, s2
    .endm
    .macro B_VDIV
    vdiv.f32 s0, s1, s2
    .endm
#endif

/* ------------------------------------------------------------------ the kernels */
#define COPIES 32

    KERNEL empty,       COPIES, S_ZERO,     B_NONE

#if MB_SET == 1
    KERNEL alu4,        COPIES, S_ZERO,     B_ALU4
    KERNEL ldr3,        COPIES, S_ZERO,     B_LDR3
    KERNEL ldr_dep,     COPIES, S_SELFPTR,  B_LDRDEP
    KERNEL ldm4,        COPIES, S_ZERO,     B_LDM4
    KERNEL ldm5,        COPIES, S_ZERO,     B_LDM5
    KERNEL ldm4_self,   COPIES, S_ZERO,     B_LDM4_SELF
    KERNEL ldm6_self,   COPIES, S_ZERO,     B_LDM6_SELF
    KERNEL stm4,        COPIES, S_ZERO,     B_STM4
    KERNEL stm5,        COPIES, S_ZERO,     B_STM5
    KERNEL b_taken,     COPIES, S_ZERO,     B_B
    KERNEL bl,          COPIES, S_ZERO,     B_BL
    KERNEL bcc_taken,   COPIES, S_FLAGS_NE, B_BNE_TAKEN
    KERNEL bcc_not,     COPIES, S_FLAGS_NE, B_BEQ_NOT
#if MB_V6M
    KERNEL muls,        COPIES, S_ZERO,     B_MULS
#else
    KERNEL mul,         COPIES, S_ZERO,     B_MUL
    KERNEL mla,         COPIES, S_ZERO,     B_MLA
    KERNEL umull,       COPIES, S_MULL_BIG, B_UMULL
    KERNEL sdiv_small,  COPIES, S_DIV_SMALL, B_SDIV
    KERNEL sdiv_large,  COPIES, S_DIV_LARGE, B_SDIV
    KERNEL udiv_large,  COPIES, S_UDIV_LARGE, B_UDIV
#endif
#endif

#if MB_SET == 2
    KERNEL smlad,       COPIES, S_ZERO,     B_SMLAD
    KERNEL vadd,        COPIES, S_FP,       B_VADD
    KERNEL vmul,        COPIES, S_FP,       B_VMUL
    KERNEL vdiv,        COPIES, S_FP,       B_VDIV
#endif

#if MB_SET == 5 && !MB_V6M
    KERNEL br_n_al,     COPIES, S_ZERO,     B_BR_N_AL
    KERNEL br_n_un,     COPIES, S_ZERO,     B_BR_N_UN
    KERNEL br_w_al,     COPIES, S_ZERO,     B_BR_W_AL
    KERNEL br_w_un,     COPIES, S_ZERO,     B_BR_W_UN
    KERNEL bcc_w_un,    COPIES, S_FLAGS_NE, B_BCC_W_UN
    KERNEL bl_w_un,     COPIES, S_ZERO,     B_BL_W_UN
    KERNEL cbnz_taken,  COPIES, S_ZERO,     B_CBNZ_TAKEN
    KERNEL bx_lr,       COPIES, S_ZERO,     B_BX_LR
    KERNEL bx_lr_dirty, COPIES, S_ZERO,     B_BX_LR_DIRTY
    KERNEL bx_reg,      COPIES, S_ZERO,     B_BX_REG
#endif

#if MB_SET == 6 && !MB_V6M
    KERNEL ua_ldr_o0,   COPIES, S_ZERO,     B_LDR_O0
    KERNEL ua_ldr_o1,   COPIES, S_ZERO,     B_LDR_O1
    KERNEL ua_ldr_o2,   COPIES, S_ZERO,     B_LDR_O2
    KERNEL ua_ldr_o3,   COPIES, S_ZERO,     B_LDR_O3
    KERNEL ua_ldrh_o1,  COPIES, S_ZERO,     B_LDRH_O1
    KERNEL ua_ldrh_o2,  COPIES, S_ZERO,     B_LDRH_O2
    KERNEL ua_str_o0,   COPIES, S_ZERO,     B_STR_O0
    KERNEL ua_str_o1,   COPIES, S_ZERO,     B_STR_O1
    KERNEL ua_str_o2,   COPIES, S_ZERO,     B_STR_O2
    KERNEL ua_strh_o1,  COPIES, S_ZERO,     B_STRH_O1
#endif

#if MB_SET == 7 && !MB_V6M
/* write buffer (M4-TRM §3.5): a word store followed by 0-3 ALU instructions, a store
 * followed by a load, a store followed by DSB; run on RAM with write wait states */
    .macro B_WB_STR
    str r2, [r4, #4]
    .endm
    .macro B_WB_STR_ALU1
    str r2, [r4, #4]
    adds r5, #1
    .endm
    .macro B_WB_STR_ALU2
    str r2, [r4, #4]
    adds r5, #1
    adds r6, #1
    .endm
    .macro B_WB_STR_ALU3
    str r2, [r4, #4]
    adds r5, #1
    adds r6, #1
    adds r3, #1
    .endm
    .macro B_WB_STR_LDR
    str r2, [r4, #4]
    adds r5, #1
    ldr r6, [r4, #8]
    .endm
    .macro B_WB_STR_DSB
    str r2, [r4, #4]
    dsb
    .endm
    KERNEL wb_str,      COPIES, S_ZERO,     B_WB_STR
    KERNEL wb_str_alu1, COPIES, S_ZERO,     B_WB_STR_ALU1
    KERNEL wb_str_alu2, COPIES, S_ZERO,     B_WB_STR_ALU2
    KERNEL wb_str_alu3, COPIES, S_ZERO,     B_WB_STR_ALU3
    KERNEL wb_str_ldr,  COPIES, S_ZERO,     B_WB_STR_LDR
    KERNEL wb_str_dsb,  COPIES, S_ZERO,     B_WB_STR_DSB
#endif

#if MB_SET == 8 && !MB_V6M
/* flash data reads through D-Code (STM32L4R5; RM0440 §3.3.4 "Literal pools"): r4 walks a
 * flash array (the driver passes it as ctx), 16 bytes per copy */
    .macro B_LIT_LINE4                /* four words of one 16-byte flash line */
    ldr r1, [r4, #0]
    ldr r2, [r4, #4]
    ldr r3, [r4, #8]
    ldr r5, [r4, #12]
    adds r4, #16
    .endm
    .macro B_LIT_STRIDE16             /* one word per 16-byte line */
    ldr r1, [r4, #0]
    adds r4, #16
    .endm
    .macro B_LIT_SAME                 /* the same word every time */
    ldr r1, [r4, #0]
    adds r5, #1
    .endm
    KERNEL lit_line4,    COPIES, S_ZERO,    B_LIT_LINE4
    KERNEL lit_stride16, COPIES, S_ZERO,    B_LIT_STRIDE16
    KERNEL lit_same,     COPIES, S_ZERO,    B_LIT_SAME
#endif

#if MB_SET == 3
/* flash fetch: 128 x 32-bit ALU = 512 bytes of straight-line code per iteration */
    KERNEL flash_run,   128,    S_ZERO,     B_ADDW
#endif

#if MB_SET == 4
/* D-cache: one load per 32-byte line, the pointer keeps walking (no re-base) */
    KERNEL empty_walk,  COPIES, S_ZERO,     B_NONE,     MB_TAIL_NOP
    KERNEL walk,        COPIES, S_ZERO,     B_LDR_LINE, MB_TAIL_NOP
#endif
