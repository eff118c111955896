#ifndef CPREFETCH_H
#define CPREFETCH_H

// A hint that memory will soon be read, for loops over candidates whose rows sit at random places in large
// catalog columns: asking for the next rows' cache lines while this one is computed hides most of the misses.
// Swift has no prefetch of its own; this inlines to one instruction.

/// Starts loading the cache line holding `address` into all cache levels. Never faults, whatever the address.
static inline __attribute__((always_inline)) void prefetch_read(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
