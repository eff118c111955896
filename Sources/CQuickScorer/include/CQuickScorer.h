#ifndef CQUICKSCORER_H
#define CQUICKSCORER_H

#include <stdint.h>

// Tree ensemble scoring by bit masks (QuickScorer, Lucchese et al., SIGIR 2015), eight rows at a time with AVX2.
//
// Every split of the ensemble is an entry of a list kept per "column": a feature and how the split treats NaN.
// A row sends a split right iff the entry's threshold is below the row's value in that column (NaN replaced by
// +infinity or -infinity, per column), and the lists are sorted by threshold, so the splits a row sends right are a
// prefix of each list. Sending a split right rules out the leaves of its left subtree: each entry carries the
// complement of that subtree's leaf bits, leaves numbered left to right. Once every column is swept, a tree's exit
// leaf is the lowest bit still set in its mask.

#ifdef __cplusplus
extern "C" {
#endif

/// Whether this CPU runs `rk_quickscore8` (AVX2).
int rk_quickscore_available(void);

/// Adds each of eight rows' leaves to its score, tree by tree in order: `scores[lane] + leaf(tree 0) + ...`, as a
/// double sum, or as a float32 sum when `float32_sum` is not 0.
///
/// - `rows[lane]`: row `lane`'s values, by feature. Lanes may repeat a row.
/// - Column `c` reads feature `c / 3`, as is except for NaN, which it reads as +infinity when `c % 3` is 0 and as
///   -infinity when it is 1; when `c % 3` is 2 it reads +infinity for NaN and -infinity for anything else. Its
///   entries are `column_starts[c]..<column_starts[c + 1]`, sorted by threshold. The kernel sweeps the columns
///   `columns[0..<column_count]`: those with entries.
/// - Entry `i`: `thresholds[i]`, its tree `trees[i]` (0-based in this ensemble), and `inverse_masks[i]`, the bits
///   of the leaves it rules out.
/// - `leaf_values[64 * tree + k]`: leaf `k` (left to right) of `tree`, for `tree_count` trees.
/// - `masks`: scratch of 8 * `tree_count` words.
void rk_quickscore8(const double *const rows[8], long column_count, const int32_t *columns,
                    const long *column_starts, const double *thresholds, const int32_t *trees,
                    const uint64_t *inverse_masks, long tree_count, const double *leaf_values, int float32_sum,
                    uint64_t *masks, double scores[8]);

/// An entry of `rk_quickscore_narrow`'s lists: a split's threshold, its tree and the bits of the leaves it rules
/// out.
typedef struct {
    double threshold;
    int32_t tree;
    uint32_t ruled_out;
} rk_quickscore_entry;

/// `rk_quickscore8` for trees of at most 32 leaves, and for `group_count` (1 to 8) groups of eight rows at once, each
/// entry read once for all groups: `rows[8 * group + lane]`, `scores[8 * group + lane]`. A tree's eight masks are
/// 32-bit words, one 32-byte register, and the entries are `entries[i]` instead of three arrays.
/// `leaf_values[32 * tree + k]`: leaf `k` of `tree`. `masks`: scratch of 8 * `group_count` * `tree_count` words,
/// aligned to 32 bytes.
void rk_quickscore_narrow(const double *const rows[], long group_count, long column_count, const int32_t *columns,
                          const long *column_starts, const rk_quickscore_entry *entries, long tree_count,
                          const double *leaf_values, int float32_sum, uint32_t *masks, double scores[]);

#ifdef __cplusplus
}
#endif

#endif
