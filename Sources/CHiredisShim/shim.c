#include "CHiredisShim.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

// The reply limits are enforced in two places, both before the memory is spent:
// - hiredis builds reply objects through a table of functions. Each connection gets a copy of the library's table
//   whose string, array and nil entries check the limits and then call the library's own entries, so a declared
//   array length is refused before hiredis allocates its element pointers.
// - hiredis only builds a bulk string once all of its bytes are buffered. Before each read, the bytes buffered for
//   the item being parsed are checked: its declared length (hiredis 0.x keeps the parse stack where it can be read)
//   and, for any version and for unterminated status or error lines, the count of bytes waiting.
// Debian 12's hiredis is 0.14, which has neither `maxelements` (1.0) nor a bulk length limit in its reader.

struct rkredis_conn {
    redisContext *context;
    /// The library's reply functions, which build redisReply objects; the hooks call these.
    redisReplyObjectFunctions *library_functions;
    /// The table installed in the reader: the library's, with the hooks in place.
    redisReplyObjectFunctions hooks;
    rkredis_limits limits;
    /// Elements and string bytes of the reply being parsed, reset when it is handed out.
    size_t reply_elements;
    size_t reply_bytes;
    int failure;
    /// Set when a limit or the shim itself failed the connection; otherwise the message is hiredis's.
    char message[192];
};

// The room a bulk header takes around its payload: '$', up to 20 digits and a sign, two CRLFs.
#define RKREDIS_BULK_FRAMING 32

static void *refuse(rkredis_conn *conn, const char *format, size_t value, size_t limit) {
    if (conn->failure == RKREDIS_FAILURE_NONE) {
        conn->failure = RKREDIS_FAILURE_LIMIT;
        snprintf(conn->message, sizeof(conn->message), format, value, limit);
    }
    // hiredis takes NULL as out of memory: it frees the partial reply and fails the reader for good.
    return NULL;
}

static void *hook_create_string(const redisReadTask *task, char *str, size_t len) {
    rkredis_conn *conn = task->privdata;
    if (len > conn->limits.max_bulk_length) {
        return refuse(conn, "a reply string of %zu bytes is over the limit of %zu bytes", len,
                      conn->limits.max_bulk_length);
    }
    if (len > conn->limits.max_reply_bytes - conn->reply_bytes) {
        return refuse(conn, "a reply of at least %zu string bytes is over the limit of %zu bytes",
                      conn->reply_bytes + len, conn->limits.max_reply_bytes);
    }
    conn->reply_bytes += len;
    return conn->library_functions->createString(task, str, len);
}

#if HIREDIS_MAJOR >= 1
static void *hook_create_array(const redisReadTask *task, size_t elements) {
#else
static void *hook_create_array(const redisReadTask *task, int elements) {
#endif
    rkredis_conn *conn = task->privdata;
    size_t count = (size_t)elements;
    if (count > conn->limits.max_reply_elements - conn->reply_elements) {
        return refuse(conn, "a reply of at least %zu array elements is over the limit of %zu elements",
                      conn->reply_elements + count, conn->limits.max_reply_elements);
    }
    conn->reply_elements += count;
    return conn->library_functions->createArray(task, elements);
}

static void *hook_create_nil(const redisReadTask *task) {
    rkredis_conn *conn = task->privdata;
    redisReply *reply = conn->library_functions->createNil(task);
    // hiredis makes the same REDIS_REPLY_NIL for $-1 and *-1; the task still knows which header it read, and
    // `integer` is unused in a nil reply, so it keeps that for rkredis_reply_type.
    if (reply != NULL && task->type == REDIS_REPLY_ARRAY) {
        reply->integer = 1;
    }
    return reply;
}

static void fail_with_message(rkredis_conn *conn, int failure, const char *message) {
    if (conn->failure == RKREDIS_FAILURE_NONE) {
        conn->failure = failure;
        snprintf(conn->message, sizeof(conn->message), "%s", message);
    }
}

/// Classifies the hiredis error now set on the context. saved_errno is errno as it was right after the failing
/// call; hiredis reports socket errors as REDIS_ERR_IO and leaves the cause in errno.
static void note_context_failure(rkredis_conn *conn, int saved_errno) {
    if (conn->failure != RKREDIS_FAILURE_NONE) {
        return;  // a hook refused the reply; its message says more than hiredis's "Out of memory"
    }
    redisContext *context = conn->context;
    switch (context->err) {
    case REDIS_ERR_IO:
        switch (saved_errno) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
        case ETIMEDOUT:
        case EINPROGRESS:
            conn->failure = RKREDIS_FAILURE_TIMEOUT;
            // hiredis's text for a blocked read is "Resource temporarily unavailable", which misleads.
            snprintf(conn->message, sizeof(conn->message), "timed out");
            return;
        case ECONNREFUSED:
        case ENETUNREACH:
        case EHOSTUNREACH:
        case EADDRNOTAVAIL:
            conn->failure = RKREDIS_FAILURE_UNREACHABLE;
            return;
        default:
            conn->failure = RKREDIS_FAILURE_CONNECTION;
            return;
        }
    case REDIS_ERR_EOF:
        conn->failure = RKREDIS_FAILURE_CONNECTION;
        return;
    case REDIS_ERR_PROTOCOL:
        conn->failure = RKREDIS_FAILURE_PROTOCOL;
        return;
    default:
        conn->failure = RKREDIS_FAILURE_OTHER;
        return;
    }
}

rkredis_conn *rkredis_connect(const char *host, int port, int64_t timeout_us, rkredis_limits limits) {
    rkredis_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        return NULL;
    }
    conn->limits = limits;
    if (timeout_us < 1000) {
        timeout_us = 1000;  // hiredis waits in whole milliseconds; 0 would mean no wait at all
    }
    struct timeval timeout = {.tv_sec = timeout_us / 1000000, .tv_usec = timeout_us % 1000000};
    errno = 0;
    conn->context = redisConnectWithTimeout(host, port, timeout);
    int saved_errno = errno;
    if (conn->context == NULL) {
        fail_with_message(conn, RKREDIS_FAILURE_OTHER, "out of memory");
        return conn;
    }
    if (conn->context->err) {
        note_context_failure(conn, saved_errno);
        return conn;
    }
    // hiredis opens its socket without close-on-exec; a process the service starts must not inherit it.
    int flags = fcntl(conn->context->fd, F_GETFD);
    if (flags != -1) {
        fcntl(conn->context->fd, F_SETFD, flags | FD_CLOEXEC);
    }
    redisReader *reader = conn->context->reader;
    conn->library_functions = reader->fn;
    conn->hooks = *reader->fn;
    conn->hooks.createString = hook_create_string;
    conn->hooks.createArray = hook_create_array;
    conn->hooks.createNil = hook_create_nil;
    reader->fn = &conn->hooks;
    reader->privdata = conn;
    return conn;
}

void rkredis_free(rkredis_conn *conn) {
    if (conn == NULL) {
        return;
    }
    if (conn->context != NULL) {
        // The reader may still hold a partial reply built by the library's functions; they free it.
        redisFree(conn->context);
    }
    free(conn);
}

int rkredis_failure(const rkredis_conn *conn) { return conn->failure; }

const char *rkredis_error_text(const rkredis_conn *conn) {
    if (conn->message[0] != '\0') {
        return conn->message;
    }
    if (conn->context != NULL && conn->context->err) {
        return conn->context->errstr;
    }
    return "";
}

int rkredis_set_timeout(rkredis_conn *conn, int64_t timeout_us) {
    if (conn->failure != RKREDIS_FAILURE_NONE) {
        return -1;
    }
    if (timeout_us < 1) {
        timeout_us = 1;
    }
    struct timeval timeout = {.tv_sec = timeout_us / 1000000, .tv_usec = timeout_us % 1000000};
    if (redisSetTimeout(conn->context, timeout) != REDIS_OK) {
        note_context_failure(conn, errno);
        return -1;
    }
    return 0;
}

int rkredis_append_argv(rkredis_conn *conn, int argc, const char *const *argv, const size_t *argvlen) {
    if (conn->failure != RKREDIS_FAILURE_NONE) {
        return -1;
    }
    if (redisAppendCommandArgv(conn->context, argc, (const char **)argv, argvlen) != REDIS_OK) {
        fail_with_message(conn, RKREDIS_FAILURE_OTHER, "out of memory while appending a command");
        return -1;
    }
    return 0;
}

int rkredis_flush(rkredis_conn *conn) {
    if (conn->failure != RKREDIS_FAILURE_NONE) {
        return -1;
    }
    // hiredis writes with write(2), which raises SIGPIPE when the server has gone; by default that ends the process.
    // Blocking it on this thread for the write turns it into EPIPE without touching the process's signal handling.
    sigset_t sigpipe_only, previous, pending;
    sigemptyset(&sigpipe_only);
    sigaddset(&sigpipe_only, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &sigpipe_only, &previous);

    int done = 0;
    int result = redisBufferWrite(conn->context, &done);
    int saved_errno = errno;

    if (result != REDIS_OK && saved_errno == EPIPE && !was_pending) {
        // Consume the SIGPIPE this write raised, so it is not delivered when the mask is restored.
        struct timespec no_wait = {0, 0};
        while (sigtimedwait(&sigpipe_only, NULL, &no_wait) == -1 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);

    if (result != REDIS_OK) {
        note_context_failure(conn, saved_errno);
        return -1;
    }
    return done ? 1 : 0;
}

/// Checks the item hiredis is waiting on. Called when the buffer holds no complete reply, so every byte after the
/// reader's cursor belongs to that one item.
static int pending_item_over_limit(rkredis_conn *conn) {
    redisReader *reader = conn->context->reader;
    if (reader->buf == NULL || reader->len <= reader->pos) {
        return 0;
    }
    const char *cursor = reader->buf + reader->pos;
    size_t waiting = reader->len - reader->pos;
    size_t max_bulk = conn->limits.max_bulk_length;
#if HIREDIS_MAJOR == 0
    // After a '$' hiredis has consumed the type byte and left the cursor on the declared length.
    if (reader->ridx >= 0 && reader->rstack[reader->ridx].type == REDIS_REPLY_STRING && cursor[0] != '-') {
        size_t declared = 0;
        for (size_t i = 0; i < waiting && cursor[i] >= '0' && cursor[i] <= '9'; i++) {
            declared = declared * 10 + (size_t)(cursor[i] - '0');
            if (declared > max_bulk || declared > SIZE_MAX / 10) {
                refuse(conn, "a reply string of at least %zu bytes is over the limit of %zu bytes", declared,
                       max_bulk);
                return 1;
            }
        }
    }
#endif
    if (waiting > max_bulk + RKREDIS_BULK_FRAMING) {
        refuse(conn, "a reply item of at least %zu bytes is over the limit of %zu bytes", waiting, max_bulk);
        return 1;
    }
    return 0;
}

int rkredis_take_reply(rkredis_conn *conn, rkredis_reply **reply) {
    *reply = NULL;
    if (conn->failure != RKREDIS_FAILURE_NONE) {
        return -1;
    }
    void *parsed = NULL;
    if (redisGetReplyFromReader(conn->context, &parsed) != REDIS_OK) {
        note_context_failure(conn, 0);
        return -1;
    }
    if (parsed == NULL) {
        return pending_item_over_limit(conn) ? -1 : 0;
    }
    conn->reply_elements = 0;
    conn->reply_bytes = 0;
    *reply = parsed;
    return 1;
}

int rkredis_read(rkredis_conn *conn) {
    if (conn->failure != RKREDIS_FAILURE_NONE) {
        return -1;
    }
    if (redisBufferRead(conn->context) != REDIS_OK) {
        note_context_failure(conn, errno);
        return -1;
    }
    return 0;
}

int rkredis_is_reusable(rkredis_conn *conn) {
    if (conn->failure != RKREDIS_FAILURE_NONE || conn->context->err) {
        return 0;
    }
    redisReader *reader = conn->context->reader;
    if (reader->buf != NULL && reader->len > reader->pos) {
        return 0;
    }
    struct pollfd probe = {.fd = conn->context->fd, .events = POLLIN};
    int ready;
    do {
        ready = poll(&probe, 1, 0);
    } while (ready == -1 && errno == EINTR);
    // Readable while no command is outstanding means end of file, a reset, or bytes out of step with the commands.
    return ready == 0;
}

int rkredis_reply_type(const rkredis_reply *reply) {
    const redisReply *r = (const redisReply *)reply;
    switch (r->type) {
    case REDIS_REPLY_STATUS:
        return RKREDIS_REPLY_STATUS;
    case REDIS_REPLY_ERROR:
        return RKREDIS_REPLY_ERROR;
    case REDIS_REPLY_INTEGER:
        return RKREDIS_REPLY_INTEGER;
    case REDIS_REPLY_STRING:
        return RKREDIS_REPLY_BULK;
    case REDIS_REPLY_ARRAY:
        return RKREDIS_REPLY_ARRAY;
    default:
        // REDIS_REPLY_NIL; hook_create_nil marked the ones read from *-1.
        return r->integer == 1 ? RKREDIS_REPLY_NIL_ARRAY : RKREDIS_REPLY_NIL;
    }
}

long long rkredis_reply_integer(const rkredis_reply *reply) {
    const redisReply *r = (const redisReply *)reply;
    return r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
}

const uint8_t *rkredis_reply_string(const rkredis_reply *reply, size_t *length) {
    const redisReply *r = (const redisReply *)reply;
    switch (r->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_STRING:
        *length = r->len;
        return (const uint8_t *)r->str;
    default:
        *length = 0;
        return NULL;
    }
}

size_t rkredis_reply_element_count(const rkredis_reply *reply) {
    const redisReply *r = (const redisReply *)reply;
    return r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

const rkredis_reply *rkredis_reply_element(const rkredis_reply *reply, size_t index) {
    const redisReply *r = (const redisReply *)reply;
    if (r->type != REDIS_REPLY_ARRAY || index >= r->elements) {
        return NULL;
    }
    return (const rkredis_reply *)r->element[index];
}

void rkredis_reply_free(rkredis_reply *reply) { freeReplyObject(reply); }
