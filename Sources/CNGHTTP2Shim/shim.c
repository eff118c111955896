#include "CNGHTTP2Shim.h"

nghttp2_option *cnghttp2_make_options(uint32_t max_reserved_streams, int no_http_messaging, int no_auto_window_update) {
    nghttp2_option *option = NULL;
    if (nghttp2_option_new(&option) != 0) {
        return NULL;
    }
    nghttp2_option_set_max_reserved_remote_streams(option, max_reserved_streams);
    nghttp2_option_set_no_http_messaging(option, no_http_messaging);
    nghttp2_option_set_no_auto_window_update(option, no_auto_window_update);
    // gRPC clients send many small frames; keep nghttp2's flood protection but do not let it reject
    // a busy client's legitimate SETTINGS or PING traffic.
    nghttp2_option_set_max_outbound_ack(option, 10000);
    return option;
}
