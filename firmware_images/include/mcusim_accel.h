/*
 * mcusim_accel.h -- finding the simulator's accelerator plugins (mcusim/accelerators/).
 *
 * An accelerator attached to the MCU by a catalog entry ([[accelerators]]) sits at the
 * base address the catalog gives it. Firmware that may run with or without it asks the
 * simulator control block (mcusim_dev.h) where it is, by the value of its ID register:
 *
 *   +0x030 DEV_FIND   W   an ID register value (e.g. MCUSIM_NPU_ID_VALUE)
 *   +0x034 DEV_BASE   R   base address of the first attached accelerator whose ID register
 *                         holds that value; 0 when none is attached
 *
 * Custom instructions (coprocessor 0-7) are found through CPACR instead, as on hardware:
 * an implemented coprocessor's CPACR field reads back what was written, an absent one's
 * reads as zero (mcusim_accel_coprocessor_present).
 */
#ifndef MCUSIM_ACCEL_H
#define MCUSIM_ACCEL_H
#include <stdint.h>
#include "mcusim_dev.h"

#define MCUSIM_DEV_FIND MCUSIM_REG(0x030)
#define MCUSIM_DEV_BASE MCUSIM_REG(0x034)

/* Base address of the accelerator whose ID register reads `id` (0: not attached). */
static inline uint32_t mcusim_accel_find(uint32_t id)
{
    if (MCUSIM_ID != MCUSIM_ID_VALUE) return 0;      /* not in the simulator */
    MCUSIM_DEV_FIND = id;
    return MCUSIM_DEV_BASE;
}

#define MCUSIM_CPACR (*(volatile uint32_t *)0xE000ED88u)

/* Grant full access to coprocessor cp (0-7); 1 if it is implemented (CPACR reads back). */
static inline int mcusim_accel_coprocessor_enable(unsigned cp)
{
    MCUSIM_CPACR |= 3u << (2u * cp);
    __asm__ volatile("dsb 0xF\n\tisb 0xF" ::: "memory");
    return ((MCUSIM_CPACR >> (2u * cp)) & 3u) == 3u;
}
#endif
