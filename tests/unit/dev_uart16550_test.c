/* 16550A UART model (devices/uart16550.c), tested at register level through its ops table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "devices/uart16550.h"
#include "tests/unit/dev_fake.h"
#include "vtl2/iobus.h"
#include "vtl2/vclock.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4,
       LSR = 5, MSR = 6, SCR = 7 };

/* Fake backend: the bytes transmitted, in order. */
struct fake_tx {
	uint8_t buf[4096];
	size_t n;
	size_t dropped;
};

static void fake_tx(void *ctx, uint8_t byte)
{
	struct fake_tx *t = ctx;
	if (t->n < sizeof(t->buf))
		t->buf[t->n++] = byte;
	else
		t->dropped++;
}

struct fx {
	struct dev_fake fake;
	struct dev_fake_line line;
	struct fake_tx tx;
	struct uart16550 *u;
};

static const struct iobus_access acc = { .vp = 0 };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	dev_fake_init(&f->fake);
	struct irq_line irq = dev_fake_irq_line(&f->line, 4);
	struct uart16550_backend be = { .tx = fake_tx, .ctx = &f->tx };
	assert_int_equal(uart16550_create(&f->fake.dc, irq, &be, &f->u), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->line.redundant, 0);
	uart16550_destroy(f->u);
	dev_fake_fini(&f->fake);
	free(f);
	return 0;
}

static uint8_t rd(struct fx *f, unsigned off)
{
	return (uint8_t)dev_fake_rd_ok(&uart16550_ops, f->u, acc.vp, off, 1);
}

static void wr(struct fx *f, unsigned off, uint8_t v)
{
	dev_fake_wr(&uart16550_ops, f->u, acc.vp, off, 1, v, IOBUS_OK);
}

static void set_divisor(struct fx *f, uint16_t div, uint8_t lcr)
{
	wr(f, LCR, 0x80);
	wr(f, DLL, div & 0xFF);
	wr(f, DLM, div >> 8);
	wr(f, LCR, lcr);
}

static struct uart16550_stats stats(struct fx *f)
{
	struct uart16550_stats st;
	memset(&st, 0xAA, sizeof(st));
	uart16550_get_stats(f->u, &st);
	return st;
}

static void test_reset_state(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, IER), 0x00);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LCR), 0x00);
	assert_int_equal(rd(f, MCR), 0x00);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, MSR), 0xB0);
	assert_int_equal(rd(f, SCR), 0x00);
	assert_int_equal(rd(f, RBR), 0x00);
	assert_int_equal(rd(f, LSR), 0x60);     /* reading an empty RBR changes nothing */
	wr(f, LCR, 0x80);
	assert_int_equal(rd(f, LCR), 0x80);
	assert_int_equal(rd(f, DLL), 0x0C);
	assert_int_equal(rd(f, DLM), 0x00);
	assert_int_equal(rd(f, IIR), 0x01);
	wr(f, LCR, 0x00);
	assert_int_equal(f->line.calls, 0);
	assert_int_equal(f->tx.n, 0);
	struct uart16550_stats st = stats(f);
	assert_int_equal(st.tx_bytes, 0);
	assert_int_equal(st.rx_bytes, 0);
	assert_int_equal(st.rx_overruns, 0);
	assert_int_equal(st.bad_accesses, 0);
}

/* Linux 8250_port.c autoconfig() + autoconfig_16550a() + the THRE test of startup. */
static void test_linux_probe(void **state)
{
	struct fx *f = *state;

	/* IER test. */
	uint8_t save_ier = rd(f, IER);
	wr(f, IER, 0x00);
	assert_int_equal(rd(f, IER) & 0x0F, 0x00);
	wr(f, IER, 0x0F);
	assert_int_equal(rd(f, IER) & 0x0F, 0x0F);
	assert_int_equal(rd(f, IER), 0x0F);     /* bits 7:4 read 0 */
	wr(f, IER, save_ier);
	wr(f, IER, 0xFF);
	assert_int_equal(rd(f, IER), 0x0F);
	wr(f, IER, 0x00);

	/* Loopback test (skipped for ttyS0, but must pass). */
	uint8_t save_mcr = rd(f, MCR);
	uint8_t save_lcr = rd(f, LCR);
	wr(f, MCR, 0x1A);
	assert_int_equal(rd(f, MSR) & 0xF0, 0x90);
	wr(f, MCR, save_mcr);

	/* EFR: LCR = 0xBF, reg 2 <- 0 (FCR on a 16550A), LCR = 0. */
	wr(f, LCR, 0xBF);
	wr(f, 2, 0x00);
	wr(f, LCR, 0x00);

	/* FIFO test. */
	wr(f, FCR, 0x01);
	assert_int_equal(rd(f, IIR) >> 6, 3);
	assert_int_equal(rd(f, IIR), 0xC1);

	/* autoconfig_16550a: no EFR at LCR 0x80 or 0xBF (reg 2 reads IIR, non-zero). */
	wr(f, LCR, 0x80);
	assert_int_equal(rd(f, 2), 0xC1);
	wr(f, LCR, 0xBF);
	assert_int_equal(rd(f, 2), 0xC1);
	/* NS16C552 check: EXCR1 at LCR 0xE0 must not follow MCR.LOOP. */
	wr(f, LCR, 0x00);
	uint8_t status1 = rd(f, MCR);
	wr(f, LCR, 0xE0);
	uint8_t status2 = rd(f, 2);
	assert_int_equal(status2, 0xC1);
	assert_int_equal((status2 ^ status1) & 0x10, 0);
	wr(f, LCR, 0x00);
	wr(f, MCR, status1 ^ 0x10);
	wr(f, LCR, 0xE0);
	status2 = rd(f, 2);
	wr(f, LCR, 0x00);
	wr(f, MCR, status1);
	assert_int_equal((status2 ^ status1) & 0x10, 0);
	/* TI16750 check: no 64-byte FIFO bit (IIR bit 5) in either mode. */
	wr(f, FCR, 0x21);
	assert_int_equal(rd(f, IIR) >> 5, 6);
	wr(f, FCR, 0x01);
	wr(f, LCR, 0x80);
	wr(f, FCR, 0x21);
	assert_int_equal(rd(f, IIR) >> 5, 6);
	wr(f, FCR, 0x01);
	wr(f, LCR, 0x00);
	/* XScale UUE (IER bit 6) does not stick. */
	wr(f, IER, 0x40);
	assert_int_equal(rd(f, IER) & 0x40, 0);
	wr(f, IER, 0x00);
	wr(f, LCR, save_lcr);
	(void)rd(f, MSR);    /* clears the deltas of the loopback test */

	/* Startup: clear FIFOs, read the status registers, LSR != 0xFF. */
	wr(f, FCR, 0x01);
	wr(f, FCR, 0x07);
	wr(f, FCR, 0x00);
	assert_int_equal(rd(f, LSR), 0x60);
	(void)rd(f, RBR);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, MSR), 0xB0);
	/* THRE test: THRE re-asserted after IER 0 -> THRI even after an IIR read cleared it. */
	wr(f, IER, 0x02);
	assert_int_equal(rd(f, IIR), 0x02);
	wr(f, IER, 0x00);
	wr(f, IER, 0x02);
	uint8_t iir = rd(f, IIR);
	wr(f, IER, 0x00);
	assert_int_equal(rd(f, LSR) & 0x40, 0x40);
	assert_int_equal(iir & 0x01, 0);       /* no UART_BUG_THRE */
	assert_int_equal(iir, 0x02);
	/* Nothing reached the wire, and OUT2 was off all along: the line never moved. */
	assert_int_equal(f->tx.n, 0);
	assert_int_equal(f->line.calls, 0);
}

static void test_dlab_divisor(void **state)
{
	struct fx *f = *state;
	wr(f, IER, 0x05);
	wr(f, LCR, 0x83);
	wr(f, DLL, 0x01);
	wr(f, DLM, 0xC2);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0xC2);
	assert_int_equal(rd(f, LCR), 0x83);
	assert_int_equal(f->tx.n, 0);              /* DLL write is not a THR write */
	assert_int_equal(rd(f, IIR), 0x01);        /* IIR is not banked */
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, IER), 0x05);        /* DLM write did not touch IER */
	assert_int_equal(rd(f, LCR), 0x03);
	uint8_t b = 0x42;
	assert_int_equal(uart16550_receive(f->u, &b, 1), 1);
	wr(f, LCR, 0x80);
	assert_int_equal(rd(f, DLL), 0x01);        /* not the RBR: the byte stays */
	assert_int_equal(rd(f, LSR), 0x61);
	wr(f, LCR, 0x00);
	assert_int_equal(rd(f, RBR), 0x42);
	assert_int_equal(rd(f, LSR), 0x60);
	/* The divisor survives DLAB off/on. */
	wr(f, LCR, 0x80);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0xC2);
}

static void test_fifo_fill_drain(void **state)
{
	struct fx *f = *state;
	uint8_t in[20];
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xA0 + i);
	wr(f, FCR, 0x07);
	assert_int_equal(rd(f, IIR), 0xC1);
	assert_int_equal(uart16550_receive(f->u, in, sizeof(in)), 16);
	assert_int_equal(rd(f, LSR), 0x61);
	for (unsigned i = 0; i < 16; i++) {
		assert_int_equal(rd(f, LSR) & 1, 1);
		assert_int_equal(rd(f, RBR), 0xA0 + i);
	}
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, RBR), 0x00);
	/* RX FIFO reset empties it; FIFO disable empties it too. */
	assert_int_equal(uart16550_receive(f->u, in, 5), 5);
	wr(f, FCR, 0x03);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(uart16550_receive(f->u, in, 5), 5);
	wr(f, FCR, 0x05);                          /* TX reset only: RX data stays */
	assert_int_equal(rd(f, LSR), 0x61);
	wr(f, FCR, 0x00);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, IIR), 0x01);
	/* 16450 mode: one byte holding register; FCR writes with FCR0 = 0 reset nothing. */
	assert_int_equal(uart16550_receive(f->u, in, 3), 1);
	wr(f, FCR, 0x06);
	assert_int_equal(rd(f, LSR), 0x61);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(uart16550_receive(f->u, in + 1, 3), 0);
	assert_int_equal(rd(f, RBR), 0xA0);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(stats(f).rx_bytes, 16 + 5 + 5 + 1);
	assert_int_equal(stats(f).rx_overruns, 0);
}

static void test_overrun(void **state)
{
	struct fx *f = *state;
	wr(f, FCR, 0x01);
	wr(f, MCR, 0x18);                          /* loopback + OUT2 */
	(void)rd(f, MSR);
	wr(f, IER, 0x04);                          /* line status only */
	for (unsigned i = 0; i < 16; i++)
		wr(f, THR, (uint8_t)i);
	assert_int_equal(rd(f, LSR), 0x61);
	assert_false(f->line.level);
	wr(f, THR, 0x77);                          /* 17th: overrun, the byte is lost */
	assert_true(f->line.level);
	assert_int_equal(rd(f, IIR), 0xC6);
	assert_int_equal(rd(f, LSR), 0x63);
	assert_false(f->line.level);               /* LSR read clears OE and the interrupt */
	assert_int_equal(rd(f, IIR), 0xC1);
	assert_int_equal(rd(f, LSR), 0x61);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(rd(f, RBR), i);
	assert_int_equal(rd(f, LSR), 0x60);
	struct uart16550_stats st = stats(f);
	assert_int_equal(st.rx_overruns, 1);
	assert_int_equal(st.rx_bytes, 16);
	assert_int_equal(st.tx_bytes, 0);
	assert_int_equal(f->tx.n, 0);
	/* 16450 mode: the new byte replaces the unread one. */
	wr(f, FCR, 0x00);
	wr(f, THR, 0x11);
	wr(f, THR, 0x22);
	assert_int_equal(rd(f, IIR), 0x06);
	assert_int_equal(rd(f, LSR), 0x63);
	assert_int_equal(rd(f, RBR), 0x22);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(stats(f).rx_overruns, 2);
	assert_int_equal(f->line.rises, 2);
	assert_false(f->line.level);
}

static void test_trigger_levels(void **state)
{
	struct fx *f = *state;
	static const uint8_t fcr[4] = { 0x01, 0x41, 0x81, 0xC1 };
	static const unsigned level[4] = { 1, 4, 8, 14 };
	uint8_t in[16] = { 0 };

	wr(f, MCR, 0x08);
	wr(f, IER, 0x01);
	for (unsigned t = 0; t < 4; t++) {
		unsigned rises = f->line.rises;
		wr(f, FCR, fcr[t] | 0x02);
		if (level[t] > 1) {
			assert_int_equal(uart16550_receive(f->u, in, level[t] - 1), level[t] - 1);
			assert_int_equal(rd(f, IIR), 0xC1);
			assert_false(f->line.level);
		}
		assert_int_equal(uart16550_receive(f->u, in, 1), 1);
		assert_int_equal(rd(f, IIR), 0xC4);
		assert_true(f->line.level);
		assert_int_equal(f->line.rises, rises + 1);
		(void)rd(f, RBR);                  /* one below the trigger: cleared */
		assert_int_equal(rd(f, IIR), 0xC1);
		assert_false(f->line.level);
	}
	/* 13 bytes are left: trigger 1 makes them RX data; FCR0 = 0 drops them. */
	wr(f, FCR, 0x01);
	assert_int_equal(rd(f, IIR), 0xC4);
	assert_int_equal(rd(f, LSR), 0x61);
	wr(f, FCR, 0xC0);
	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_false(f->line.level);
	/* 16450 mode: one byte is "at trigger". */
	wr(f, FCR, 0x00);
	assert_int_equal(uart16550_receive(f->u, in, 1), 1);
	assert_int_equal(rd(f, IIR), 0x04);
	(void)rd(f, RBR);
	assert_int_equal(rd(f, IIR), 0x01);
}

static void test_iir_priorities(void **state)
{
	struct fx *f = *state;
	wr(f, FCR, 0x01);
	wr(f, MCR, 0x18);          /* loopback: CTS, DSR drop (DCTS|DDSR), DCD stays (OUT2) */
	wr(f, IER, 0x0F);          /* ETBEI 0 -> 1: THRE pending */
	assert_true(f->line.level);
	assert_int_equal(rd(f, IIR), 0xC2);        /* THRE over modem status; read clears THRE */
	assert_int_equal(rd(f, IIR), 0xC0);        /* modem status */
	for (unsigned i = 0; i < 17; i++)
		wr(f, THR, (uint8_t)(0x30 + i));   /* RX full + overrun, THRE pending again */
	assert_int_equal(rd(f, IIR), 0xC6);        /* line status first */
	assert_int_equal(rd(f, IIR), 0xC6);        /* an IIR read does not clear it */
	assert_int_equal(rd(f, LSR), 0x63);
	assert_int_equal(rd(f, IIR), 0xC4);        /* then RX data */
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(rd(f, RBR), 0x30 + i);
	assert_int_equal(rd(f, IIR), 0xC2);        /* then THRE (cleared by this read) */
	assert_int_equal(rd(f, IIR), 0xC0);        /* then modem status */
	assert_true(f->line.level);
	assert_int_equal(rd(f, MSR), 0x83);
	assert_int_equal(rd(f, IIR), 0xC1);
	assert_false(f->line.level);
	assert_int_equal(f->line.rises, 1);

	/* Character timeout outranks THRE; masked sources are not reported. */
	wr(f, FCR, 0x47);                          /* trigger 4 */
	wr(f, THR, 0x55);                          /* one byte in, THRE pending */
	assert_int_equal(rd(f, IIR), 0xC2);
	wr(f, THR, 0x56);
	vclock_advance(f->fake.clock, 100000000);
	assert_int_equal(rd(f, IIR), 0xCC);
	assert_int_equal(rd(f, IIR), 0xCC);
	wr(f, IER, 0x0E);                          /* RX interrupts masked */
	assert_int_equal(rd(f, IIR), 0xC2);
	wr(f, IER, 0x0F);
	assert_int_equal(rd(f, IIR), 0xCC);
	assert_int_equal(rd(f, RBR), 0x55);        /* read clears the timeout */
	assert_int_equal(rd(f, IIR), 0xC1);        /* THRE went with the 0x0E-mode read */
	/* Modem status masked: deltas stay pending but unreported. */
	wr(f, IER, 0x07);
	wr(f, MCR, 0x19);                          /* DTR: DDSR */
	assert_int_equal(rd(f, IIR), 0xC1);
	wr(f, IER, 0x0F);
	assert_int_equal(rd(f, IIR), 0xC0);        /* ETBEI stayed 1: no THRE re-raise */
	assert_int_equal(rd(f, MSR), 0xA2);
	assert_int_equal(rd(f, IIR), 0xC1);
}

static void test_thre_interrupt(void **state)
{
	struct fx *f = *state;
	wr(f, MCR, 0x08);
	assert_int_equal(f->line.calls, 0);
	wr(f, IER, 0x02);                          /* THR empty: THRE at once */
	assert_true(f->line.level);
	assert_int_equal(f->line.rises, 1);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_false(f->line.level);               /* the read that reported it cleared it */
	assert_int_equal(rd(f, IIR), 0x01);
	wr(f, IER, 0x02);                          /* 1 -> 1: no new THRE */
	assert_int_equal(rd(f, IIR), 0x01);
	assert_false(f->line.level);
	wr(f, THR, 'x');                           /* sent at once: THR empty again */
	assert_true(f->line.level);
	assert_int_equal(f->line.rises, 2);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_false(f->line.level);
	wr(f, IER, 0x00);
	wr(f, IER, 0x02);
	assert_true(f->line.level);
	assert_int_equal(f->line.rises, 3);
	wr(f, THR, 'y');                           /* pending before and after: no edge */
	assert_true(f->line.level);
	assert_int_equal(f->line.rises, 3);
	wr(f, IER, 0x00);                          /* masking drops the line */
	assert_false(f->line.level);
	assert_int_equal(rd(f, IIR), 0x01);
	/* Without ETBEI a THR write raises nothing. */
	wr(f, THR, 'z');
	assert_false(f->line.level);
	assert_int_equal(f->tx.n, 3);
	assert_memory_equal(f->tx.buf, "xyz", 3);
	assert_int_equal(f->line.calls, 6);
}

static void test_out2_gating(void **state)
{
	struct fx *f = *state;
	wr(f, IER, 0x02);
	assert_int_equal(f->line.calls, 0);        /* pending but OUT2 = 0 */
	wr(f, MCR, 0x07);                          /* DTR RTS OUT1, no OUT2 */
	assert_int_equal(f->line.calls, 0);
	wr(f, MCR, 0x08);
	assert_true(f->line.level);
	assert_int_equal(f->line.pin, 4);
	wr(f, MCR, 0x00);
	assert_false(f->line.level);
	assert_int_equal(rd(f, IIR), 0x02);        /* still pending inside the chip */
	wr(f, MCR, 0x08);
	assert_false(f->line.level);               /* the IIR read cleared it meanwhile */
	uint8_t b = 1;
	wr(f, IER, 0x01);
	assert_int_equal(uart16550_receive(f->u, &b, 1), 1);
	assert_true(f->line.level);
	wr(f, MCR, 0x03);
	assert_false(f->line.level);
	wr(f, MCR, 0x0B);
	assert_true(f->line.level);
	assert_int_equal(f->line.rises, 3);
	assert_int_equal(f->line.calls, 5);
}

static void test_loopback(void **state)
{
	struct fx *f = *state;
	/* MSR 7:4 = OUT2 OUT1 DTR RTS mapped to DCD RI DSR CTS. */
	static const struct { uint8_t mcr, msr_hi; } map[] = {
		{ 0x10, 0x00 }, { 0x11, 0x20 }, { 0x12, 0x10 }, { 0x14, 0x40 },
		{ 0x18, 0x80 }, { 0x1F, 0xF0 }, { 0x1A, 0x90 }, { 0x15, 0x60 },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		wr(f, MCR, map[i].mcr);
		assert_int_equal(rd(f, MSR) & 0xF0, map[i].msr_hi);
		assert_int_equal(rd(f, MCR), map[i].mcr);
	}
	/* Delta bits: from 0x15 (DSR RI) to 0x10: DDSR and TERI (RI 1 -> 0). */
	(void)rd(f, MSR);
	wr(f, MCR, 0x10);
	assert_int_equal(rd(f, MSR), 0x06);
	assert_int_equal(rd(f, MSR), 0x00);
	wr(f, MCR, 0x14);                          /* RI 0 -> 1: no TERI */
	assert_int_equal(rd(f, MSR), 0x40);
	wr(f, MCR, 0x1A);                          /* CTS DCD up, RI down */
	assert_int_equal(rd(f, MSR), 0x9D);
	wr(f, MCR, 0x0A);                          /* back to the null modem: DSR up */
	assert_int_equal(rd(f, MSR), 0xB2);
	wr(f, MCR, 0xFF);
	assert_int_equal(rd(f, MCR), 0x1F);        /* bits 7:5 read 0 */
	assert_int_equal(rd(f, MSR), 0xF0);        /* only RI rose: no delta */

	/* TX loops into RX; nothing reaches the backend; the host input is disconnected. */
	wr(f, FCR, 0x01);
	wr(f, THR, 'L');
	wr(f, THR, 'B');
	assert_int_equal(f->tx.n, 0);
	assert_int_equal(rd(f, LSR), 0x61);
	uint8_t b = 'H';
	assert_int_equal(uart16550_receive(f->u, &b, 1), 0);
	assert_int_equal(rd(f, RBR), 'L');
	assert_int_equal(rd(f, RBR), 'B');
	assert_int_equal(rd(f, LSR), 0x60);
	wr(f, MCR, 0x00);
	wr(f, THR, 'W');
	assert_int_equal(f->tx.n, 1);
	assert_int_equal(f->tx.buf[0], 'W');
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(uart16550_receive(f->u, &b, 1), 1);
	assert_int_equal(rd(f, RBR), 'H');
	assert_int_equal(rd(f, MSR), 0xB4);        /* leaving loopback dropped RI: TERI */
	struct uart16550_stats st = stats(f);
	assert_int_equal(st.tx_bytes, 1);
	assert_int_equal(st.rx_bytes, 3);
}

static void test_char_timeout(void **state)
{
	struct fx *f = *state;
	uint8_t in[4] = { 1, 2, 3, 4 };
	wr(f, FCR, 0xC1);                          /* trigger 14 */
	wr(f, MCR, 0x08);
	wr(f, IER, 0x01);
	set_divisor(f, 1, 0x03);                   /* 115200 8N1: 4 chars = 347222.2 ns */
	assert_int_equal(uart16550_receive(f->u, in, 3), 3);
	vclock_advance(f->fake.clock, 347222);
	assert_int_equal(rd(f, IIR), 0xC1);
	assert_false(f->line.level);
	vclock_advance(f->fake.clock, 1);
	assert_true(f->line.level);
	assert_int_equal(rd(f, IIR), 0xCC);
	assert_int_equal(rd(f, RBR), 1);           /* read: cleared, count restarts */
	assert_false(f->line.level);
	assert_int_equal(rd(f, IIR), 0xC1);
	vclock_advance(f->fake.clock, 347222);
	assert_int_equal(rd(f, IIR), 0xC1);
	vclock_advance(f->fake.clock, 1);
	assert_int_equal(rd(f, IIR), 0xCC);
	/* A read in between postpones it. */
	assert_int_equal(rd(f, RBR), 2);
	vclock_advance(f->fake.clock, 200000);
	assert_int_equal(uart16550_receive(f->u, in, 1), 1);  /* so does a received byte */
	vclock_advance(f->fake.clock, 200000);
	assert_int_equal(rd(f, IIR), 0xC1);
	vclock_advance(f->fake.clock, 147223);
	assert_int_equal(rd(f, IIR), 0xCC);
	/* Draining the FIFO clears it and stops the timer for good. */
	assert_int_equal(rd(f, RBR), 3);
	assert_int_equal(rd(f, RBR), 1);
	assert_int_equal(rd(f, LSR), 0x60);
	vclock_advance(f->fake.clock, 1000000000ull);
	assert_int_equal(rd(f, IIR), 0xC1);
	assert_false(f->line.level);

	/* Character time follows LCR and divisor. */
	static const struct { uint16_t div; uint8_t lcr; uint64_t ns; } ct[] = {
		{ 1, 0x04, 260417 },     /* 5 bits, 1.5 stop: 7.5 bits */
		{ 1, 0x0F, 416667 },     /* 8 bits, parity, 2 stop: 12 bits */
		{ 12, 0x03, 4166667 },   /* 9600 8N1 */
		{ 0, 0x03, 347223 },     /* divisor 0 treated as 1 */
		{ 0xFFFF, 0x0F, 27306250000ull },
	};
	for (size_t i = 0; i < sizeof(ct) / sizeof(ct[0]); i++) {
		set_divisor(f, ct[i].div, ct[i].lcr);
		assert_int_equal(uart16550_receive(f->u, in, 1), 1);
		vclock_advance(f->fake.clock, ct[i].ns - 1);
		assert_int_equal(rd(f, IIR), 0xC1);
		vclock_advance(f->fake.clock, 1);
		assert_int_equal(rd(f, IIR), 0xCC);
		assert_int_equal(rd(f, RBR), 1);
		assert_int_equal(rd(f, IIR), 0xC1);
	}

	/* At or above the trigger level it is an RX-data interrupt, never a timeout. */
	set_divisor(f, 1, 0x03);
	wr(f, FCR, 0x43);                          /* trigger 4 */
	assert_int_equal(uart16550_receive(f->u, in, 4), 4);
	assert_int_equal(rd(f, IIR), 0xC4);
	vclock_advance(f->fake.clock, 10000000);
	assert_int_equal(rd(f, IIR), 0xC4);
	(void)rd(f, RBR);                          /* 3 left: timeout after 4 char times */
	assert_int_equal(rd(f, IIR), 0xC1);
	vclock_advance(f->fake.clock, 347223);
	assert_int_equal(rd(f, IIR), 0xCC);
	/* Expired while at the trigger level, then the trigger is raised: the timeout shows. */
	assert_int_equal(uart16550_receive(f->u, in, 1), 1);
	assert_int_equal(rd(f, IIR), 0xC4);
	vclock_advance(f->fake.clock, 347223);
	wr(f, FCR, 0xC1);                          /* trigger 14, no reset */
	assert_int_equal(rd(f, IIR), 0xCC);
	/* RX FIFO reset clears the indication. */
	wr(f, FCR, 0x43);
	assert_int_equal(rd(f, IIR), 0xC1);
	assert_false(f->line.level);
	/* No timeout without FIFOs, and with ERBFI off it is latched but not reported. */
	wr(f, FCR, 0x00);
	wr(f, IER, 0x00);
	assert_int_equal(uart16550_receive(f->u, in, 1), 1);
	vclock_advance(f->fake.clock, 10000000);
	wr(f, IER, 0x01);
	assert_int_equal(rd(f, IIR), 0x04);
	(void)rd(f, RBR);
	wr(f, IER, 0x00);
	wr(f, FCR, 0x41);
	assert_int_equal(uart16550_receive(f->u, in, 2), 2);
	vclock_advance(f->fake.clock, 347223);
	assert_int_equal(rd(f, IIR), 0xC1);
	assert_false(f->line.level);
	wr(f, IER, 0x01);
	assert_int_equal(rd(f, IIR), 0xCC);
	assert_true(f->line.level);
}

static void test_receive_backpressure(void **state)
{
	struct fx *f = *state;
	uint8_t in[40], out[40];
	size_t got = 0, sent = 0;
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 3);
	wr(f, FCR, 0x01);
	assert_int_equal(uart16550_receive(f->u, in, 10), 10);
	assert_int_equal(uart16550_receive(f->u, in + 10, 10), 6);
	assert_int_equal(uart16550_receive(f->u, in + 16, 1), 0);
	sent = 16;
	for (int k = 0; k < 3; k++)
		out[got++] = rd(f, RBR);
	assert_int_equal(uart16550_receive(f->u, in + sent, 5), 3);
	sent += 3;
	/* Keep offering the rest while draining, as a host console would. */
	while (got < sizeof(in)) {
		if (sent < sizeof(in))
			sent += uart16550_receive(f->u, in + sent, sizeof(in) - sent);
		while (rd(f, LSR) & 1)
			out[got++] = rd(f, RBR);
	}
	assert_int_equal(sent, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(stats(f).rx_bytes, sizeof(in));
	assert_int_equal(stats(f).rx_overruns, 0);
	assert_int_equal(uart16550_receive(f->u, NULL, 4), 0);
	assert_int_equal(uart16550_receive(f->u, in, 0), 0);
	assert_int_equal(uart16550_receive(NULL, in, 4), 0);
	assert_int_equal(rd(f, LSR), 0x60);
}

static void test_tx_backend_order(void **state)
{
	struct fx *f = *state;
	static const char msg[] = "Hello, world\n";
	for (size_t i = 0; i < sizeof(msg) - 1; i++) {
		assert_int_equal(rd(f, LSR) & 0x20, 0x20);
		wr(f, THR, (uint8_t)msg[i]);
	}
	assert_int_equal(f->tx.n, sizeof(msg) - 1);
	assert_memory_equal(f->tx.buf, msg, sizeof(msg) - 1);
	/* Wide write at offset 0: THR gets the low byte only, once; then IER, FCR, LCR. */
	assert_int_equal(uart16550_ops.write(f->u, &acc, 0, 4, 0x0301C721), IOBUS_OK);
	assert_int_equal(f->tx.n, sizeof(msg));
	assert_int_equal(f->tx.buf[sizeof(msg) - 1], 0x21);
	assert_int_equal(rd(f, IER), 0x07);
	assert_int_equal(rd(f, LCR), 0x03);
	assert_int_equal(rd(f, IIR), 0xC2);
	/* DLAB: no transmission. */
	wr(f, LCR, 0x80);
	wr(f, THR, 0x99);
	wr(f, LCR, 0x03);
	assert_int_equal(f->tx.n, sizeof(msg));
	struct uart16550_stats st = stats(f);
	assert_int_equal(st.tx_bytes, sizeof(msg));
	assert_int_equal(f->tx.dropped, 0);
}

static void test_wide_access(void **state)
{
	struct fx *f = *state;
	uint64_t v;
	wr(f, SCR, 0x5A);
	wr(f, LCR, 0x03);
	assert_int_equal(uart16550_ops.read(f->u, &acc, 6, 2, &v), IOBUS_OK);
	assert_int_equal(v, 0x5AB0);
	assert_int_equal(uart16550_ops.read(f->u, &acc, 6, 4, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFFF5AB0);
	assert_int_equal(uart16550_ops.read(f->u, &acc, 7, 4, &v), IOBUS_OK);
	assert_int_equal(v, 0xFFFFFF5A);
	assert_int_equal(uart16550_ops.read(f->u, &acc, 2, 4, &v), IOBUS_OK);
	assert_int_equal(v, 0x60000301);           /* IIR LCR MCR LSR */
	/* Wide read at 0 pops one RX byte only. */
	uint8_t in[2] = { 0x11, 0x22 };
	assert_int_equal(uart16550_receive(f->u, in, 1), 1);
	assert_int_equal(uart16550_ops.read(f->u, &acc, 0, 2, &v), IOBUS_OK);
	assert_int_equal(v, 0x0011);
	assert_int_equal(rd(f, LSR), 0x60);
	/* Wide write at 6: MSR (ignored, counted), SCR, two dropped bytes. */
	assert_int_equal(uart16550_ops.write(f->u, &acc, 6, 4, 0xEEDDA5FF), IOBUS_OK);
	assert_int_equal(rd(f, SCR), 0xA5);
	assert_int_equal(rd(f, MSR), 0xB0);
	assert_int_equal(stats(f).bad_accesses, 1);
	/* Wide write at 3: LCR then MCR. */
	assert_int_equal(uart16550_ops.write(f->u, &acc, 3, 2, 0x0883), IOBUS_OK);
	assert_int_equal(rd(f, LCR), 0x83);
	assert_int_equal(rd(f, MCR), 0x08);
	/* Invalid widths and offsets. */
	v = 0;
	assert_int_equal(uart16550_ops.read(f->u, &acc, 0, 8, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(v, ~0ull);
	assert_int_equal(uart16550_ops.read(f->u, &acc, 0, 3, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(v, 0xFFFFFF);
	assert_int_equal(uart16550_ops.read(f->u, &acc, 8, 1, &v), IOBUS_BAD_REGISTER);
	assert_int_equal(v, 0xFF);
	assert_int_equal(uart16550_ops.write(f->u, &acc, 8, 1, 0), IOBUS_BAD_REGISTER);
	assert_int_equal(uart16550_ops.write(f->u, &acc, 0, 0, 0), IOBUS_BAD_REGISTER);
	assert_int_equal(uart16550_ops.read(f->u, &acc, 0, 1, NULL), IOBUS_BAD_REGISTER);
	assert_int_equal(stats(f).bad_accesses, 6);
	assert_int_equal(rd(f, LCR), 0x83);
}

/* Invariants that hold whatever the guest did. */
static void check_invariants(struct fx *f)
{
	uint8_t lcr = rd(f, LCR);
	wr(f, LCR, lcr & 0x7F);
	assert_int_equal(rd(f, IER) & 0xF0, 0);
	uint8_t iir = rd(f, IIR);
	assert_int_equal(iir & 0x30, 0);
	assert_true((iir & 0xC0) == 0 || (iir & 0xC0) == 0xC0);
	assert_true((iir & 0x0F) == 1 || (iir & 0x0F) == 0 || (iir & 0x0F) == 2 ||
		    (iir & 0x0F) == 4 || (iir & 0x0F) == 6 || (iir & 0x0F) == 0xC);
	assert_int_equal(rd(f, LSR) & 0x9C, 0);
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
	assert_int_equal(rd(f, MCR) & 0xE0, 0);
	wr(f, LCR, lcr);
}

static void test_hostile_every_offset_width(void **state)
{
	struct fx *f = *state;
	static const uint64_t offsets[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 0x100, UINT64_MAX };
	static const uint64_t junk[] = { 0, 0xFF, 0xFFFFFFFFFFFFFFFFull, 0x8000000080808080ull,
					 0x5A5AA5A5, 0xBF, 0x1F };
	static const uint8_t lcrs[] = { 0x00, 0x80, 0xBF, 0xE0, 0x03 };
	for (size_t l = 0; l < sizeof(lcrs); l++) {
		for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
			for (unsigned size = 0; size <= 9; size++) {
				bool valid = offsets[o] < 8 && (size == 1 || size == 2 || size == 4);
				enum iobus_action want = valid ? IOBUS_OK : IOBUS_BAD_REGISTER;
				for (size_t j = 0; j < sizeof(junk) / sizeof(junk[0]); j++) {
					wr(f, LCR, lcrs[l]);
					uint64_t v = 0x1234;
					assert_int_equal(uart16550_ops.read(f->u, &acc, offsets[o],
									    size, &v), want);
					if (valid)
						assert_true(v <= iobus_ones(size));
					else
						assert_int_equal(v, iobus_ones(size));
					assert_int_equal(uart16550_ops.write(f->u, &acc, offsets[o],
									     size, junk[j]), want);
				}
				uint8_t b = (uint8_t)size;
				(void)uart16550_receive(f->u, &b, 1);
				vclock_advance(f->fake.clock, 100000);
			}
		}
		check_invariants(f);
	}
	/* Pseudo-random register traffic with time passing and input arriving. */
	uint32_t x = 0x12345678;
	for (unsigned i = 0; i < 200000; i++) {
		x = x * 1664525u + 1013904223u;
		unsigned off = (x >> 8) % 9;
		unsigned size = (x >> 12) & 1 ? 1 : ((x >> 13) & 1 ? 2 : 4);
		uint64_t v;
		if ((x >> 16) & 1)
			(void)uart16550_ops.read(f->u, &acc, off, size, &v);
		else
			(void)uart16550_ops.write(f->u, &acc, off, size, x >> 20);
		if ((x & 0xFF) == 7) {
			uint8_t in[20] = { 0 };
			(void)uart16550_receive(f->u, in, (x >> 24) % 21);
		}
		if ((x & 0x3F) == 9)
			vclock_advance(f->fake.clock, x >> 10);
		if ((i & 0x3FF) == 0)
			check_invariants(f);
	}
	check_invariants(f);
}

static void test_via_iobus(void **state)
{
	struct fx *f = *state;
	struct iobus *bus;
	struct iobus_hint hint = { 0 };
	uint64_t v;
	assert_int_equal(iobus_create(&bus), 0);
	assert_int_equal(iobus_register(bus, IOBUS_PIO, UART16550_COM1_PORT, UART16550_REG_COUNT,
					&uart16550_ops, f->u, "com1"), 0);
	iobus_freeze(bus);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_PIO, 0x3FD, 1, &acc, &v), IOBUS_OK);
	assert_int_equal(v, 0x60);
	assert_int_equal(iobus_write(bus, &hint, IOBUS_PIO, 0x3F8, 1, &acc, 'Q'), IOBUS_OK);
	assert_int_equal(f->tx.n, 1);
	assert_int_equal(f->tx.buf[0], 'Q');
	assert_int_equal(iobus_write(bus, &hint, IOBUS_PIO, 0x3FF, 1, &acc, 0x77), IOBUS_OK);
	/* A word at the last port goes to the UART whole (the bus routes ports by the first
	   one): byte 0x3FF is SCR, the lane past the end is the UART's filler 0xFF. */
	assert_int_equal(iobus_read(bus, &hint, IOBUS_PIO, 0x3FF, 2, &acc, &v), IOBUS_OK);
	assert_int_equal(v, 0xFF77);
	assert_int_equal(iobus_read(bus, &hint, IOBUS_PIO, 0x3FE, 2, &acc, &v), IOBUS_OK);
	assert_int_equal(v, 0x77B0);
	iobus_destroy(bus);
}

static void test_create_args(void **state)
{
	struct fx *f = *state;
	struct uart16550 *u = (struct uart16550 *)&u;
	struct irq_line none = { 0 };
	struct devctx noclock = { 0 };
	assert_int_equal(uart16550_create(NULL, none, NULL, &u), -EINVAL);
	assert_null(u);
	assert_int_equal(uart16550_create(&noclock, none, NULL, &u), -EINVAL);
	assert_int_equal(uart16550_create(&f->fake.dc, none, NULL, NULL), -EINVAL);
	/* No backend, no line: bytes are counted and dropped, interrupts go nowhere. */
	assert_int_equal(uart16550_create(&f->fake.dc, none, NULL, &u), 0);
	assert_int_equal(uart16550_ops.write(u, &acc, 4, 1, 0x08), IOBUS_OK);
	assert_int_equal(uart16550_ops.write(u, &acc, 1, 1, 0x03), IOBUS_OK);
	assert_int_equal(uart16550_ops.write(u, &acc, 2, 1, 0xC1), IOBUS_OK);
	assert_int_equal(uart16550_ops.write(u, &acc, 0, 1, 'a'), IOBUS_OK);
	uint8_t b = 'b';
	assert_int_equal(uart16550_receive(u, &b, 1), 1);
	struct uart16550_stats st;
	uart16550_get_stats(u, &st);
	assert_int_equal(st.tx_bytes, 1);
	assert_int_equal(st.rx_bytes, 1);
	/* Destroy with the timeout timer armed: cancelled, never fires afterwards. */
	uart16550_destroy(u);
	vclock_advance(f->fake.clock, 1000000000ull);
	uart16550_destroy(NULL);
	uart16550_get_stats(NULL, &st);
	assert_int_equal(st.tx_bytes, 0);
	uart16550_get_stats(f->u, NULL);
}

/* Several VPs writing THR at once: every byte reaches the backend exactly once. */
struct writer_arg {
	struct uart16550 *u;
	uint8_t byte;
};

static void *writer(void *p)
{
	struct writer_arg *w = p;
	for (int i = 0; i < 500; i++) {
		(void)uart16550_ops.write(w->u, &acc, 0, 1, w->byte);
		uint64_t v;
		(void)uart16550_ops.read(w->u, &acc, 5, 1, &v);
	}
	return NULL;
}

static void test_concurrent_tx(void **state)
{
	struct fx *f = *state;
	pthread_t th[4];
	struct writer_arg args[4];
	wr(f, MCR, 0x08);
	wr(f, IER, 0x02);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct writer_arg){ f->u, (uint8_t)('a' + i) };
		assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(f->tx.n, 2000);
	unsigned count[4] = { 0 };
	for (size_t i = 0; i < f->tx.n; i++) {
		assert_in_range(f->tx.buf[i], 'a', 'd');
		count[f->tx.buf[i] - 'a']++;
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(count[i], 500);
	assert_int_equal(stats(f).tx_bytes, 2000);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_state),
		T(test_linux_probe),
		T(test_dlab_divisor),
		T(test_fifo_fill_drain),
		T(test_overrun),
		T(test_trigger_levels),
		T(test_iir_priorities),
		T(test_thre_interrupt),
		T(test_out2_gating),
		T(test_loopback),
		T(test_char_timeout),
		T(test_receive_backpressure),
		T(test_tx_backend_order),
		T(test_wide_access),
		T(test_hostile_every_offset_width),
		T(test_via_iobus),
		T(test_create_args),
		T(test_concurrent_tx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
