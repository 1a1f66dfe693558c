/*
 * Typed addresses. Each address kind is a single-member struct so that a guest-physical
 * address cannot be passed where a guest-virtual one is expected (or a host pointer) without
 * an explicit conversion. Zero cost: the structs are passed in registers.
 */
#ifndef MEZZ_ARCH_ADDR_H
#define MEZZ_ARCH_ADDR_H

#include <stdint.h>

/** Guest-physical address (VTL0's view). */
typedef struct { uint64_t v; } gpa_t;
/** Guest-virtual (linear) address. */
typedef struct { uint64_t v; } gva_t;
/** Guest page number: gpa >> 12. */
typedef struct { uint64_t v; } gpn_t;

#define ADDR_PAGE_SHIFT 12
#define ADDR_PAGE_SIZE  4096ull

static inline gpa_t gpa(uint64_t v) { return (gpa_t){ v }; }
static inline gva_t gva(uint64_t v) { return (gva_t){ v }; }
static inline gpn_t gpn(uint64_t v) { return (gpn_t){ v }; }
static inline gpn_t gpa_to_gpn(gpa_t a) { return (gpn_t){ a.v >> ADDR_PAGE_SHIFT }; }
static inline gpa_t gpn_to_gpa(gpn_t n) { return (gpa_t){ n.v << ADDR_PAGE_SHIFT }; }
static inline gpa_t gpa_add(gpa_t a, uint64_t off) { return (gpa_t){ a.v + off }; }
static inline gva_t gva_add(gva_t a, uint64_t off) { return (gva_t){ a.v + off }; }

#endif
