#include "CSHA256.h"

// FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
static const uint32_t round_constants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

const uint32_t *csha256_round_constants(void) { return round_constants; }

#if defined(__x86_64__)
#include <immintrin.h>

int csha256_accelerated(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
}

__attribute__((target("sha,sse4.1")))
void csha256_compress_blocks(uint32_t state[8], const uint8_t *data, size_t blocks) {
    // The round instruction keeps the state as two vectors, A B E F and C D G H, highest lane first.
    __m128i abef = _mm_set_epi32((int)state[0], (int)state[1], (int)state[4], (int)state[5]);
    __m128i cdgh = _mm_set_epi32((int)state[2], (int)state[3], (int)state[6], (int)state[7]);
    // Reverses the bytes of each 32-bit lane: the message words are big-endian.
    const __m128i byte_swap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    for (size_t block = 0; block < blocks; block++, data += 64) {
        // The schedule lives in four vectors of four words, w[t % 4] holding words 4t ... 4t + 3 of the current
        // group of sixteen; each group of four rounds after the first sixteen replaces the oldest vector by the next
        // four words (sha256msg1 adds sigma0 of the words 15 back, sha256msg2 sigma1 of those 2 back).
        __m128i w[4];
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), byte_swap);
        }
        __m128i abef_before = abef;
        __m128i cdgh_before = cdgh;
#pragma clang loop unroll(full)
        for (int g = 0; g < 16; g++) {
            if (g >= 4) {
                __m128i next = _mm_sha256msg1_epu32(w[g % 4], w[(g + 1) % 4]);
                // Words t-7 ... t-4: the top word of the vector three groups back, then three of two groups back.
                next = _mm_add_epi32(next, _mm_alignr_epi8(w[(g + 3) % 4], w[(g + 2) % 4], 4));
                w[g % 4] = _mm_sha256msg2_epu32(next, w[(g + 3) % 4]);
            }
            // Lanes 0 and 1 feed two rounds; the shuffle brings lanes 2 and 3 down for the next two. Each call
            // returns the new A B E F, and the old one becomes C D G H.
            __m128i wk = _mm_add_epi32(w[g % 4], _mm_loadu_si128((const __m128i *)&round_constants[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            wk = _mm_shuffle_epi32(wk, 0x0E);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);
        }
        abef = _mm_add_epi32(abef, abef_before);
        cdgh = _mm_add_epi32(cdgh, cdgh_before);
    }
    uint32_t lanes[4];
    _mm_storeu_si128((__m128i *)lanes, abef);
    state[0] = lanes[3];
    state[1] = lanes[2];
    state[4] = lanes[1];
    state[5] = lanes[0];
    _mm_storeu_si128((__m128i *)lanes, cdgh);
    state[2] = lanes[3];
    state[3] = lanes[2];
    state[6] = lanes[1];
    state[7] = lanes[0];
}

#else

int csha256_accelerated(void) { return 0; }

void csha256_compress_blocks(uint32_t state[8], const uint8_t *data, size_t blocks) {
    (void)state;
    (void)data;
    (void)blocks;
}

#endif
