#ifndef CHIREDISSHIM_H
#define CHIREDISSHIM_H

// hiredis (Debian's libhiredis-dev) for RedisClient. Swift sees only these rkredis_ functions and two opaque
// types: hiredis's own structs stay inside shim.c, so Swift code never depends on their layout, and a change of
// hiredis version changes shim.c alone.
//
// Ownership: rkredis_connect returns a connection the caller frees exactly once with rkredis_free (also after a
// failed connect). rkredis_take_reply hands out a reply tree the caller frees exactly once with rkredis_reply_free;
// elements reached through rkredis_reply_element belong to their root and are never freed on their own.
// A connection is used by one thread at a time.

#include <stddef.h>
#include <stdint.h>

/// One blocking connection to a Redis server: the hiredis context plus the reply limits it enforces.
typedef struct rkredis_conn rkredis_conn;
/// One reply, or an element inside one.
typedef struct rkredis_reply rkredis_reply;

/// Bounds on one reply, checked while it is parsed, before the memory for it is spent. A reply over a bound fails
/// the connection with RKREDIS_FAILURE_LIMIT. Every field must be at least 1.
typedef struct {
    /// Bytes of one bulk string (also of one status or error line).
    size_t max_bulk_length;
    /// Array elements in one reply, counting the elements of nested arrays too.
    size_t max_reply_elements;
    /// Bytes of all the strings in one reply together.
    size_t max_reply_bytes;
} rkredis_limits;

/// What a reply is (rkredis_reply_type).
enum {
    RKREDIS_REPLY_STATUS = 1,
    RKREDIS_REPLY_ERROR = 2,
    RKREDIS_REPLY_INTEGER = 3,
    RKREDIS_REPLY_BULK = 4,
    /// A null bulk string ($-1).
    RKREDIS_REPLY_NIL = 5,
    RKREDIS_REPLY_ARRAY = 6,
    /// A null array (*-1).
    RKREDIS_REPLY_NIL_ARRAY = 7,
};

/// Why a connection failed (rkredis_failure). Once set it stays: the connection is not usable any more.
enum {
    RKREDIS_FAILURE_NONE = 0,
    /// A socket timeout passed (connect, read or write).
    RKREDIS_FAILURE_TIMEOUT = 1,
    /// The connect was refused, or there is no route to the server.
    RKREDIS_FAILURE_UNREACHABLE = 2,
    /// The connection was reset or closed by the server, or another socket error.
    RKREDIS_FAILURE_CONNECTION = 3,
    /// The server sent bytes that are not RESP.
    RKREDIS_FAILURE_PROTOCOL = 4,
    /// A reply went over one of the rkredis_limits.
    RKREDIS_FAILURE_LIMIT = 5,
    /// Anything else: a host name that does not resolve, out of memory.
    RKREDIS_FAILURE_OTHER = 6,
};

/// Connects to host:port (a name is resolved with getaddrinfo, which the timeout does not bound), waiting at most
/// timeout_us for the TCP connect. The socket is made close-on-exec. Returns NULL only when memory runs out;
/// otherwise check rkredis_failure.
rkredis_conn *rkredis_connect(const char *host, int port, int64_t timeout_us, rkredis_limits limits);

/// Closes the socket and frees the connection and any partly read reply. NULL is allowed.
void rkredis_free(rkredis_conn *conn);

/// The RKREDIS_FAILURE_ kind, RKREDIS_FAILURE_NONE while the connection is healthy.
int rkredis_failure(const rkredis_conn *conn);

/// A person-readable description of the failure (hiredis's, or the limit that was hit); "" when there is none.
/// Valid until the next call on the connection.
const char *rkredis_error_text(const rkredis_conn *conn);

/// Sets the socket's send and receive timeouts for the blocking calls that follow; timeout_us is raised to at
/// least 1 (0 would mean "wait forever" to the kernel). Returns 0, or -1 with the connection failed.
int rkredis_set_timeout(rkredis_conn *conn, int64_t timeout_us);

/// Appends one command to the output buffer; nothing is sent yet. Binary-safe: argument i is argvlen[i] bytes at
/// argv[i], zero bytes included. Returns 0, or -1 with the connection failed.
int rkredis_append_argv(rkredis_conn *conn, int argc, const char *const *argv, const size_t *argvlen);

/// Writes what it can of the output buffer with one write, waiting at most the socket timeout. SIGPIPE from a
/// closed peer is kept from the process (blocked on this thread for the write and consumed if raised). Returns 1
/// when everything is written, 0 when some is left, -1 with the connection failed.
int rkredis_flush(rkredis_conn *conn);

/// Hands out the next reply if the bytes already read hold all of it. Returns 1 with *reply set (the caller frees
/// it), 0 when more bytes are needed, -1 with the connection failed (a protocol error or a limit).
int rkredis_take_reply(rkredis_conn *conn, rkredis_reply **reply);

/// Reads once from the socket (at most 16 KiB), waiting at most the socket timeout. Returns 0 (possibly having read
/// nothing, after a signal), or -1 with the connection failed.
int rkredis_read(rkredis_conn *conn);

/// 1 when the connection can be handed to the next command: not failed, no unread reply bytes, and the socket has
/// nothing to read (no close or reset from the server while it was idle). Does not block.
int rkredis_is_reusable(rkredis_conn *conn);

/// The RKREDIS_REPLY_ kind.
int rkredis_reply_type(const rkredis_reply *reply);
/// The value of an integer reply, 0 for the others.
long long rkredis_reply_integer(const rkredis_reply *reply);
/// The bytes of a bulk string, status or error reply and their count in *length; NULL with 0 for the others.
const uint8_t *rkredis_reply_string(const rkredis_reply *reply, size_t *length);
/// The number of elements of an array reply, 0 for the others.
size_t rkredis_reply_element_count(const rkredis_reply *reply);
/// Element index (below rkredis_reply_element_count) of an array reply; owned by the root reply.
const rkredis_reply *rkredis_reply_element(const rkredis_reply *reply, size_t index);
/// Frees a reply handed out by rkredis_take_reply with everything in it. NULL is allowed.
void rkredis_reply_free(rkredis_reply *reply);

#endif
