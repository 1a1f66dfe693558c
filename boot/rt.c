/*
 * rt: the few libc functions Debian's libfdt.a calls (nm -u) and the shim's own code uses
 * (strcmp, strncmp), for the freestanding shim only.
 * Byte loops: the shim handles kilobytes, and simple code is easy to trust.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/shim_main.h"

void *memchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;
	for (size_t i = 0; i < n; i++)
		if (p[i] == (unsigned char)c)
			return (void *)(p + i);
	return NULL;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

/* REP MOVSB/STOSB: one instruction for the whole run (fast strings), where a byte loop costs
   four per byte - libfdt's fdt_create clears its whole buffer. */
void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	void *r = d;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return r;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	if (dp < sp) {
		return memcpy(d, s, n); /* forward copy is safe below the source */
	} else {
		for (size_t i = n; i > 0; i--)
			dp[i - 1] = sp[i - 1];
	}
	return d;
}

void *memset(void *d, int c, size_t n)
{
	void *r = d;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return r;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* POSIX, not C11: string.h does not declare it under -std=c11. */
size_t strnlen(const char *s, size_t max);
size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	size_t i = 0;
	while (a[i] && a[i] == b[i])
		i++;
	return (unsigned char)a[i] - (unsigned char)b[i];
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i] != b[i])
			return (unsigned char)a[i] - (unsigned char)b[i];
		if (!a[i])
			return 0;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

char *strrchr(const char *s, int c)
{
	const char *last = NULL;
	for (;; s++) {
		if (*s == (char)c)
			last = s;
		if (!*s)
			return (char *)last;
	}
}

static int digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

unsigned long strtoul(const char *restrict s, char **restrict end, int base)
{
	const char *p = s;
	while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
		p++;
	bool neg = false;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
	    digit(p[2]) < 16) {
		p += 2;
		base = 16;
	} else if (base == 0) {
		base = p[0] == '0' ? 8 : 10;
	}
	unsigned long v = 0;
	bool any = false, over = false;
	if (base >= 2 && base <= 36) {
		for (int d; (d = digit(*p)) < base; p++) {
			any = true;
			if (v > (~0ul - (unsigned long)d) / (unsigned long)base)
				over = true;
			v = v * (unsigned long)base + (unsigned long)d;
		}
	}
	if (end)
		*end = (char *)(any ? p : s);
	if (over)
		return ~0ul;
	return neg ? 0ul - v : v;
}

void __stack_chk_fail(void);
void __stack_chk_fail(void)
{
	shim_main_fatal("stack protector: canary overwritten");
}
