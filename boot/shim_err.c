/* shim_err: see shim_err.h. */
#include "boot/shim_err.h"

#include <stdbool.h>
#include <stdint.h>

static void emit_pad(shim_err_sink sink, void *ctx, char c, int n)
{
	while (n-- > 0)
		sink(ctx, &c, 1);
}

static void emit_field(shim_err_sink sink, void *ctx, const char *s, size_t len, int width,
		       bool left, char pad)
{
	int padn = width > (int)len ? width - (int)len : 0;
	if (!left)
		emit_pad(sink, ctx, pad, padn);
	if (len)
		sink(ctx, s, len);
	if (left)
		emit_pad(sink, ctx, ' ', padn);
}

void shim_err_vformat(shim_err_sink sink, void *ctx, const char *fmt, va_list ap)
{
	while (*fmt) {
		const char *lit = fmt;
		while (*fmt && *fmt != '%')
			fmt++;
		if (fmt != lit)
			sink(ctx, lit, (size_t)(fmt - lit));
		if (!*fmt)
			break;
		const char *spec = fmt++;
		bool left = false;
		char pad = ' ';
		for (;; fmt++) {
			if (*fmt == '0')
				pad = '0';
			else if (*fmt == '-')
				left = true;
			else
				break;
		}
		int width = 0;
		while (*fmt >= '0' && *fmt <= '9' && width < 64)
			width = width * 10 + (*fmt++ - '0');
		int lng = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
		if (*fmt == 'l') {
			fmt++;
			lng = 1;
			if (*fmt == 'l') {
				fmt++;
				lng = 2;
			}
		} else if (*fmt == 'z') {
			fmt++;
			lng = 3;
		}
		char c = *fmt;
		if (!c) {
			sink(ctx, spec, (size_t)(fmt - spec));
			break;
		}
		fmt++;
		char num[24];
		size_t pos = sizeof(num);
		uint64_t v = 0;
		bool neg = false;
		unsigned base = 10;
		bool upper = false;
		switch (c) {
		case '%':
			sink(ctx, "%", 1);
			continue;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			size_t len = 0;
			while (s[len])
				len++;
			emit_field(sink, ctx, s, len, width, left, ' ');
			continue;
		}
		case 'c': {
			char ch = (char)va_arg(ap, int);
			emit_field(sink, ctx, &ch, 1, width, left, ' ');
			continue;
		}
		case 'd':
		case 'i': {
			int64_t sv;
			if (lng == 1)
				sv = va_arg(ap, long);
			else if (lng == 2)
				sv = va_arg(ap, long long);
			else if (lng == 3)
				sv = (int64_t)va_arg(ap, size_t);
			else
				sv = va_arg(ap, int);
			neg = sv < 0;
			v = neg ? (uint64_t)0 - (uint64_t)sv : (uint64_t)sv;
			break;
		}
		case 'p':
			v = (uint64_t)(uintptr_t)va_arg(ap, void *);
			base = 16;
			sink(ctx, "0x", 2);
			break;
		case 'X':
			upper = true;
			base = 16;
			goto unsigned_arg;
		case 'x':
			base = 16;
			goto unsigned_arg;
		case 'u':
		unsigned_arg:
			if (lng == 1)
				v = va_arg(ap, unsigned long);
			else if (lng == 2)
				v = va_arg(ap, unsigned long long);
			else if (lng == 3)
				v = va_arg(ap, size_t);
			else
				v = va_arg(ap, unsigned);
			break;
		default:
			sink(ctx, spec, (size_t)(fmt - spec));
			continue;
		}
		const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
		do {
			num[--pos] = digits[v % base];
			v /= base;
		} while (v);
		if (neg) {
			if (pad == '0' && !left) {
				sink(ctx, "-", 1);
				width = width > 0 ? width - 1 : 0;
			} else {
				num[--pos] = '-';
			}
		}
		emit_field(sink, ctx, num + pos, sizeof(num) - pos, width, left, pad);
	}
}

struct bufctx {
	char *buf;
	size_t n, len;
};

static void buf_sink(void *ctx, const char *s, size_t n)
{
	struct bufctx *b = ctx;
	for (size_t i = 0; i < n; i++, b->len++)
		if (b->n && b->len < b->n - 1)
			b->buf[b->len] = s[i];
}

static size_t vsnformat(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct bufctx b = { buf, n, 0 };
	shim_err_vformat(buf_sink, &b, fmt, ap);
	if (n)
		buf[b.len < n - 1 ? b.len : n - 1] = '\0';
	return b.len;
}

size_t shim_err_snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t len = vsnformat(buf, n, fmt, ap);
	va_end(ap);
	return len;
}

int shim_err_set(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnformat(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}
