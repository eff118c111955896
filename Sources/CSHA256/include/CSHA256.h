#ifndef CSHA256_H
#define CSHA256_H

// SHA-256 block compression with the x86 SHA extensions, for the snapshot checksums. The Swift implementation in
// CatalogSnapshot is the reference and the fallback; this one is used only when the CPU has the instructions.

#include <stddef.h>
#include <stdint.h>

/// SHA-256's 64 round constants, for the Swift rounds too.
const uint32_t *csha256_round_constants(void);

/// 1 when this CPU runs csha256_compress_blocks (x86-64 with the SHA and SSE4.1 extensions), else 0.
int csha256_accelerated(void);

/// Compresses `blocks` 64-byte blocks at `data` into `state` (a, b, ..., h). Only when csha256_accelerated() is 1.
void csha256_compress_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif
