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

__attribute__((target("avx2")))
void rk_quickscore8(const double *const rows[8], long column_count, const int32_t *columns,
                    const long *column_starts, const double *thresholds, const int32_t *trees,
                    const uint64_t *inverse_masks, long tree_count, const double *leaf_values, int float32_sum,
                    uint64_t *masks, double scores[8]) {
    static const int order[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const __m256i ones = _mm256_set1_epi64x(-1);
    for (long t = 0; t < 2 * tree_count; t++) _mm256_storeu_si256((__m256i *)(masks + 4 * t), ones);
    for (long c = 0; c < column_count; c++) {
        const long column = columns[c], start = column_starts[column], end = column_starts[column + 1];
        __m256d low, high;
        const double largest = column_values(rows, column, order, &low, &high);
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
    add_exit_leaves(masks, 1, 8, tree_count, leaf_values, float32_sum, scores);
}

// `rk_quickscore_narrow` for `groups` groups of eight rows, a constant where it is inlined. Each entry is read once
// for all groups; the groups' masks of a tree lie side by side (`masks + 8 * (groups * tree + group)`).
__attribute__((target("avx2"), always_inline))
static inline void narrow_groups(const long groups, const double *const rows[], long column_count,
                                 const int32_t *columns, const long *column_starts, const rk_quickscore_entry *entries,
                                 long tree_count, const double *leaf_values, int float32_sum, uint32_t *masks,
                                 double scores[]) {
    // Compares give a 64-bit lane per row, four rows a register; picking the low halves of two registers' lanes
    // (0, 1 of the first, 0, 1 of the second, then 2, 3 and 2, 3) packs them in row order when the first holds rows
    // 0, 1, 4, 5 and the second rows 2, 3, 6, 7.
    static const int order[8] = {0, 1, 4, 5, 2, 3, 6, 7};
    const __m256i ones = _mm256_set1_epi32(-1);
    for (long t = 0; t < groups * tree_count; t++) _mm256_store_si256((__m256i *)(masks + 8 * t), ones);
    for (long c = 0; c < column_count; c++) {
        const long column = columns[c], start = column_starts[column], end = column_starts[column + 1];
        __m256d low[8], high[8];
        double largest = -__builtin_inf();
        for (long g = 0; g < groups; g++) {
            const double group_largest = column_values(rows + 8 * g, column, order, &low[g], &high[g]);
            largest = group_largest > largest ? group_largest : largest;
        }
        for (long i = start; i < end; i++) {
            const rk_quickscore_entry entry = entries[i];
            // Sorted: once no lane's value is above the threshold, none is above the ones after it.
            if (!(entry.threshold < largest)) break;
            const __m256d t = _mm256_set1_pd(entry.threshold);
            const __m256i ruled_out = _mm256_set1_epi32((int)entry.ruled_out);
            __m256i *tree_masks = (__m256i *)(masks + 8 * groups * (long)entry.tree);
            for (long g = 0; g < groups; g++) {
                const __m256 right = _mm256_shuffle_ps(_mm256_castpd_ps(_mm256_cmp_pd(t, low[g], _CMP_LT_OQ)),
                                                       _mm256_castpd_ps(_mm256_cmp_pd(t, high[g], _CMP_LT_OQ)),
                                                       _MM_SHUFFLE(2, 0, 2, 0));
                const __m256i cleared = _mm256_and_si256(_mm256_castps_si256(right), ruled_out);
                _mm256_store_si256(tree_masks + g, _mm256_andnot_si256(cleared, _mm256_load_si256(tree_masks + g)));
            }
        }
    }
    for (long g = 0; g < groups; g++) {
        add_exit_leaves(masks + 8 * g, 0, 8 * groups, tree_count, leaf_values, float32_sum, scores + 8 * g);
    }
}

__attribute__((target("avx2")))
void rk_quickscore_narrow(const double *const rows[], long group_count, long column_count, const int32_t *columns,
                          const long *column_starts, const rk_quickscore_entry *entries, long tree_count,
                          const double *leaf_values, int float32_sum, uint32_t *masks, double scores[]) {
    switch (group_count) {
    case 1:
        narrow_groups(1, rows, column_count, columns, column_starts, entries, tree_count, leaf_values, float32_sum,
                      masks, scores);
        break;
    case 2:
        narrow_groups(2, rows, column_count, columns, column_starts, entries, tree_count, leaf_values, float32_sum,
                      masks, scores);
        break;
    case 3:
        narrow_groups(3, rows, column_count, columns, column_starts, entries, tree_count, leaf_values, float32_sum,
                      masks, scores);
        break;
    case 4:
        narrow_groups(4, rows, column_count, columns, column_starts, entries, tree_count, leaf_values, float32_sum,
                      masks, scores);
        break;
    case 5:
        narrow_groups(5, rows, column_count, columns, column_starts, entries, tree_count, leaf_values, float32_sum,
                      masks, scores);
        break;
    case 6:
        narrow_groups(6, rows, column_count, columns, column_starts, entries, tree_count, leaf_values, float32_sum,
                      masks, scores);
        break;
    case 7:
        narrow_groups(7, rows, column_count, columns, column_starts, entries, tree_count, leaf_values, float32_sum,
                      masks, scores);
        break;
    case 8:
        narrow_groups(8, rows, column_count, columns, column_starts, entries, tree_count, leaf_values, float32_sum,
                      masks, scores);
        break;
    default:
        break;
    }
}

#else

int rk_quickscore_available(void) { return 0; }

void rk_quickscore8(const double *const rows[8], long column_count, const int32_t *columns,
                    const long *column_starts, const double *thresholds, const int32_t *trees,
                    const uint64_t *inverse_masks, long tree_count, const double *leaf_values, int float32_sum,
                    uint64_t *masks, double scores[8]) {
    (void)rows; (void)column_count; (void)columns; (void)column_starts; (void)thresholds; (void)trees;
    (void)inverse_masks; (void)tree_count; (void)leaf_values; (void)float32_sum; (void)masks; (void)scores;
}

void rk_quickscore_narrow(const double *const rows[], long group_count, long column_count, const int32_t *columns,
                          const long *column_starts, const rk_quickscore_entry *entries, long tree_count,
                          const double *leaf_values, int float32_sum, uint32_t *masks, double scores[]) {
    (void)rows; (void)group_count; (void)column_count; (void)columns; (void)column_starts; (void)entries;
    (void)tree_count; (void)leaf_values; (void)float32_sum; (void)masks; (void)scores;
}

#endif
