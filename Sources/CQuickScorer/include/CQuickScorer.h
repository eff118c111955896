#ifndef CQUICKSCORER_H
#define CQUICKSCORER_H

#include <stdint.h>

// Tree ensemble scoring by bit masks (QuickScorer, Lucchese et al., SIGIR 2015), eight rows at a time with AVX2, and
// up to eight such groups for each read of the tables.
//
// Every split of the ensemble is an entry of a list kept per "column": a feature and how the split treats NaN.
// A row sends a split right iff the entry's threshold is below the row's value in that column (NaN replaced by
// +infinity or -infinity, per column), and the lists are sorted by threshold, so the splits a row sends right are a
// prefix of each list. Sending a split right rules out the leaves of its left subtree: each entry carries that
// subtree's leaf bits, leaves numbered left to right, and clears them in its tree's mask. Once every column is swept,
// a tree's exit leaf is the lowest bit still set in its mask.

#ifdef __cplusplus
extern "C" {
#endif

/// Whether this CPU runs the kernels (AVX2).
int rk_quickscore_available(void);

/// An entry of `rk_quickscore_narrow`'s lists: a split's threshold, its tree and the bits of the leaves it rules
/// out (trees of at most 32 leaves).
typedef struct {
    double threshold;
    int32_t tree;
    uint32_t ruled_out;
} rk_quickscore_entry;

/// An entry of `rk_quickscore_wide`'s lists (trees of at most 64 leaves).
typedef struct {
    double threshold;
    uint64_t ruled_out;
    int32_t tree;
    int32_t unused;
} rk_quickscore_wide_entry;

/// Adds each row's leaves to its score, tree by tree in order: `scores[k] + leaf(tree 0) + ...`, as a double sum, or
/// as a float32 sum when `float32_sum` is not 0, for `group_count` (1 to 8) groups of eight rows.
///
/// - `rows[k]`: row `k`'s values, by feature, for `k < 8 * group_count`. Rows may repeat.
/// - Column `c` reads feature `c / 3`, as is except for NaN, which it reads as +infinity when `c % 3` is 0 and as
///   -infinity when it is 1; when `c % 3` is 2 it reads +infinity for NaN and -infinity for anything else. Its
///   entries are `entries[column_starts[c]..<column_starts[c + 1]]`, sorted by threshold. The kernel sweeps the
///   columns `columns[0..<column_count]`: those with entries.
/// - `tree_count` trees, numbered from 0 in the entries; `leaf_values[32 * tree + k]`: leaf `k` (left to right) of
///   `tree`.
/// - `masks`: scratch of 8 * `group_count` * `tree_count` words, aligned to 32 bytes.
void rk_quickscore_narrow(const double *const rows[], long group_count, long column_count, const int32_t *columns,
                          const long *column_starts, const rk_quickscore_entry *entries, long tree_count,
                          const double *leaf_values, int float32_sum, uint32_t *masks, double scores[]);

/// `rk_quickscore_narrow` for trees of at most 64 leaves: 64-bit masks, `leaf_values[64 * tree + k]`.
void rk_quickscore_wide(const double *const rows[], long group_count, long column_count, const int32_t *columns,
                        const long *column_starts, const rk_quickscore_wide_entry *entries, long tree_count,
                        const double *leaf_values, int float32_sum, uint64_t *masks, double scores[]);

#ifdef __cplusplus
}
#endif

#endif
