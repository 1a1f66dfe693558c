/*
 * hvsim hypercalls (hvsim_hvcall, declared in hvsim.h) and VTL0 register access by
 * HvRegisterName. Internal to tools/hvsim.
 */
#ifndef MEZZ_TOOLS_HVSIM_HV_H
#define MEZZ_TOOLS_HVSIM_HV_H

#include <stdint.h>

struct hvsim_vp;

/* VTL0 register access by HV register name (vp not in the guest, vp->lock held). Returns an
 * HV_STATUS (0 = success). Values are the 16-byte HV_REGISTER_VALUE. */
uint16_t hvsim_hv_get_reg(struct hvsim_vp *vp, uint32_t name, uint8_t value[16]);
uint16_t hvsim_hv_set_reg(struct hvsim_vp *vp, uint32_t name, const uint8_t value[16]);

#endif
