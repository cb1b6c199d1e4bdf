/* The 16550A register model behind vmm_serial_attach(): registers, FIFOs and
 * interrupt identification, with no locking, threads or file descriptors
 * (lib/devices/serial.c adds those). References: National Semiconductor
 * PC16550D datasheet (June 1995), "Register Description" §8.1-§8.10,
 * cited below as "PC16550D §8.n". */
#ifndef VMM_LIB_DEVICES_UART16550_H
#define VMM_LIB_DEVICES_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Register offsets from the base port (PC16550D Table II). */
enum {
    UART_RBR = 0, /* read, DLAB=0: receiver buffer */
    UART_THR = 0, /* write, DLAB=0: transmitter holding */
    UART_DLL = 0, /* DLAB=1: divisor latch low */
    UART_IER = 1, /* DLAB=0: interrupt enable */
    UART_DLM = 1, /* DLAB=1: divisor latch high */
    UART_IIR = 2, /* read: interrupt identification */
    UART_FCR = 2, /* write: FIFO control */
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};

#define UART_IER_ERBFI 0x01 /* received data available */
#define UART_IER_ETBEI 0x02 /* transmitter holding register empty */
#define UART_IER_ELSI  0x04 /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */

#define UART_IIR_NO_INT  0x01
#define UART_IIR_MSI     0x00
#define UART_IIR_THRI    0x02
#define UART_IIR_RDI     0x04
#define UART_IIR_RLSI    0x06
#define UART_IIR_TIMEOUT 0x0c
#define UART_IIR_FIFOS   0xc0 /* both bits set when FCR0 = 1 */

#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
#define UART_FCR_DMA      0x08
#define UART_FCR_TRIGGER  0xc0

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_RI   0x40
#define UART_MSR_DCD  0x80
#define UART_MSR_DELTAS 0x0f

#define UART_FIFO_SIZE 16
/* Host input waiting behind the receive FIFO (vmm_serial_input()'s promise). */
#define UART_BACKLOG_SIZE 4096
#define UART_RX_CAP (UART_FIFO_SIZE + UART_BACKLOG_SIZE)

struct uart {
    /* Receive queue: the first min(rx_count, FIFO depth) bytes are the FIFO
     * the guest sees, the rest is host input not yet "on the wire". */
    uint8_t rx[UART_RX_CAP];
    size_t rx_head, rx_count;

    uint8_t ier, lcr, mcr, scr, fcr;
    uint8_t dll, dlm;
    uint8_t lsr_errors;  /* sticky LSR error bits (OE), cleared by reading LSR */
    uint8_t msr_deltas;  /* MSR bits 0-3, cleared by reading MSR */
    uint8_t msr_lines;   /* MSR bits 4-7 as last computed */
    bool thr_ipending;   /* THRE interrupt source latched (PC16550D §8.4) */
};

/* Power-on state (PC16550D Table IV, "UART Reset Configuration"). Host input
 * waiting in the backlog is dropped too when @keep_backlog is false. */
void uart_reset(struct uart *u, bool keep_backlog);

/* A guest read of register @offset (0-7). */
uint8_t uart_read(struct uart *u, unsigned offset);

/* A guest write of @value to register @offset (0-7). Returns true and sets
 * @out_byte when the write transmits a byte (THR write outside loopback). */
bool uart_write(struct uart *u, unsigned offset, uint8_t value, uint8_t *out_byte);

/* Queues host input behind the FIFO; returns how many bytes fitted. */
size_t uart_input(struct uart *u, const uint8_t *data, size_t len);

/* Free room for host input. */
size_t uart_input_room(const struct uart *u);

/* The IIR interrupt identification (bits 0-3) of the highest-priority
 * pending source, or UART_IIR_NO_INT. */
uint8_t uart_pending(const struct uart *u);

/* Level of the PC's IRQ line: an interrupt is pending and MCR.OUT2 (which
 * gates the UART's INTR pin through a buffer on PC boards) is set. */
bool uart_irq_level(const struct uart *u);

#endif
