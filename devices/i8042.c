/*
 * i8042 keyboard controller without devices: command/status handling and the reset line.
 * Register facts are in i8042.h.
 */
#include "devices/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* Command byte bits. */
#define I8042_CB_SYS 0x04
#define I8042_CB_KBD_DISABLE 0x10
#define I8042_CB_AUX_DISABLE 0x20

/* Output port bit 0: system reset, active low. */
#define I8042_OUT_RESET_N 0x01

#define I8042_CB_POWER_ON 0x30
#define I8042_OUT_POWER_ON 0x03

/* Commands. */
#define I8042_CMD_READ_CB 0x20
#define I8042_CMD_WRITE_CB 0x60
#define I8042_CMD_AUX_DISABLE 0xA7
#define I8042_CMD_AUX_ENABLE 0xA8
#define I8042_CMD_AUX_TEST 0xA9
#define I8042_CMD_SELF_TEST 0xAA
#define I8042_CMD_KBD_TEST 0xAB
#define I8042_CMD_KBD_DISABLE 0xAD
#define I8042_CMD_KBD_ENABLE 0xAE
#define I8042_CMD_READ_OUT 0xD0
#define I8042_CMD_WRITE_OUT 0xD1
#define I8042_CMD_PULSE_FIRST 0xF0

#define I8042_SELF_TEST_OK 0x55
#define I8042_IF_TEST_OK 0x00

/* Resets can be requested in a loop by the guest: log only the first few. */
#define I8042_LOG_BUDGET 4

struct i8042 {
	pthread_mutex_t lock;
	struct devctx dc;
	uint8_t cmd_byte;
	uint8_t out_port;
	uint8_t obuf;
	bool obf;
	bool last_was_cmd;   /* status A2 */
	uint8_t pending;     /* command waiting for its data byte, 0 if none */
	unsigned log_budget;
};

static uint32_t i8042_vp(const struct iobus_access *a)
{
	return a ? a->vp : 0;
}

static void i8042_output(struct i8042 *k, uint8_t v)
{
	k->obuf = v;
	k->obf = true;
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t s = I8042_STS_UNLOCKED;
	if (k->obf)
		s |= I8042_STS_OBF;
	if (k->cmd_byte & I8042_CB_SYS)
		s |= I8042_STS_SYS;
	if (k->last_was_cmd)
		s |= I8042_STS_CMD;
	return s;
}

/* Returns true when the command pulses or asserts the reset line. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	switch (cmd) {
	case I8042_CMD_READ_CB:
		i8042_output(k, k->cmd_byte);
		return false;
	case I8042_CMD_WRITE_CB:
	case I8042_CMD_WRITE_OUT:
		k->pending = cmd;
		return false;
	case I8042_CMD_SELF_TEST:
		k->cmd_byte |= I8042_CB_SYS;
		i8042_output(k, I8042_SELF_TEST_OK);
		return false;
	case I8042_CMD_KBD_TEST:
	case I8042_CMD_AUX_TEST:
		i8042_output(k, I8042_IF_TEST_OK);
		return false;
	case I8042_CMD_KBD_DISABLE:
		k->cmd_byte |= I8042_CB_KBD_DISABLE;
		return false;
	case I8042_CMD_KBD_ENABLE:
		k->cmd_byte &= (uint8_t)~I8042_CB_KBD_DISABLE;
		return false;
	case I8042_CMD_AUX_DISABLE:
		k->cmd_byte |= I8042_CB_AUX_DISABLE;
		return false;
	case I8042_CMD_AUX_ENABLE:
		k->cmd_byte &= (uint8_t)~I8042_CB_AUX_DISABLE;
		return false;
	case I8042_CMD_READ_OUT:
		i8042_output(k, k->out_port);
		return false;
	default:
		/* 0xF0-0xFF pulse the output port bits that are 0 in the command's low nibble. */
		return cmd >= I8042_CMD_PULSE_FIRST && !(cmd & I8042_OUT_RESET_N);
	}
}

static bool i8042_data(struct i8042 *k, uint8_t v)
{
	uint8_t pending = k->pending;
	k->pending = 0;
	switch (pending) {
	case I8042_CMD_WRITE_CB:
		k->cmd_byte = v;
		return false;
	case I8042_CMD_WRITE_OUT:
		k->out_port = v;
		return !(v & I8042_OUT_RESET_N);
	default:
		return false;   /* for the keyboard, which is absent */
	}
}

static enum iobus_action i8042_read(struct i8042 *k, bool cmd_port, uint64_t offset,
				    unsigned size, uint64_t *value)
{
	*value = iobus_ones(size);
	if (offset != 0 || size != 1)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&k->lock);
	if (cmd_port) {
		*value = i8042_status(k);
	} else {
		*value = k->obf ? k->obuf : 0x00;
		k->obf = false;
	}
	pthread_mutex_unlock(&k->lock);
	return IOBUS_OK;
}

static enum iobus_action i8042_write(struct i8042 *k, const struct iobus_access *a,
				     bool cmd_port, uint64_t offset, unsigned size,
				     uint64_t value)
{
	bool reset;
	bool log = false;
	if (offset != 0 || size != 1)
		return IOBUS_BAD_REGISTER;
	pthread_mutex_lock(&k->lock);
	k->last_was_cmd = cmd_port;
	if (cmd_port)
		reset = i8042_command(k, (uint8_t)value);
	else
		reset = i8042_data(k, (uint8_t)value);
	if (reset && k->log_budget) {
		k->log_budget--;
		log = true;
	}
	pthread_mutex_unlock(&k->lock);
	if (log)
		fprintf(k->dc.log ? k->dc.log : stderr, "i8042: reset requested (%s 0x%02x) by vp %u\n",
			cmd_port ? "command" : "output port", (unsigned)(value & 0xFF), i8042_vp(a));
	/* Outside the lock: the stop path may kick VPs that are inside our handlers. */
	if (reset)
		devctx_stop(&k->dc, DEVCTX_STOP_RESET, 0, i8042_vp(a));
	return IOBUS_OK;
}

static enum iobus_action i8042_data_read(void *dev, const struct iobus_access *a,
					 uint64_t offset, unsigned size, uint64_t *value)
{
	(void)a;
	return i8042_read(dev, false, offset, size, value);
}

static enum iobus_action i8042_data_write(void *dev, const struct iobus_access *a,
					  uint64_t offset, unsigned size, uint64_t value)
{
	return i8042_write(dev, a, false, offset, size, value);
}

static enum iobus_action i8042_cmd_read(void *dev, const struct iobus_access *a,
					uint64_t offset, unsigned size, uint64_t *value)
{
	(void)a;
	return i8042_read(dev, true, offset, size, value);
}

static enum iobus_action i8042_cmd_write(void *dev, const struct iobus_access *a,
					 uint64_t offset, unsigned size, uint64_t value)
{
	return i8042_write(dev, a, true, offset, size, value);
}

const struct iobus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

const struct iobus_ops i8042_cmd_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
};

int i8042_create(const struct devctx *dc, struct i8042 **out)
{
	if (!out)
		return -EINVAL;
	struct i8042 *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	if (pthread_mutex_init(&k->lock, NULL)) {
		free(k);
		return -ENOMEM;
	}
	if (dc)
		k->dc = *dc;
	k->cmd_byte = I8042_CB_POWER_ON;
	k->out_port = I8042_OUT_POWER_ON;
	k->log_budget = I8042_LOG_BUDGET;
	*out = k;
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}
