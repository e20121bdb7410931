/*
 * mcusim_dma.h -- the simulator's generic memory-to-memory DMA engine, as firmware sees it.
 *
 * Like the control block (mcusim_dev.h) it exists only in the simulator, in the
 * Armv7-M/Armv8-M "Vendor_SYS" region next to the control block, on every MCU. It is a
 * bus master on the simulated AHB: it copies in bursts, contending with the CPU for the
 * bus (docs/system.md), and raises one external interrupt when done.
 *
 * Register map (all 32-bit, word access):
 *   +0x00 ID            R     0x444D4130 ("DMA0")
 *   +0x04 SRC           RW    source address (any alignment; memory only)
 *   +0x08 DST           RW    destination address (writable memory only)
 *   +0x0C LEN           RW    bytes to copy
 *   +0x10 CTRL          RW    bit0 START: write 1 to start (reads 0)
 *                             bit1 IE: pend the IRQ when the copy ends (DONE or ERR)
 *                             bits[6:4] BURST: log2(32-bit beats per burst), 0..4;
 *                             reset 2 (4 beats, 16 bytes)
 *   +0x14 STATUS        R/W1C bit0 BUSY (read-only), bit1 DONE, bit2 ERR; write 1 to clear
 *                             DONE/ERR (START clears them too)
 *   +0x18 REMAIN        R     bytes not yet written to DST
 *   +0x1C IRQ           R     external IRQ number of the engine: the MCU's last line
 *                             (num_irqs - 1; e.g. 94 on STM32L4R5, 30 on STM32G0B1)
 *   +0x20 BURST_CYCLES  R     bus cycles one full burst holds the bus (read + write) at the
 *                             current BURST
 *   +0x24 START_CYCLES  R     cycles from the START write to the first bus request
 *
 * While BUSY, writes to SRC/DST/LEN and START are ignored (IE may change).
 * With the bus to itself, a copy of LEN bytes ends START_CYCLES + ceil(LEN / burst bytes)
 * x BURST_CYCLES cycles after the START store (the last burst costs less when shorter).
 * Data land in DST one burst at a time, at each burst's end.
 */
#ifndef MCUSIM_DMA_H
#define MCUSIM_DMA_H
#include <stdint.h>

#define MCUSIM_DMA_BASE 0xE0101000u
#define MCUSIM_DMA_ID_VALUE 0x444D4130u

#define MCUSIM_DMA_REG(off) (*(volatile uint32_t *)(MCUSIM_DMA_BASE + (off)))
#define MCUSIM_DMA_ID           MCUSIM_DMA_REG(0x00)
#define MCUSIM_DMA_SRC          MCUSIM_DMA_REG(0x04)
#define MCUSIM_DMA_DST          MCUSIM_DMA_REG(0x08)
#define MCUSIM_DMA_LEN          MCUSIM_DMA_REG(0x0C)
#define MCUSIM_DMA_CTRL         MCUSIM_DMA_REG(0x10)
#define MCUSIM_DMA_STATUS       MCUSIM_DMA_REG(0x14)
#define MCUSIM_DMA_REMAIN       MCUSIM_DMA_REG(0x18)
#define MCUSIM_DMA_IRQ          MCUSIM_DMA_REG(0x1C)
#define MCUSIM_DMA_BURST_CYCLES MCUSIM_DMA_REG(0x20)
#define MCUSIM_DMA_START_CYCLES MCUSIM_DMA_REG(0x24)

#define MCUSIM_DMA_CTRL_START  (1u << 0)
#define MCUSIM_DMA_CTRL_IE     (1u << 1)
#define MCUSIM_DMA_CTRL_BURST(log2_beats) (((uint32_t)(log2_beats) & 7u) << 4)
#define MCUSIM_DMA_ST_BUSY     (1u << 0)
#define MCUSIM_DMA_ST_DONE     (1u << 1)
#define MCUSIM_DMA_ST_ERR      (1u << 2)

#endif
