/* 16550A register model; see uart16550.h. Section numbers are those of the
 * PC16550D datasheet (National Semiconductor, June 1995). */
#include "devices/uart16550.h"

#include <string.h>

/* Bytes of the receive queue the guest can see: the 16-byte FIFO in FIFO
 * mode, the one-byte receiver buffer in 16450 mode (§8.5, FCR0). */
static size_t fifo_depth(const struct uart *u)
{
    return (u->fcr & UART_FCR_ENABLE) ? UART_FIFO_SIZE : 1;
}

static size_t fifo_level(const struct uart *u)
{
    size_t depth = fifo_depth(u);
    return u->rx_count < depth ? u->rx_count : depth;
}

static void rx_drop(struct uart *u, size_t n)
{
    if (n > u->rx_count)
        n = u->rx_count;
    u->rx_head = (u->rx_head + n) % UART_RX_CAP;
    u->rx_count -= n;
}

static void rx_push(struct uart *u, uint8_t byte)
{
    u->rx[(u->rx_head + u->rx_count) % UART_RX_CAP] = byte;
    u->rx_count++;
}

/* FCR1 "clears all bytes in the RCVR FIFO" (§8.5): the FIFO the guest sees,
 * not host input still waiting behind it (as if it had not arrived yet). */
static void clear_rx_fifo(struct uart *u)
{
    rx_drop(u, fifo_level(u));
}

/* MSR bits 4-7 (§8.8): in loopback the modem inputs are wired to the MCR
 * outputs (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2); otherwise a cable with a
 * peer that is always there: DCD, DSR and CTS asserted, no ring. */
static uint8_t modem_lines(const struct uart *u)
{
    if (!(u->mcr & UART_MCR_LOOP))
        return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
    uint8_t v = 0;
    if (u->mcr & UART_MCR_RTS)
        v |= UART_MSR_CTS;
    if (u->mcr & UART_MCR_DTR)
        v |= UART_MSR_DSR;
    if (u->mcr & UART_MCR_OUT1)
        v |= UART_MSR_RI;
    if (u->mcr & UART_MCR_OUT2)
        v |= UART_MSR_DCD;
    return v;
}

/* Recomputes the modem lines and latches the delta bits (§8.8: DCTS, DDSR,
 * DDCD on any change; TERI on RI going from on to off). */
static void update_msr(struct uart *u)
{
    uint8_t now = modem_lines(u), changed = now ^ u->msr_lines;
    if (changed & UART_MSR_CTS)
        u->msr_deltas |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR)
        u->msr_deltas |= UART_MSR_DDSR;
    if (changed & UART_MSR_DCD)
        u->msr_deltas |= UART_MSR_DDCD;
    if ((u->msr_lines & UART_MSR_RI) && !(now & UART_MSR_RI))
        u->msr_deltas |= UART_MSR_TERI;
    u->msr_lines = now;
}

void uart_reset(struct uart *u, bool keep_backlog)
{
    if (keep_backlog)
        clear_rx_fifo(u);
    else
        u->rx_head = u->rx_count = 0;
    /* Table IV: IER, IIR, FCR, LCR, MCR, LSR and MSR deltas reset; the
     * divisor and scratch registers are not, but have to start somewhere:
     * divisor 1 (115200 baud from the PC's 1.8432 MHz clock), scratch 0. */
    u->ier = u->lcr = u->mcr = u->scr = u->fcr = 0;
    u->dll = 1;
    u->dlm = 0;
    u->lsr_errors = 0;
    u->msr_deltas = 0;
    u->msr_lines = modem_lines(u);
    u->thr_ipending = false;
}

uint8_t uart_pending(const struct uart *u)
{
    /* Table V, highest priority first. */
    if ((u->ier & UART_IER_ELSI) && u->lsr_errors)
        return UART_IIR_RLSI;
    if ((u->ier & UART_IER_ERBFI) && u->rx_count > 0) {
        if (!(u->fcr & UART_FCR_ENABLE))
            return UART_IIR_RDI;
        static const uint8_t trigger[4] = { 1, 4, 8, 14 };
        if (fifo_level(u) >= trigger[u->fcr >> 6])
            return UART_IIR_RDI;
        /* The character timeout fires after four character times without
         * FIFO activity; output and input here are instantaneous, so it is
         * approximated as "data below the trigger level is waiting". */
        return UART_IIR_TIMEOUT;
    }
    if ((u->ier & UART_IER_ETBEI) && u->thr_ipending)
        return UART_IIR_THRI;
    if ((u->ier & UART_IER_EDSSI) && u->msr_deltas)
        return UART_IIR_MSI;
    return UART_IIR_NO_INT;
}

bool uart_irq_level(const struct uart *u)
{
    return (u->mcr & UART_MCR_OUT2) && uart_pending(u) != UART_IIR_NO_INT;
}

/* A character arriving at the receiver in loopback mode (§8.6, MCR4). When
 * the FIFO is full it is lost and OE is set; in 16450 mode it overwrites
 * the unread receiver buffer and sets OE (§8.6, LSR1). */
static void receive(struct uart *u, uint8_t byte)
{
    if (u->rx_count < fifo_depth(u)) {
        rx_push(u, byte);
        return;
    }
    u->lsr_errors |= UART_LSR_OE;
    if (!(u->fcr & UART_FCR_ENABLE))
        u->rx[u->rx_head] = byte;
}

uint8_t uart_read(struct uart *u, unsigned offset)
{
    bool dlab = u->lcr & UART_LCR_DLAB;
    uint8_t v;
    switch (offset) {
    case UART_RBR:
        if (dlab)
            return u->dll;
        if (u->rx_count == 0)
            return 0;
        v = u->rx[u->rx_head];
        rx_drop(u, 1);
        return v;
    case UART_IER:
        return dlab ? u->dlm : u->ier;
    case UART_IIR:
        v = uart_pending(u);
        /* §8.4: reading IIR when it reports THRE clears that source. */
        if (v == UART_IIR_THRI)
            u->thr_ipending = false;
        return v | ((u->fcr & UART_FCR_ENABLE) ? UART_IIR_FIFOS : 0);
    case UART_LCR:
        return u->lcr;
    case UART_MCR:
        return u->mcr;
    case UART_LSR:
        /* Output leaves at once: THRE and TEMT always set. Reading clears
         * the error bits (§8.6). */
        v = (u->rx_count ? UART_LSR_DR : 0) | u->lsr_errors | UART_LSR_THRE | UART_LSR_TEMT;
        u->lsr_errors = 0;
        return v;
    case UART_MSR:
        v = u->msr_lines | u->msr_deltas;
        u->msr_deltas = 0;
        return v;
    case UART_SCR:
        return u->scr;
    default:
        return 0xff;
    }
}

static void write_fcr(struct uart *u, uint8_t value)
{
    /* §8.5: changing FCR0 clears both FIFOs; with FCR0 = 0 the other bits
     * cannot be written. The transmitter FIFO is always empty here. */
    if ((value ^ u->fcr) & UART_FCR_ENABLE)
        clear_rx_fifo(u);
    if (!(value & UART_FCR_ENABLE)) {
        u->fcr = 0;
        return;
    }
    if (value & UART_FCR_CLEAR_RX)
        clear_rx_fifo(u);
    u->fcr = value & (UART_FCR_ENABLE | UART_FCR_DMA | UART_FCR_TRIGGER);
}

bool uart_write(struct uart *u, unsigned offset, uint8_t value, uint8_t *out_byte)
{
    bool dlab = u->lcr & UART_LCR_DLAB;
    switch (offset) {
    case UART_THR:
        if (dlab) {
            u->dll = value;
            return false;
        }
        /* Writing THR clears the THRE interrupt; the byte leaves at once,
         * so THR is empty again and the source is set again (§8.4). */
        u->thr_ipending = true;
        if (u->mcr & UART_MCR_LOOP) {
            receive(u, value);
            return false;
        }
        *out_byte = value;
        return true;
    case UART_IER:
        if (dlab) {
            u->dlm = value;
            return false;
        }
        /* Bits 4-7 are always 0 (§8.3). Enabling ETBEI while THR is empty
         * raises the THRE interrupt at once, as on the 16550A; Linux's
         * 8250 driver checks for that (UART_BUG_THRE, UART_BUG_TXEN). */
        if (!(u->ier & UART_IER_ETBEI) && (value & UART_IER_ETBEI))
            u->thr_ipending = true;
        u->ier = value & 0x0f;
        return false;
    case UART_FCR:
        write_fcr(u, value);
        return false;
    case UART_LCR:
        u->lcr = value;
        return false;
    case UART_MCR:
        u->mcr = value & 0x1f; /* bits 5-7 are always 0 (§8.7) */
        update_msr(u);
        return false;
    case UART_SCR:
        u->scr = value;
        return false;
    default:
        /* LSR and MSR writes are for factory testing (§8.6, §8.8): ignored. */
        return false;
    }
}

size_t uart_input_room(const struct uart *u)
{
    return UART_RX_CAP - u->rx_count;
}

size_t uart_input(struct uart *u, const uint8_t *data, size_t len)
{
    size_t room = uart_input_room(u);
    size_t n = len < room ? len : room;
    for (size_t i = 0; i < n; i++)
        rx_push(u, data[i]);
    return n;
}
