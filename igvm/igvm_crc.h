/*
 * CRC-32 (IEEE 802.3, reflected poly 0xEDB88320, init/xorout 0xFFFFFFFF) as used by the
 * IGVM fixed-header checksum (igvm-facts §3). Same values as zlib crc32().
 */
#ifndef MEZZ_IGVM_CRC_H
#define MEZZ_IGVM_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0 (like zlib), feed pieces in order. */
uint32_t igvm_crc32(uint32_t crc, const void *buf, size_t len);

#endif /* MEZZ_IGVM_CRC_H */
