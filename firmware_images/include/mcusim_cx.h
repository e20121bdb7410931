/*
 * mcusim_cx.h -- the example custom instructions shipped with mcusim (mcusim/accelerators/
 * dot4.py): a 4-way int8 dot product with accumulate on a coprocessor, reached with the
 * coprocessor instructions Cortex-M reserves for this (Armv7-M/Armv8-M, coprocessor 0-7).
 * The simulator traps them and runs the model's semantics; the catalog entry
 * ([[accelerators]] type = "mcusim.accelerators.dot4:Dot4", coprocessor = N) attaches it.
 *
 * State: OFF (input offset) and ACC[0..15] (32-bit accumulators, modulo 2^32).
 *   MCUSIM_CX_SET_OFFSET(v)   MCR  p0, #0, v, c0, c0, #0   OFF := v
 *   MCUSIM_CX_SET_ACC(n, v)   MCR  p0, #1, v, c<n>, c0, #0 ACC[n] := v
 *   MCUSIM_CX_GET_ACC(n, v)   MRC  p0, #0, v, c<n>, c0, #0 v := ACC[n]
 *   MCUSIM_CX_DOT4(n, x, w)   MCRR p0, #0, x, w, c<n>      ACC[n] += sum_i (x_i + OFF) w_i
 *   MCUSIM_CX_MAC4(n, x, w)   MCRR p0, #1, x, w, c<n>      ACC[n+i] += (x_i + OFF) w_i
 * x_i, w_i: signed byte i of the register (0 = least significant); n: a literal 0..15
 * (MAC4: 0, 4, 8 or 12). Enable the coprocessor first (CPACR), e.g. with
 * mcusim_accel_coprocessor_enable(MCUSIM_CX_CP) from mcusim_accel.h: without it the
 * instructions take a UsageFault (NOCP), as on hardware.
 */
#ifndef MCUSIM_CX_H
#define MCUSIM_CX_H
#include <stdint.h>

#define MCUSIM_CX_CP 0u

#define MCUSIM_CX_SET_OFFSET(v) __asm__ volatile("mcr p0, #0, %0, c0, c0, #0" :: "r"(v))
#define MCUSIM_CX_SET_ACC(n, v) __asm__ volatile("mcr p0, #1, %0, c" #n ", c0, #0" :: "r"(v))
#define MCUSIM_CX_GET_ACC(n, v) __asm__ volatile("mrc p0, #0, %0, c" #n ", c0, #0" : "=r"(v))
#define MCUSIM_CX_DOT4(n, x, w) \
    __asm__ volatile("mcrr p0, #0, %0, %1, c" #n :: "r"(x), "r"(w))
#define MCUSIM_CX_MAC4(n, x, w) \
    __asm__ volatile("mcrr p0, #1, %0, %1, c" #n :: "r"(x), "r"(w))
#endif
