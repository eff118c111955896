#include "CQuickScorer.h"

#if defined(__x86_64__)
#include <immintrin.h>

int rk_quickscore_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

__attribute__((target("avx2")))
void rk_quickscore8(const double *const rows[8], long column_count, const long *column_starts,
                    const double *thresholds, const int32_t *trees, const uint64_t *inverse_masks, long tree_count,
                    const double *leaf_values, int float32_sum, uint64_t *masks, double scores[8]) {
    const __m256i ones = _mm256_set1_epi64x(-1);
    for (long t = 0; t < 2 * tree_count; t++) _mm256_storeu_si256((__m256i *)(masks + 4 * t), ones);
    for (long column = 0; column < column_count; column++) {
        const long start = column_starts[column], end = column_starts[column + 1];
        if (start == end) continue;
        const long feature = column / 3, variant = column % 3;
        double values[8];
        double largest = -__builtin_inf();
        for (int lane = 0; lane < 8; lane++) {
            double x = rows[lane][feature];
            if (variant == 2) {
                x = x != x ? __builtin_inf() : -__builtin_inf();
            } else if (x != x) {
                x = variant == 0 ? __builtin_inf() : -__builtin_inf();
            }
            values[lane] = x;
            if (x > largest) largest = x;
        }
        const __m256d low = _mm256_loadu_pd(values), high = _mm256_loadu_pd(values + 4);
        for (long i = start; i < end; i++) {
            const double threshold = thresholds[i];
            // Sorted: once no lane's value is above the threshold, none is above the ones after it.
            if (!(threshold < largest)) break;
            const __m256d t = _mm256_set1_pd(threshold);
            const __m256i ruled_out = _mm256_set1_epi64x((long long)inverse_masks[i]);
            const __m256i right_low =
                _mm256_and_si256(_mm256_castpd_si256(_mm256_cmp_pd(t, low, _CMP_LT_OQ)), ruled_out);
            const __m256i right_high =
                _mm256_and_si256(_mm256_castpd_si256(_mm256_cmp_pd(t, high, _CMP_LT_OQ)), ruled_out);
            uint64_t *tree_masks = masks + 8 * (long)trees[i];
            _mm256_storeu_si256((__m256i *)tree_masks,
                                _mm256_andnot_si256(right_low, _mm256_loadu_si256((const __m256i *)tree_masks)));
            _mm256_storeu_si256((__m256i *)(tree_masks + 4),
                                _mm256_andnot_si256(right_high, _mm256_loadu_si256((const __m256i *)(tree_masks + 4))));
        }
    }
    double sums[8];
    for (int lane = 0; lane < 8; lane++) sums[lane] = scores[lane];
    for (long t = 0; t < tree_count; t++) {
        const uint64_t *tree_masks = masks + 8 * t;
        const double *leaves = leaf_values + 64 * t;
        if (float32_sum) {
            for (int lane = 0; lane < 8; lane++)
                sums[lane] = (double)((float)sums[lane] + (float)leaves[__builtin_ctzll(tree_masks[lane])]);
        } else {
            for (int lane = 0; lane < 8; lane++) sums[lane] += leaves[__builtin_ctzll(tree_masks[lane])];
        }
    }
    for (int lane = 0; lane < 8; lane++) scores[lane] = sums[lane];
}

#else

int rk_quickscore_available(void) { return 0; }

void rk_quickscore8(const double *const rows[8], long column_count, const long *column_starts,
                    const double *thresholds, const int32_t *trees, const uint64_t *inverse_masks, long tree_count,
                    const double *leaf_values, int float32_sum, uint64_t *masks, double scores[8]) {
    (void)rows; (void)column_count; (void)column_starts; (void)thresholds; (void)trees; (void)inverse_masks;
    (void)tree_count; (void)leaf_values; (void)float32_sum; (void)masks; (void)scores;
}

#endif
