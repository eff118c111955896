#include "CQuickScorer.h"

#if defined(__x86_64__)
#include <immintrin.h>

int rk_quickscore_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

// Row `lane`'s value of `column` (see the header), for the lanes `order` names: lanes order[0..3] into `*low` and
// order[4..7] into `*high`. Returns the largest of the eight.
__attribute__((target("avx2"), always_inline))
static inline double column_values(const double *const rows[8], long column, const int order[8], __m256d *low,
                                   __m256d *high) {
    const long feature = column / 3, variant = column % 3;
    __m256d values[2];
    for (int half = 0; half < 2; half++) {
        const int *lanes = order + 4 * half;
        const __m256d x = _mm256_set_pd(rows[lanes[3]][feature], rows[lanes[2]][feature], rows[lanes[1]][feature],
                                        rows[lanes[0]][feature]);
        const __m256d nan = _mm256_cmp_pd(x, x, _CMP_UNORD_Q);
        const __m256d plus = _mm256_set1_pd(__builtin_inf()), minus = _mm256_set1_pd(-__builtin_inf());
        if (variant == 2) {
            values[half] = _mm256_blendv_pd(minus, plus, nan);
        } else {
            values[half] = _mm256_blendv_pd(x, variant == 0 ? plus : minus, nan);
        }
    }
    *low = values[0];
    *high = values[1];
    const __m256d both = _mm256_max_pd(values[0], values[1]);
    const __m128d pair = _mm_max_pd(_mm256_castpd256_pd128(both), _mm256_extractf128_pd(both, 1));
    return _mm_cvtsd_f64(_mm_max_sd(pair, _mm_unpackhi_pd(pair, pair)));
}

// Adds each lane's exit leaf of every tree to its score, tree by tree: a tree's exit leaf is the lowest bit left in
// its mask (`masks`: 8 words a tree, `stride` words from one tree's to the next's, 64-bit when `wide`, else 32-bit;
// `leaf_values`: 64 or 32 slots a tree).
__attribute__((always_inline))
static inline void add_exit_leaves(const void *masks, int wide, long stride, long tree_count,
                                   const double *leaf_values, int float32_sum, double scores[8]) {
    const uint64_t *wide_masks = masks;
    const uint32_t *narrow_masks = masks;
    const long slots = wide ? 64 : 32;
    if (tree_count == 0) return;
    if (float32_sum) {
        float sums[8];
        for (int lane = 0; lane < 8; lane++) sums[lane] = (float)scores[lane];
        for (long t = 0; t < tree_count; t++) {
            const double *leaves = leaf_values + slots * t;
            for (int lane = 0; lane < 8; lane++) {
                const int exit = wide ? __builtin_ctzll(wide_masks[stride * t + lane])
                                      : __builtin_ctz(narrow_masks[stride * t + lane]);
                sums[lane] += (float)leaves[exit];
            }
        }
        for (int lane = 0; lane < 8; lane++) scores[lane] = (double)sums[lane];
    } else {
        double sums[8];
        for (int lane = 0; lane < 8; lane++) sums[lane] = scores[lane];
        for (long t = 0; t < tree_count; t++) {
            const double *leaves = leaf_values + slots * t;
            for (int lane = 0; lane < 8; lane++) {
                const int exit = wide ? __builtin_ctzll(wide_masks[stride * t + lane])
                                      : __builtin_ctz(narrow_masks[stride * t + lane]);
                sums[lane] += leaves[exit];
            }
        }
        for (int lane = 0; lane < 8; lane++) scores[lane] = sums[lane];
    }
}

// Both kernels for `groups` groups of eight rows and masks of 64-bit words (`wide`) or 32-bit ones, each a constant
// where this is inlined. Each entry is read once for all groups; the groups' masks of a tree lie side by side, one
// 64-byte (wide) or 32-byte (narrow) block per group.
__attribute__((target("avx2"), always_inline))
static inline void sweep(const long groups, const int wide, const double *const rows[], long column_count,
                         const int32_t *columns, const long *column_starts, const void *entries, long tree_count,
                         const double *leaf_values, int float32_sum, void *masks, double scores[]) {
    // Compares give a 64-bit lane per row, four rows a register. Wide masks take them as they are, rows 0-3 and 4-7.
    // Narrow ones take the low halves of two registers' lanes (0, 1 of the first, 0, 1 of the second, then 2, 3 and
    // 2, 3), which packs them in row order when the first holds rows 0, 1, 4, 5 and the second rows 2, 3, 6, 7.
    static const int wide_order[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const int narrow_order[8] = {0, 1, 4, 5, 2, 3, 6, 7};
    const int *order = wide ? wide_order : narrow_order;
    // 32-byte registers per group and tree.
    const long registers = wide ? 2 : 1;
    __m256i *all_masks = masks;
    for (long k = 0; k < registers * groups * tree_count; k++) _mm256_store_si256(all_masks + k, _mm256_set1_epi32(-1));
    for (long c = 0; c < column_count; c++) {
        const long column = columns[c], start = column_starts[column], end = column_starts[column + 1];
        __m256d low[8], high[8];
        double largest = -__builtin_inf();
        for (long g = 0; g < groups; g++) {
            const double group_largest = column_values(rows + 8 * g, column, order, &low[g], &high[g]);
            largest = group_largest > largest ? group_largest : largest;
        }
        for (long i = start; i < end; i++) {
            double threshold;
            long tree;
            __m256i ruled_out;
            if (wide) {
                const rk_quickscore_wide_entry entry = ((const rk_quickscore_wide_entry *)entries)[i];
                threshold = entry.threshold;
                tree = entry.tree;
                ruled_out = _mm256_set1_epi64x((long long)entry.ruled_out);
            } else {
                const rk_quickscore_entry entry = ((const rk_quickscore_entry *)entries)[i];
                threshold = entry.threshold;
                tree = entry.tree;
                ruled_out = _mm256_set1_epi32((int)entry.ruled_out);
            }
            // Sorted: once no lane's value is above the threshold, none is above the ones after it.
            if (!(threshold < largest)) break;
            const __m256d t = _mm256_set1_pd(threshold);
            __m256i *tree_masks = all_masks + registers * groups * tree;
            for (long g = 0; g < groups; g++) {
                const __m256d right_low = _mm256_cmp_pd(t, low[g], _CMP_LT_OQ);
                const __m256d right_high = _mm256_cmp_pd(t, high[g], _CMP_LT_OQ);
                if (wide) {
                    __m256i *group_masks = tree_masks + 2 * g;
                    const __m256i cleared_low = _mm256_and_si256(_mm256_castpd_si256(right_low), ruled_out);
                    const __m256i cleared_high = _mm256_and_si256(_mm256_castpd_si256(right_high), ruled_out);
                    _mm256_store_si256(group_masks, _mm256_andnot_si256(cleared_low, _mm256_load_si256(group_masks)));
                    _mm256_store_si256(group_masks + 1,
                                       _mm256_andnot_si256(cleared_high, _mm256_load_si256(group_masks + 1)));
                } else {
                    const __m256 right = _mm256_shuffle_ps(_mm256_castpd_ps(right_low), _mm256_castpd_ps(right_high),
                                                           _MM_SHUFFLE(2, 0, 2, 0));
                    const __m256i cleared = _mm256_and_si256(_mm256_castps_si256(right), ruled_out);
                    _mm256_store_si256(tree_masks + g, _mm256_andnot_si256(cleared, _mm256_load_si256(tree_masks + g)));
                }
            }
        }
    }
    for (long g = 0; g < groups; g++) {
        add_exit_leaves(all_masks + registers * g, wide, 8 * groups, tree_count, leaf_values, float32_sum,
                        scores + 8 * g);
    }
}

#define RK_SWEEP_CASE(G, WIDE)                                                                                        \
    case G:                                                                                                           \
        sweep(G, WIDE, rows, column_count, columns, column_starts, entries, tree_count, leaf_values, float32_sum,     \
              masks, scores);                                                                                         \
        break;

__attribute__((target("avx2")))
void rk_quickscore_narrow(const double *const rows[], long group_count, long column_count, const int32_t *columns,
                          const long *column_starts, const rk_quickscore_entry *entries, long tree_count,
                          const double *leaf_values, int float32_sum, uint32_t *masks, double scores[]) {
    switch (group_count) {
        RK_SWEEP_CASE(1, 0) RK_SWEEP_CASE(2, 0) RK_SWEEP_CASE(3, 0) RK_SWEEP_CASE(4, 0)
        RK_SWEEP_CASE(5, 0) RK_SWEEP_CASE(6, 0) RK_SWEEP_CASE(7, 0) RK_SWEEP_CASE(8, 0)
    default:
        break;
    }
}

__attribute__((target("avx2")))
void rk_quickscore_wide(const double *const rows[], long group_count, long column_count, const int32_t *columns,
                        const long *column_starts, const rk_quickscore_wide_entry *entries, long tree_count,
                        const double *leaf_values, int float32_sum, uint64_t *masks, double scores[]) {
    switch (group_count) {
        RK_SWEEP_CASE(1, 1) RK_SWEEP_CASE(2, 1) RK_SWEEP_CASE(3, 1) RK_SWEEP_CASE(4, 1)
        RK_SWEEP_CASE(5, 1) RK_SWEEP_CASE(6, 1) RK_SWEEP_CASE(7, 1) RK_SWEEP_CASE(8, 1)
    default:
        break;
    }
}

#else

int rk_quickscore_available(void) { return 0; }

void rk_quickscore_narrow(const double *const rows[], long group_count, long column_count, const int32_t *columns,
                          const long *column_starts, const rk_quickscore_entry *entries, long tree_count,
                          const double *leaf_values, int float32_sum, uint32_t *masks, double scores[]) {
    (void)rows; (void)group_count; (void)column_count; (void)columns; (void)column_starts; (void)entries;
    (void)tree_count; (void)leaf_values; (void)float32_sum; (void)masks; (void)scores;
}

void rk_quickscore_wide(const double *const rows[], long group_count, long column_count, const int32_t *columns,
                        const long *column_starts, const rk_quickscore_wide_entry *entries, long tree_count,
                        const double *leaf_values, int float32_sum, uint64_t *masks, double scores[]) {
    (void)rows; (void)group_count; (void)column_count; (void)columns; (void)column_starts; (void)entries;
    (void)tree_count; (void)leaf_values; (void)float32_sum; (void)masks; (void)scores;
}

#endif
