/*
 * testdev: the test and debug device the VTL0 test guests use (tests/guests/guest_abi.h is the
 * guest's side of the same contract; tests/unit/dev_testdev_test.c checks both agree). A device
 * on the bus like any other, present only when the machine is built with test devices.
 *
 *   ports 0xF0-0xFC   0xF0 echo (per VP: IN returns the last OUT + 1 at the access width),
 *                     0xF4 exit (32-bit OUT ends the run, 0 = pass), 0xF8 assert a fixed
 *                     vector on the writing VP now, 0xF9 the same 5 ms later, 0xFA/0xFB
 *                     write-protect / unprotect a VTL0 page (OUT gpn), 0xFC IN: protection
 *                     intercepts so far; other ports in the range float (all-ones)
 *   MMIO 0xFE000000   one page: byte i reads byte (i & 3) of ((0xFE000000 + (i & ~3)) ^
 *                     0x5A5A5A5A); offsets 0x800-0xFFF are scratch (writes land)
 *   MSRs 0x4D5A0000-0x4D5A00FF  RDMSR returns the last WRMSR (0 initially), per partition
 */
#ifndef MEZZ_DEVICES_TESTDEV_H
#define MEZZ_DEVICES_TESTDEV_H

#include <stdint.h>

#include "vtl2/devctx.h"
#include "vtl2/iobus.h"

#define TESTDEV_PORT_BASE 0xF0u
#define TESTDEV_PORT_ECHO 0xF0u
#define TESTDEV_PORT_EXIT 0xF4u
#define TESTDEV_PORT_IRQ 0xF8u
#define TESTDEV_PORT_IRQ_DELAYED 0xF9u
#define TESTDEV_PORT_PROTECT 0xFAu
#define TESTDEV_PORT_UNPROTECT 0xFBu
#define TESTDEV_PORT_PROT_COUNT 0xFCu
#define TESTDEV_PORT_COUNT 13u
#define TESTDEV_IRQ_DELAY_NS 5000000ull
#define TESTDEV_MMIO_BASE 0xFE000000ull
#define TESTDEV_MMIO_SIZE 0x1000u
#define TESTDEV_MMIO_SCRATCH 0x800u
#define TESTDEV_MMIO_PATTERN 0x5A5A5A5Au
#define TESTDEV_MSR_BASE 0x4D5A0000u
#define TESTDEV_MSR_COUNT 256u
#define TESTDEV_MAX_VPS 256u
#define TESTDEV_MAX_TIMERS 64u

struct testdev;

int testdev_create(const struct devctx *dc, struct testdev **out);
void testdev_destroy(struct testdev *t);

extern const struct iobus_ops testdev_port_ops;  /* IOBUS_PIO TESTDEV_PORT_BASE, TESTDEV_PORT_COUNT */
extern const struct iobus_ops testdev_mmio_ops;  /* IOBUS_MMIO TESTDEV_MMIO_BASE, TESTDEV_MMIO_SIZE */
extern const struct iobus_ops testdev_msr_ops;   /* IOBUS_MSR TESTDEV_MSR_BASE, TESTDEV_MSR_COUNT */

#endif
