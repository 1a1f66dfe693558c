/*
 * hvsim VTL2 SynIC SINT 7 (the /dev/mshv_sint model) and the host-side message API
 * (hvsim_sint_* / hvsim_host_*, declared in hvsim.h). Internal to tools/hvsim.
 */
#ifndef MEZZ_TOOLS_HVSIM_SYNIC_H
#define MEZZ_TOOLS_HVSIM_SYNIC_H

struct hvsim;

int hvsim_synic_init(struct hvsim *sim);
void hvsim_synic_fini(struct hvsim *sim);

#endif
