#ifndef CZLIBSHIM_H
#define CZLIBSHIM_H

// zlib for gRPC's gzip message encoding. deflateInit2/inflateInit2 are macros, so they are forwarded here.

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

/// Initialises a deflate stream that writes the gzip wrapper (RFC 1952). Returns Z_OK or a zlib error.
static inline int czlib_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

/// Initialises an inflate stream that accepts the gzip wrapper. Returns Z_OK or a zlib error.
static inline int czlib_inflate_init_gzip(z_stream *stream) { return inflateInit2(stream, 15 + 16); }

#endif
