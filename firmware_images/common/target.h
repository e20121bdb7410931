/*
 * target.h -- per-target facts (selected by -DTARGET_* from the Makefile).
 *
 *   TARGET_NAME        build target name
 *   MCU_NUM_IRQ        external interrupts in the vector table (the part's count rounded up
 *                      to 16; the extra entries are reserved and point to Default_Handler)
 *   MCU_PRIO_BITS      implemented NVIC priority bits (STM32G0: 2, STM32L4/H7/U5: 4)
 *   CONSOLE_*          the console U(S)ART, its bus clock enable and its pins on the
 *                      part's Nucleo board (ST-LINK virtual COM port)
 *   UNMAPPED_ADDR      an address outside every memory and peripheral region of the part
 *                      that produces a bus error when read (the FMC bank 1 window with the
 *                      FMC off, or, on STM32G0 which has no FMC, reserved space)
 */
#ifndef TARGET_H
#define TARGET_H

#if defined(TARGET_CORTEX_M0PLUS)
/* STM32G0B1 (RM0444) */
#define TARGET_NAME "cortex-m0plus"
#define MCU_NUM_IRQ 32
#define MCU_PRIO_BITS 2
#define CONSOLE_BASE 0x40004400u            /* USART2 */
#define CONSOLE_NAME "USART2"
#define CONSOLE_KERNEL_HZ 16000000u         /* PCLK = HSI16 after reset */
#define CONSOLE_IS_LPUART 0
#define RCC_BASE 0x40021000u
#define CONSOLE_CLK_EN_REG  (RCC_BASE + 0x3Cu)  /* RCC_APBENR1 */
#define CONSOLE_CLK_EN_BIT  (1u << 17)          /* USART2EN */
#define CONSOLE_GPIO_EN_REG (RCC_BASE + 0x34u)  /* RCC_IOPENR */
#define CONSOLE_GPIO_EN_BIT (1u << 0)           /* GPIOAEN */
#define CONSOLE_GPIO_BASE 0x50000000u           /* GPIOA */
#define CONSOLE_TX_PIN 2
#define CONSOLE_RX_PIN 3
#define CONSOLE_AF 1
#define UNMAPPED_ADDR 0x60000000u

#elif defined(TARGET_CORTEX_M4F) || defined(TARGET_CORTEX_M3)
/* STM32L4R5 (RM0432); the cortex-m3 target (generic-m3, no FPU/DSP) shares its map */
#if defined(TARGET_CORTEX_M3)
#define TARGET_NAME "cortex-m3"
#else
#define TARGET_NAME "cortex-m4f"
#endif
#define MCU_NUM_IRQ 96                      /* 95 on the part */
#define MCU_PRIO_BITS 4
#define CONSOLE_BASE 0x40008000u            /* LPUART1 */
#define CONSOLE_NAME "LPUART1"
#define CONSOLE_KERNEL_HZ 4000000u          /* PCLK1 = MSI 4 MHz after reset */
#define CONSOLE_IS_LPUART 1
#define RCC_BASE 0x40021000u
#define CONSOLE_CLK_EN_REG  (RCC_BASE + 0x5Cu)  /* RCC_APB1ENR2 */
#define CONSOLE_CLK_EN_BIT  (1u << 0)           /* LPUART1EN */
#define CONSOLE_GPIO_EN_REG (RCC_BASE + 0x4Cu)  /* RCC_AHB2ENR */
#define CONSOLE_GPIO_EN_BIT (1u << 6)           /* GPIOGEN */
#define CONSOLE_GPIO_BASE 0x48001800u           /* GPIOG: PG7 TX, PG8 RX (needs VDDIO2) */
#define CONSOLE_TX_PIN 7
#define CONSOLE_RX_PIN 8
#define CONSOLE_AF 8
#define CONSOLE_NEEDS_VDDIO2 1
#define UNMAPPED_ADDR 0x60000000u

#elif defined(TARGET_CORTEX_M7F)
/* STM32H7A3 (RM0455) */
#define TARGET_NAME "cortex-m7f"
#define MCU_NUM_IRQ 160                     /* 155 on the part */
#define MCU_PRIO_BITS 4
#define CONSOLE_BASE 0x40004800u            /* USART3 */
#define CONSOLE_NAME "USART3"
#define CONSOLE_KERNEL_HZ 64000000u         /* rcc_pclk1 = HSI 64 MHz after reset */
#define CONSOLE_IS_LPUART 0
#define RCC_BASE 0x58024400u
#define CONSOLE_CLK_EN_REG  (RCC_BASE + 0x148u) /* RCC_APB1LENR (H7A3: 0x148, CMSIS RCC_TypeDef) */
#define CONSOLE_CLK_EN_BIT  (1u << 18)          /* USART3EN */
#define CONSOLE_GPIO_EN_REG (RCC_BASE + 0x140u) /* RCC_AHB4ENR (0x0E0 is the H74x offset) */
#define CONSOLE_GPIO_EN_BIT (1u << 3)           /* GPIODEN */
#define CONSOLE_GPIO_BASE 0x58020C00u           /* GPIOD: PD8 TX, PD9 RX */
#define CONSOLE_TX_PIN 8
#define CONSOLE_RX_PIN 9
#define CONSOLE_AF 7
#define UNMAPPED_ADDR 0x60000000u

#elif defined(TARGET_CORTEX_M33)
/* STM32U585 (RM0456), non-secure aliases, TrustZone disabled */
#define TARGET_NAME "cortex-m33"
#define MCU_NUM_IRQ 128                     /* 125 on the part */
#define MCU_PRIO_BITS 4
#define CONSOLE_BASE 0x40013800u            /* USART1 */
#define CONSOLE_NAME "USART1"
#define CONSOLE_KERNEL_HZ 4000000u          /* PCLK2 = MSIS 4 MHz after reset */
#define CONSOLE_IS_LPUART 0
#define RCC_BASE 0x46020C00u
#define CONSOLE_CLK_EN_REG  (RCC_BASE + 0xA4u)  /* RCC_APB2ENR */
#define CONSOLE_CLK_EN_BIT  (1u << 14)          /* USART1EN */
#define CONSOLE_GPIO_EN_REG (RCC_BASE + 0x8Cu)  /* RCC_AHB2ENR1 */
#define CONSOLE_GPIO_EN_BIT (1u << 0)           /* GPIOAEN */
#define CONSOLE_GPIO_BASE 0x42020000u           /* GPIOA: PA9 TX, PA10 RX */
#define CONSOLE_TX_PIN 9
#define CONSOLE_RX_PIN 10
#define CONSOLE_AF 7
#define UNMAPPED_ADDR 0x60000000u

#else
#error "define one of TARGET_CORTEX_M0PLUS, TARGET_CORTEX_M3, TARGET_CORTEX_M4F, TARGET_CORTEX_M7F, TARGET_CORTEX_M33"
#endif

#define MCU_PRIO_MASK ((uint8_t)(0xFFu << (8 - MCU_PRIO_BITS)))

#endif
