#ifndef CNGHTTP2SHIM_H
#define CNGHTTP2SHIM_H

// nghttp2 for Swift. The library's own API is already prefixed (nghttp2_*) and imported as is; what Swift
// cannot express directly (string macros, the variadic-free setup of option objects) is forwarded here
// under the cnghttp2_ prefix.

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

/// The ALPN/h2c protocol id, as a C string ("h2").
static inline const char *cnghttp2_proto_version_id(void) { return NGHTTP2_PROTO_VERSION_ID; }

/// Builds a header name/value pair pointing at caller-owned bytes; nghttp2 copies them unless told not to.
static inline nghttp2_nv cnghttp2_nv(const uint8_t *name, size_t name_len, const uint8_t *value, size_t value_len,
                                     uint8_t flags) {
    nghttp2_nv nv;
    nv.name = (uint8_t *)name;
    nv.namelen = name_len;
    nv.value = (uint8_t *)value;
    nv.valuelen = value_len;
    nv.flags = flags;
    return nv;
}

/// Creates an nghttp2 session option set with the limits a gRPC server needs. With `no_auto_window_update` set, the
/// application reopens flow-control windows itself with nghttp2_session_consume. The caller owns the result and frees
/// it with nghttp2_option_del.
nghttp2_option *cnghttp2_make_options(uint32_t max_reserved_streams, int no_http_messaging, int no_auto_window_update);

#endif
