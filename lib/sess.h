/* sess.h: the public interface of libsess, grouped by file. */
#ifndef SESS_H
#define SESS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * err.c: errors.  Library functions never print and never exit: they
 * return 0 (or a count) on success and a negative SESS_E* code on
 * failure, with a message filled into a caller-supplied struct sess_err.
 */
enum {
	SESS_EINVAL = -2,    /* malformed input: JSON, name, offset, size */
	SESS_ENOENT = -3,    /* no such stream or store */
	SESS_ESTALE = -4,    /* producer epoch older than the current one */
	SESS_EGAP = -5,      /* producer sequence gap */
	SESS_ECONFLICT = -6, /* stream closed, content type mismatch */
	SESS_ENOTSTORE = -7, /* file is not a sess store, or is newer */
	SESS_EBUSY = -8,     /* store locked past the busy timeout */
	SESS_EIO = -9,       /* I/O error, disk full, read-only store */
	SESS_ENOMEM = -10,
	SESS_EPIPE = -11,    /* a wait's output lost its reader: a quiet end */
	SESS_EOWN = -12,     /* a writer's event of a type the store owns */
};

struct sess_err {
	int code;
	int failure;         /* SESS_WRITE_* of a store error, else 0 */
	char msg[512];
};

/* Fills e (if not NULL), with no failure, and returns code. */
int sess_err_set(struct sess_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The shared exit status for an error code: 1, 2 or 111. */
int sess_err_exit(int code);

/*
 * status.c: the one table of library errors, HTTP statuses and the JSON
 * error codes sessd answers with.  sessd reads it forward (error to
 * answer), lib/remote.c backward (answer to error).
 */
enum {
	SESS_WHY_NONE,
	SESS_WHY_NAME,         /* a stream name that is not one */
	SESS_WHY_REQUEST,      /* a request sessd cannot take as sent */
	SESS_WHY_SUBSCRIPTION, /* a bad push subscription */
	SESS_WHY_WEBHOOK,      /* a webhook address sessd will not call */
	SESS_WHY_AUTH,         /* no token, or no valid one */
	SESS_WHY_TOKEN,        /* a token that does not verify */
	SESS_WHY_FORBIDDEN,    /* a token that does not allow this */
	SESS_WHY_METHOD,       /* a method the path does not take */
	SESS_WHY_CLOSED,       /* the stream is closed */
	SESS_WHY_FENCED,       /* a wake fenced by a later generation */
	SESS_WHY_CONFIG,       /* a notify configuration in the way */
	SESS_WHY_GONE,         /* the stream was there and was deleted */
	SESS_WHY_SIZE,         /* a body larger than the limit */
	SESS_WHY_URI,          /* a target longer than the limit */
	SESS_WHY_UPGRADE,      /* an upgrade sessd cannot make */
	SESS_WHY_HEADERS,      /* header fields larger than the limit */
	SESS_WHY_EXPECT,       /* an expectation sessd cannot meet */
	SESS_WHY_METHODS,      /* a method sessd does not know at all */
	SESS_WHY_VERSION,      /* an HTTP version sessd does not speak */
	SESS_WHY_READONLY,     /* the store cannot be written now */
	SESS_WHY_AGAIN,        /* sessd is too busy now */
	SESS_WHY_FULL,         /* the store's disk is full */
};
struct sess_status {
	int code;         /* SESS_E* */
	int why;          /* SESS_WHY_* */
	int status;       /* HTTP status */
	const char *name; /* the "code" of the JSON error */
};
/* The row of code and why; the plain row of code without one. */
const struct sess_status *sess_status_of(int code, int why);
/*
 * The why of an error: failure is its SESS_WRITE_*, gone and closed say
 * what the stream was.
 */
int sess_status_why(int code, int failure, int gone, int closed);
/* The row of an answer: by status and name, else the status's first row. */
const struct sess_status *sess_status_find(int status, const char *name);
/* The library error an answer means. */
int sess_status_error(int status, const char *name);
size_t sess_status_count(void);
const struct sess_status *sess_status_row(size_t i);

/*
 * buf.c: growable byte buffers with a hard cap.  A buffer never grows
 * past cap; an append that would is refused with SESS_EINVAL.
 */
struct sess_buf {
	char *p;
	size_t len, size, cap;
};
void sess_buf_init(struct sess_buf *b, size_t cap);
void sess_buf_release(struct sess_buf *b);
int sess_buf_add(struct sess_buf *b, const void *p, size_t n);
int sess_buf_reserve(struct sess_buf *b, size_t n);
/* Removes the first n bytes. */
void sess_buf_consume(struct sess_buf *b, size_t n);

/* utf8.c: UTF-8 validation. */
/*
 * Returns the length of the longest prefix of p[0..n) made of complete,
 * valid UTF-8 sequences; an incomplete sequence at the very end is left
 * out (it may be completed by the next read).  *bad is set to the index
 * of the first invalid byte, or to -1 if there is none.
 */
size_t sess_utf8_prefix(const unsigned char *p, size_t n, long *bad);

/*
 * base64.c: base64 and base64url (RFC 4648).  sess_base64() appends the
 * base64 of p[0..n) to out: padded, or (url) base64url without padding;
 * 0, or SESS_ENOMEM past out's cap.
 */
int sess_base64(struct sess_buf *out, const void *p, size_t n, int url);
/* n bytes as base64url without padding (new string), NULL if no memory. */
char *sess_b64url_encode(const unsigned char *p, size_t n);
/*
 * Decodes the base64url s[0..len) into out (at most max bytes): the bytes
 * written, or -1 if it is malformed or longer.  The unused bits of the
 * last character must be zero, so that a byte string has one encoding;
 * strict also refuses padding (RFC 7515, 2), else trailing '=' is
 * tolerated, as some browsers send it.
 */
long sess_b64url_decode_n(const char *s, size_t len, unsigned char *out,
    size_t max, int strict);
/* The same for a NUL-terminated s, not strict. */
long sess_b64url_decode(const char *s, unsigned char *out, size_t max);

/*
 * wsframe.c: WebSocket frame heads (RFC 6455).  Opcodes: 0 continuation,
 * 1 text, 2 binary, 8 close, 9 ping, 10 pong.
 */
struct sess_wsframe {
	int fin, op, masked;
	size_t head;               /* bytes of the head, mask key included */
	uint64_t len;              /* of the payload */
	unsigned char mask[4];
	int close;                 /* on an error: the close code to send */
};
/*
 * Parses the head of a client's frame at p[0..n): 1 with f filled, 0 if
 * more bytes are needed, SESS_EINVAL (f->close says which close code)
 * if the frame breaks the protocol or its payload is over max bytes (then
 * f->head + f->len is the frame's size, for draining it).
 */
int sess_wsframe_parse(const unsigned char *p, size_t n, uint64_t max,
    struct sess_wsframe *f, struct sess_err *e);
void sess_wsframe_unmask(unsigned char *p, uint64_t n,
    const unsigned char mask[4]);
/* A server's frame head for a payload of len into h (10 bytes); its size. */
size_t sess_wsframe_head(unsigned char *h, int op, uint64_t len);
/* Checks a close frame's payload; *code is its code (1005 if none). */
int sess_wsframe_close(const unsigned char *p, size_t n, int *code,
    struct sess_err *e);

/*
 * http.c: HTTP/1.1 requests as RFC 9112 frames them, with no I/O: the
 * caller feeds the bytes as they arrive.  Lines end in CRLF: a bare LF
 * or CR is refused, as are obs-fold, NUL and control bytes, a request
 * with both Content-Length and Transfer-Encoding, differing
 * Content-Lengths (equal ones count as one), a Transfer-Encoding whose
 * last coding is not chunked, and an HTTP/1.1 request without exactly
 * one Host.  Every error is one after which the connection's byte
 * stream can no longer be trusted to be framed: the caller answers
 * r->status and closes.
 */
/* The value of hex digit c, or -1. */
int sess_http_hexval(int c);
#define SESS_HTTP_HEAD_MAX (16 * 1024)  /* request line and fields */
#define SESS_HTTP_TARGET_MAX (8 * 1024) /* request target: 414 past it */
#define SESS_HTTP_FIELDS_MAX 64         /* header fields: 431 past it */
struct sess_http_field {
	const char *name, *value;  /* NUL-terminated, in the head */
	size_t len;                /* of value */
};
struct sess_http_req {
	char *head;                /* the head, cut into strings (owned) */
	const char *method;
	char *target;              /* origin form: path and query */
	const char *query;         /* after the target's '?', or NULL */
	const char *authority;     /* of an absolute-form target, or NULL */
	int minor;                 /* HTTP/1.minor */
	struct sess_http_field fields[SESS_HTTP_FIELDS_MAX];
	int nfields;
	int64_t clen;              /* Content-Length, or -1 */
	int chunked, expect;       /* Expect: 100-continue */
	int close, keepalive;      /* the connection ends after this one */
	int status;                /* on an error: the status to answer */
	/* the parser's own */
	int other_coding;
	size_t scan, skip, line;
};
/* Readies r for a new head; release frees the head and readies it too. */
void sess_http_req_init(struct sess_http_req *r);
void sess_http_req_release(struct sess_http_req *r);
/*
 * Reads a head from p[0..n), the input so far (the same bytes first at
 * every call, more of them each time).  Returns the head's length (r
 * filled, the body, if any, follows it in p), 0 if it is not all there
 * yet, or SESS_EINVAL (SESS_ENOMEM) with r->status the status to answer
 * (400, 414, 417, 431, 501, 505, 503) and the reason in e.
 */
long sess_http_head(struct sess_http_req *r, const char *p, size_t n,
    struct sess_err *e);
/* The value of r's first field named name (case-insensitive), or NULL. */
const char *sess_http_field(const struct sess_http_req *r,
    const char *name);
/* Whether the comma-separated list holds tok (case-insensitive). */
int sess_http_has_token(const char *list, const char *tok);
/*
 * A chunked body's decoder.  sess_http_chunked() takes bytes from
 * p[0..n): *used of them, among which *data[0..*len) is body data (len
 * 0 for none).  Returns 1 when the body has ended (the bytes after
 * *used are the next request's), 0 to be called again with the bytes
 * after *used (more input, if *used is n), or SESS_EINVAL if the body
 * is malformed (the reason in e).  left is what the chunk being read
 * has still to come, for refusing an oversized one early.
 */
struct sess_http_chunked {
	int state;
	uint64_t left;
	size_t line;
};
void sess_http_chunked_init(struct sess_http_chunked *d);
int sess_http_chunked(struct sess_http_chunked *d, const char *p, size_t n,
    size_t *used, const char **data, size_t *len, struct sess_err *e);

/*
 * offset.c: offsets.  An event's offset is its sequence number in the
 * stream (from 1) as SESS_OFFSET_LEN zero-padded digits, so offsets sort
 * lexicographically.  Reading "from" an offset returns the events after
 * it; offset 0 (or -1) is the start of the stream.
 */
#define SESS_OFFSET_LEN 16
#define SESS_SEQ_MAX 9999999999999999LL
enum { SESS_OFF_START, SESS_OFF_NOW, SESS_OFF_SEQ };
/* out must hold SESS_OFFSET_LEN + 1 bytes. */
void sess_offset_fmt(int64_t seq, char *out);
/* Parses "-1", "now", an offset or a plain sequence number. */
int sess_offset_parse(const char *s, int *kind, int64_t *seq,
    struct sess_err *e);

/* name.c: stream names. */
#define SESS_NAME_MAX 1024
int sess_name_check(const char *name, size_t len, struct sess_err *e);

/*
 * jsonl.c: bounded line reading from a file descriptor.  The reader owns
 * its buffer; lines returned point into it and stay valid until the next
 * call to sess_lines_fill().
 */
struct sess_lines;
struct sess_lines *sess_lines_new(int fd, size_t maxline);
void sess_lines_free(struct sess_lines *lr);
/*
 * Reads once (blocking) unless wait is 0, then only what is available.
 * Returns bytes read, 0 at end of input, -1 with errno on error.
 * After end of input, a final unterminated line is still returned.
 */
long sess_lines_fill(struct sess_lines *lr, int wait);
/*
 * Returns 1 with the next complete line (without its newline) in
 * *line and *len and its 1-based number in *lineno, 0 if none is complete
 * yet, or SESS_EINVAL if the pending line is longer than maxline (its
 * number in *lineno).
 */
int sess_lines_next(struct sess_lines *lr, const char **line, size_t *len,
    long *lineno, struct sess_err *e);
/* True once end of input was seen and every line was returned. */
int sess_lines_done(const struct sess_lines *lr);
/* Bytes buffered but not yet returned as lines. */
size_t sess_lines_pending(const struct sess_lines *lr);

/*
 * Parses one JSON text strictly (one value, valid UTF-8, no NUL).
 * Returns a new reference, or NULL with the parser's message in e.
 */
json_t *sess_json_parse(const char *p, size_t n, struct sess_err *e);

/* An event as read from a stream. */
struct sess_event {
	int64_t seq;
	int64_t time;
	const char *data;  /* compact JSON text, not NUL-terminated */
	size_t len;
	const char *type;  /* NULL if none */
};

/*
 * json.c: strict validation and compaction in one pass, for the hot
 * path.  It accepts exactly what sess_json_parse() accepts, appends the
 * value without insignificant white space to out, and notes the
 * top-level fields the store cares about.  complex is set when the
 * value needs the full parser for its conventions (msg or op present,
 * type not a plain string, a key written with escapes).
 */
struct sess_jscan {
	size_t at, len;         /* the compact value in out */
	size_t type_at, type_len; /* the type string's bytes in out */
	int object, has_type, complex;
};
int sess_json_scan(const char *p, size_t n, struct sess_buf *out,
    struct sess_jscan *info, struct sess_err *e);

/*
 * event.c: the session conventions on JSON events (type, msg/op).
 */
enum { SESS_OP_NONE, SESS_OP_CREATE, SESS_OP_APPEND, SESS_OP_REPLACE,
	SESS_OP_FINISH, SESS_OP_DELETE };
struct sess_evinfo {
	const char *type; /* borrowed from the value, or NULL */
	const char *msg;
	int op;
	const char *text;
	size_t textlen;
};
/* Checks the conventions and extracts the fields; borrowed pointers. */
int sess_event_check(json_t *v, struct sess_evinfo *info, struct sess_err *e);
/*
 * The events the store writes itself and gives a meaning to, which no
 * writer may append: type "superseded" (the supersede marker), types
 * "notify.*" (sess-notify's outcomes: notify.sent, notify.failed,
 * notify.skipped), and "run.end" with "reason":"abandoned" (a lease that
 * ran out).  Looks at v if not NULL, else at the compact text
 * json[0..len) and its type[0..typelen) (NULL for none) as
 * sess_json_scan() found them.  SESS_EOWN, with a message naming the
 * type, if the value is one of them; else 0.
 */
int sess_event_own(json_t *v, const char *json, size_t len,
    const char *type, size_t typelen, struct sess_err *e);
const char *sess_op_name(int op);
/*
 * Appends an event as one output line to b: {"stream":...,"offset":...,
 * "seq":N,"time":...,"data":VALUE} and a newline.  stream_json is the
 * stream name already encoded as a JSON string.
 */
int sess_event_format(struct sess_buf *b, const char *stream_json,
    const struct sess_event *ev);
/*
 * Parses one line in that format back into ev.  The value (as written
 * where the line allows) and the type are copied into scratch; ev's
 * pointers stay valid until scratch is next used.  With stream not
 * NULL, the line's stream name (if any) is put there.
 */
int sess_event_parse_line(const char *line, size_t len, struct sess_event *ev,
    struct sess_buf *scratch, struct sess_buf *stream, struct sess_err *e);

/*
 * store.c: the SQLite store.  One handle per thread.
 */
#define SESS_RDONLY 0x1   /* do not create the file */
#define SESS_SYNC_NORMAL 0x2 /* synchronous=NORMAL: faster, not durable */
/*
 * For a handle that only reads: if the store is on a read-only file
 * system where SQLite cannot open it (a WAL store without its -shm),
 * open it immutable instead, as a snapshot that never changes.
 */
#define SESS_RDFALLBACK 0x4
struct sess_store;
/*
 * Opens (creating if allowed) and migrates the store at path.  On
 * failure e->failure says whether the store is read-only or full.
 */
struct sess_store *sess_store_open(const char *path, int flags,
    struct sess_err *e);
/* Whether st was opened immutable (SESS_RDFALLBACK). */
int sess_store_immutable(const struct sess_store *st);
void sess_store_close(struct sess_store *st);
const char *sess_store_path(const struct sess_store *st);
/* SESS_SYNC is "full" or "normal"; returns flags or -1. */
int sess_sync_flags(const char *mode);

/*
 * watch.c: change notification across processes.  Every commit made
 * through this library touches PATH-wake; a watch wakes on that with
 * inotify, so a follower learns of another process's append at once.
 * A follower also watches its output: once the reader of a pipe or
 * socket it writes to has gone, it has nobody left to wait for.
 */
struct sess_watch;
struct sess_watch *sess_watch_open(struct sess_store *st, struct sess_err *e);
void sess_watch_close(struct sess_watch *w);
/* A descriptor that polls readable when the store may have changed. */
int sess_watch_fd(const struct sess_watch *w);
/*
 * Waits up to ms (-1 forever) for a change; 1 changed, 0 timeout, or
 * SESS_EPIPE once the reader of descriptor hup (-1: none) has gone.
 */
int sess_watch_wait(struct sess_watch *w, int ms, int hup);
/*
 * Waits up to ms (0: only looks) for the reader of fd to go; 1 if it
 * has (POLLERR or POLLHUP: a closed pipe or socket, a hung-up
 * terminal), 0 if not.  A regular file never goes.
 */
int sess_hangup_wait(int fd, int ms);
/* Clears pending notifications after the fd polled readable. */
void sess_watch_drain(struct sess_watch *w);

/*
 * log.c: streams and events.
 */
struct sess_stream {
	int64_t id;
	int64_t tail;      /* seq of the last event, 0 if none */
	int64_t created;   /* microseconds since the epoch */
	int closed;
	char content_type[128];
};
/* Returns 0, or SESS_ENOENT if the stream does not exist. */
int sess_stream_get(struct sess_store *st, const char *name,
    struct sess_stream *out, struct sess_err *e);

struct sess_item {
	json_t *value;     /* borrowed; may be modified to trim text */
	/*
	 * Without a value: compact JSON text already checked by
	 * sess_json_scan() and found not complex, with its type (or NULL).
	 */
	const char *json, *type;
	size_t len, typelen;
	int64_t time;      /* microseconds since the epoch; 0 means now */
	int64_t pseq;      /* producer position of this item */
	int64_t units;     /* producer units it takes: 1, or text bytes */
};
struct sess_producer {
	const char *id;
	int64_t epoch;
};
struct sess_ack {
	int64_t seq;       /* the event's seq (original one if duplicate) */
	int duplicate;
};
#define SESS_NOCREATE 0x1
/*
 * An import of a recording (sess-replay -a, -i): its values may be of
 * the store's own types (sess_event_own()), as the recorded stream had
 * them.  Embedded only: a sessd refuses those from every client.
 */
#define SESS_IMPORT 0x2
/*
 * Appends n JSON items to stream in one transaction; with a producer,
 * items are checked against its (epoch, position) and duplicates are
 * acknowledged without being written.  Fills acks[0..n).  On error
 * nothing of the batch is written.  A value of one of the store's own
 * types is SESS_EOWN, unless flags has SESS_IMPORT.
 */
int sess_append(struct sess_store *st, const char *stream, int flags,
    const struct sess_producer *pr, struct sess_item *items, size_t n,
    struct sess_ack *acks, struct sess_err *e);

struct sess_reader;
/*
 * A reader returns the events of stream after seq `after`, optionally
 * only those whose type is `type`.  Pointers in events it returns stay
 * valid until the next call.
 */
struct sess_reader *sess_reader_open(struct sess_store *st, const char *stream,
    int64_t after, const char *type, struct sess_err *e);
void sess_reader_close(struct sess_reader *r);
/* 1 with an event, 0 if none is available now, negative on error. */
int sess_reader_next(struct sess_reader *r, struct sess_event *ev,
    struct sess_err *e);
/* Ends the current read transaction, so that later commits are seen. */
void sess_reader_reset(struct sess_reader *r);
int64_t sess_reader_position(const struct sess_reader *r);

/*
 * ds.c: the stream operations of the Durable Streams protocol, as sessd
 * serves them.  A stream has a content type (application/json streams
 * hold one JSON value per event, others one chunk of bytes per append),
 * may expire (a sliding TTL, renewed by reads and writes, or an
 * absolute time), may be closed, and may be a fork: it then reads its
 * first fork_seq events from its parent.  A stream deleted while forks
 * still read it stays, as "gone", until the last of them is deleted.
 *
 * Writes happen in a batch: sess_batch_begin(), any number of
 * operations, each all or nothing, then sess_batch_commit(), so that
 * many requests share one commit.  Errors: SESS_ENOENT no such stream
 * (or it expired; ack->gone set when it is gone), SESS_EINVAL a bad
 * request, SESS_ECONFLICT a mismatch with what exists (ack->closed set
 * when the stream is closed), SESS_ESTALE a stale producer epoch,
 * SESS_EGAP a producer sequence gap (ack->expected set), SESS_EOWN a
 * value of a type only the store writes (sess_event_own()).  A new
 * epoch of a producer must start at seq 0 (else SESS_EINVAL), as in
 * sess_append(): both admit through producer.c.
 */
#define SESS_CT_MAX 128
#define SESS_FORK_DEPTH 64
struct sess_ds_info {
	int64_t id, created, tail;
	int64_t ttl;          /* seconds, or -1 */
	int64_t expires;      /* microseconds since the epoch, or 0 */
	int64_t parent, fork_seq;
	int closed, gone, json;
	char content_type[SESS_CT_MAX];
};
/*
 * Fills out for a live stream; SESS_ENOENT if there is none or it has
 * expired (with out->gone set if it is gone).
 */
int sess_ds_get(struct sess_store *st, const char *name,
    struct sess_ds_info *out, struct sess_err *e);
/*
 * Calls fn for the events of s after seq `after` up to seq `upto`,
 * inherited ones included, until fn returns nonzero or about max bytes
 * of data were given.  Returns the number of events, or a negative
 * error.  Event pointers are valid during the call only.
 */
int sess_ds_read(struct sess_store *st, const struct sess_ds_info *s,
    int64_t after, int64_t upto, size_t max,
    int (*fn)(const struct sess_event *ev, void *arg), void *arg,
    struct sess_err *e);
/*
 * For catch-up bodies: appends the data of events (after, upto] of s to
 * out, up to about max bytes, comma-separated if json (none before the
 * first if *first, which is then cleared); *last is the seq of the last.
 * Returns the events added, or a negative code.
 */
int sess_ds_read_body(struct sess_store *st, const struct sess_ds_info *s,
    int64_t after, int64_t upto, size_t max, int json, int *first,
    struct sess_buf *out, int64_t *last, struct sess_err *e);

/* A request: which fields an operation uses is said at each. */
struct sess_ds_req {
	const char *stream;
	const char *content_type; /* lower-case media type, or NULL */
	const char *body;         /* JSON text or bytes, per the type */
	size_t len;
	int close;                /* close the stream (after any body) */
	const char *producer;     /* NULL, or id with epoch and seq */
	int64_t epoch, seq;
	const char *writer_seq;   /* Stream-Seq, or NULL */
	int64_t ttl;              /* seconds, or -1 */
	int64_t expires_at;       /* microseconds, or 0 */
	const char *fork_from;    /* source stream name, or NULL */
	int64_t fork_offset;      /* seq, or -1 for the source's tail */
	int64_t fork_sub;         /* sub-offset, 0 for none */
};
struct sess_ds_ack {
	int created;              /* create: the stream is new */
	int duplicate;            /* append: the producer's retry */
	int closed, gone;
	int64_t tail;             /* the stream's next offset */
	int64_t epoch;            /* producer's epoch (the current one on 403) */
	int64_t pseq;             /* highest accepted producer seq */
	int64_t expected;         /* on SESS_EGAP */
	char content_type[SESS_CT_MAX];
};
int sess_batch_begin(struct sess_store *st, struct sess_err *e);
/*
 * Why the last failed store operation failed: disk full, a read-only
 * store, or 0.  The same is in the failing call's e->failure.
 */
enum { SESS_WRITE_FULL = 1, SESS_WRITE_READONLY };
int sess_store_write_failure(struct sess_store *st);
/* Commits; on failure everything since begin is rolled back. */
int sess_batch_commit(struct sess_store *st, struct sess_err *e);
void sess_batch_rollback(struct sess_store *st);
/*
 * PUT: creates stream (or a fork of fork_from at fork_offset and
 * fork_sub) with content_type (NULL: octet-stream, or the source's),
 * ttl or expires_at, the body as first content, closed if close.  An
 * existing stream with the same configuration is acknowledged with
 * created 0; one with another is SESS_ECONFLICT.
 */
int sess_ds_create(struct sess_store *st, const struct sess_ds_req *r,
    struct sess_ds_ack *ack, struct sess_err *e);
/*
 * POST: appends the body (if len > 0; content_type must match) and
 * closes the stream if close, checking producer (one seq per request)
 * and writer_seq; renews a TTL.
 */
int sess_ds_append(struct sess_store *st, const struct sess_ds_req *r,
    struct sess_ds_ack *ack, struct sess_err *e);
/* DELETE: removes stream, or marks it gone while forks read it. */
int sess_ds_delete(struct sess_store *st, const char *name,
    struct sess_ds_ack *ack, struct sess_err *e);
/* Renews the TTL of stream, as a read does; 0 if it has none. */
int sess_ds_touch(struct sess_store *st, const char *name,
    struct sess_err *e);
/*
 * Removes up to max streams that have expired, calling fn with each
 * name; returns how many, or a negative error.
 */
int sess_ds_expire(struct sess_store *st, int max,
    void (*fn)(const char *name, void *arg), void *arg, struct sess_err *e);
/* When the next live stream expires (microseconds), or 0 if none does. */
int64_t sess_ds_next_expiry(struct sess_store *st);

/*
 * Splits a JSON body into the values a POST appends: the elements of a
 * top-level array (one level is flattened), or the one value.  Items
 * point into text (which the caller initialises with a cap of at least
 * len) and carry the parsed value when they use the session
 * conventions; with strict, a value breaking them is an error, else it
 * is kept as a plain value.  A value of the store's own types, breaking
 * the conventions or not, is SESS_EOWN (named "value N" when the body
 * holds several).  Free the items with sess_ds_items_free().
 */
int sess_ds_split(const char *body, size_t len, int strict,
    struct sess_buf *text, struct sess_item **items, size_t *n,
    struct sess_err *e);
void sess_ds_items_free(struct sess_item *items, size_t n);
/*
 * Calls fn with the name and tail of each live stream whose name
 * matches glob (SQLite GLOB), in name order; returns how many, or a
 * negative error.
 */
int sess_ds_each(struct sess_store *st, const char *glob,
    void (*fn)(const char *name, int64_t tail, void *arg), void *arg,
    struct sess_err *e);
/*
 * sessd's own records, JSON text by kind and key.  sess_ds_record_put()
 * with json NULL deletes; sess_ds_records() calls fn for each of kind.
 */
int sess_ds_record_put(struct sess_store *st, const char *kind,
    const char *key, const char *json, struct sess_err *e);
int sess_ds_records(struct sess_store *st, const char *kind,
    void (*fn)(const char *key, const char *json, void *arg), void *arg,
    struct sess_err *e);

/*
 * state.c: mutable messages materialized from msg/op events.
 */
struct sess_message {
	const char *msg;
	const char *text;
	size_t textlen;
	const char *status;  /* streaming, complete, deleted */
	const char *producer;
	int64_t attempt;
	int64_t first, last; /* seqs of the first and latest op */
};
/*
 * Appends m to b as one line: {"msg","text","status","attempt","first",
 * "last","producer"?} and a newline; what sess-replay -s and sessd's
 * /v1/messages print.  SESS_EINVAL if it does not fit.
 */
int sess_message_format(struct sess_buf *b, const struct sess_message *m);
/* Calls fn for each message in creation order; stops if fn returns != 0. */
int sess_messages_each(struct sess_store *st, const char *stream,
    int (*fn)(const struct sess_message *m, void *arg), void *arg,
    struct sess_err *e);

/*
 * check.c: integrity.  Calls report for each problem found; returns the
 * number of problems, or a negative error.  Problems: seq numbers that
 * do not follow from 1 to the tail, values that are not JSON or break
 * the conventions, message ops that do not follow the ones before
 * (append without create, a second create, anything after finish or
 * delete), superseded markers that their producer's epochs do not
 * explain, a type column or a materialized view that differs from the
 * log.
 */
int sess_check(struct sess_store *st, const char *stream,
    void (*report)(const char *what, void *arg), void *arg,
    struct sess_err *e);
/*
 * The same check of a recording (event lines as sess-sub writes them),
 * fed line by line: seq numbers from 1, each line's offset its seq's,
 * one stream.  A recording does not say which producer wrote what, so
 * a superseded marker is checked against the messages it names (they
 * must be in the view) and its producer's earlier markers only.
 * sess_rcheck_line() returns the problems the line has (reported), or
 * a negative error; value is ev's value if the caller parsed it
 * (borrowed), else NULL.  sess_rcheck_lost() counts a line that could
 * not be read (the caller reports why), after which the next seq is
 * not compared.  sess_rcheck_end() returns the problems in all.
 */
struct sess_rcheck;
struct sess_rcheck *sess_rcheck_new(void (*report)(const char *what,
    void *arg), void *arg, struct sess_err *e);
void sess_rcheck_free(struct sess_rcheck *c);
int sess_rcheck_line(struct sess_rcheck *c, const char *line, size_t len,
    const struct sess_event *ev, json_t *value, struct sess_err *e);
void sess_rcheck_lost(struct sess_rcheck *c);
int sess_rcheck_end(struct sess_rcheck *c);

/* time.c: clocks and RFC 3339. */
int64_t sess_now(void);
/* out must hold 32 bytes: 2026-11-27T10:56:33.123456Z */
size_t sess_time_fmt(int64_t us, char *out);
int sess_time_parse(const char *s, int64_t *us);

/*
 * presence.c: who is present on a stream.  A member (a stable name)
 * has one row per connection, each a lease until it expires; its
 * holder renews it.  Every transition is appended to a log in the same
 * transaction: enter (first: it made the member present), update,
 * leave (last: it made the member absent) with reason "explicit" or
 * "timeout".  Streams are named, and need not exist.  Each write is a
 * transaction of its own (touching the wake file), or a savepoint
 * inside an open batch (sessd's writer).
 */
#define SESS_MEMBER_MAX 256
#define SESS_PDATA_MAX 65536
/* Checks a member name or a connection id: 1 to 256 bytes of UTF-8. */
int sess_member_check(const char *what, const char *s, struct sess_err *e);
/* Checks presence data: NULL, or a JSON object up to SESS_PDATA_MAX. */
int sess_pdata_check(const char *data, struct sess_err *e);
/*
 * A transition of (stream, member, conn): event is "enter", "update",
 * "leave" (explicit) or "renew".  enter and update make the row (an
 * update of a row that is not there is an enter; an enter of one that
 * is, an update), with data (compact JSON text, or NULL), a lease of
 * lease_us and holder (or NULL); renew only extends the lease, and is
 * SESS_ENOENT if the row is gone (the holder enters again); leaving a
 * row that is not there does nothing.
 */
int sess_presence_set(struct sess_store *st, const char *stream,
    const char *member, const char *conn, const char *event,
    const char *data, int64_t lease_us, const char *holder,
    struct sess_err *e);
/* Renews every row of holder: expires = now + lease_us. */
int sess_presence_renew_holder(struct sess_store *st, const char *holder,
    int64_t lease_us, struct sess_err *e);
/*
 * The rows of connection conn: with lease_us < 0 they leave at once
 * (explicit), else they lose their holder and expire after lease_us.
 */
int sess_presence_conn(struct sess_store *st, const char *conn,
    int64_t lease_us, struct sess_err *e);
/*
 * When the first lease (of holder's rows, unless NULL) runs out, in
 * microseconds; 0 if there is none.  A read: for timers.
 */
int64_t sess_presence_next_expiry(struct sess_store *st, const char *holder);
/* Rows whose lease ran out leave with reason timeout; returns how many. */
int sess_presence_sweep(struct sess_store *st, struct sess_err *e);
/*
 * The current set of stream as a new JSON array, grouped by member:
 * [{"member","since","data","conns":[{"conn","since","data"}]}], in
 * order of arrival; rows whose lease ran out are left out.
 */
json_t *sess_presence_members(struct sess_store *st, const char *stream,
    struct sess_err *e);
/* A transition as logged; pointers valid during the callback only. */
struct sess_ptrans {
	int64_t seq, time;
	const char *stream, *member, *conn, *event;
	const char *data;    /* JSON text or NULL */
	const char *reason;  /* "explicit", "timeout" or NULL */
	int first, last;
};
/*
 * Calls fn for the transitions of stream (NULL: of every stream) after
 * seq `after`, in order, up to max of them, until fn returns nonzero.
 * Returns how many, or a negative error.
 */
int sess_presence_log(struct sess_store *st, const char *stream,
    int64_t after, int max, int (*fn)(const struct sess_ptrans *t,
    void *arg), void *arg, struct sess_err *e);
/* The seq of the last transition logged, 0 if none (or negative). */
int64_t sess_presence_last(struct sess_store *st, struct sess_err *e);
/*
 * Appends t to b as one line: {"seq","stream","event","member","conn",
 * "data","time","reason","first","last"} and a newline; with ws, the
 * WebSocket push instead: {"op":"presence","stream",...} without seq
 * and without the newline.
 */
int sess_ptrans_format(struct sess_buf *b, const struct sess_ptrans *t,
    int ws);

/*
 * cursor.c: a member's read position per stream (a seq; shared by the
 * member's devices), and the number of events after it.
 */
struct sess_cursor {
	int64_t seq;          /* 0 when the member has none */
	int64_t time;         /* when it was set, or 0 */
	int64_t unread;       /* events after it */
};
/*
 * Moves member's cursor on stream forward to seq: a seq below the
 * cursor leaves it where it is; one beyond the stream's tail is
 * SESS_EINVAL; a stream that does not exist SESS_ENOENT.  out (if not
 * NULL) gets the cursor afterwards.  A transaction of its own, or a
 * savepoint inside an open batch.
 */
int sess_cursor_set(struct sess_store *st, const char *stream,
    const char *member, int64_t seq, struct sess_cursor *out,
    struct sess_err *e);
/* The cursor of member on stream (seq 0 if none); SESS_ENOENT no stream. */
int sess_cursor_get(struct sess_store *st, const char *stream,
    const char *member, struct sess_cursor *out, struct sess_err *e);
/*
 * Calls fn for each cursor of stream (of member only, unless NULL) in
 * member order; returns how many, or a negative error.
 */
int sess_cursors_each(struct sess_store *st, const char *stream,
    const char *member, void (*fn)(const char *member,
    const struct sess_cursor *c, void *arg), void *arg, struct sess_err *e);

/*
 * log.c, run leases (see run_lease() there).  sess_runs_expired() calls
 * fn with each run whose lease ran out, up to max; sess_run_abandon()
 * appends {"type":"run.end","run":R,"reason":"abandoned"} to stream if
 * the lease of run has still run out (which ends it), in a transaction
 * of its own or inside an open batch; 1 if it did, 0 if not.
 */
int sess_runs_expired(struct sess_store *st, int max,
    void (*fn)(const char *stream, const char *run, void *arg), void *arg,
    struct sess_err *e);
int sess_run_abandon(struct sess_store *st, const char *stream,
    const char *run, struct sess_err *e);
/* When the next run lease runs out (microseconds), or 0 if none. */
int64_t sess_runs_next(struct sess_store *st);

/*
 * remote.c: the store operations over HTTP to a sessd (libcurl).  The
 * handle keeps one connection alive between requests.  Errors map HTTP
 * statuses onto SESS_E* (404 SESS_ENOENT, 400 SESS_EINVAL, 403
 * SESS_ESTALE, 409 SESS_EGAP, unreachable or 5xx SESS_EIO).
 */
struct sess_remote;
struct sess_remote *sess_remote_open(const char *url, struct sess_err *e);
void sess_remote_close(struct sess_remote *rm);
/* As sess_append(), through POST /v1/stream/NAME with Sess-Append. */
int sess_remote_append(struct sess_remote *rm, const char *stream, int flags,
    const struct sess_producer *pr, struct sess_item *items, size_t n,
    struct sess_ack *acks, struct sess_err *e);
/* As sess_stream_get(), through HEAD; fills only tail. */
int sess_remote_stream_get(struct sess_remote *rm, const char *stream,
    struct sess_stream *out, struct sess_err *e);
/*
 * Appends to lines the event lines after seq `after` (GET /v1/events),
 * long-polling up to wait_ms when there are none and wait_ms > 0; with
 * types (NULL, or a NULL-terminated list), only events of those types.
 */
int sess_remote_events(struct sess_remote *rm, const char *stream,
    int64_t after, const char *const *types, int wait_ms,
    struct sess_buf *lines, int *uptodate, struct sess_err *e);
/*
 * From now on a GET or HEAD (never a write, which is not cut off
 * halfway) ends early with SESS_EPIPE once the reader of descriptor fd
 * has gone (see sess_hangup_wait()); -1 stops watching.
 */
void sess_remote_hangup(struct sess_remote *rm, int fd);
/* Appends the body of GET KIND/STREAM (e.g. "/v1/messages") to out. */
int sess_remote_get(struct sess_remote *rm, const char *kind,
    const char *stream, struct sess_buf *out, struct sess_err *e);

/*
 * A request to KIND/STREAM with query (NULL or "?..."), and a JSON body
 * unless NULL.  A 2xx answer's body is appended to out (if not NULL) and
 * its Stream-Next-Offset put in *next (-1 if none); any other status is
 * an error as above, with the server's message.
 */
int sess_remote_call(struct sess_remote *rm, const char *method,
    const char *kind, const char *stream, const char *query,
    const char *body, size_t len, long timeout_ms, struct sess_buf *out,
    int64_t *next, struct sess_err *e);

/*
 * A member's cursor: with seq >= 0, PUT /v1/cursors/STREAM?member=M
 * (as sess_cursor_set()), else GET (as sess_cursor_get()).
 */
int sess_remote_cursor(struct sess_remote *rm, const char *stream,
    const char *member, int64_t seq, struct sess_cursor *out,
    struct sess_err *e);

/*
 * Presence through /v1/presence/STREAM, as presence.c's: a transition
 * (*grace_us, if not NULL, the lease the server grants); the set now (a
 * new array, NULL on error); fn called with each transition line after
 * `after` (-1: none, the position only), without its newline, waiting up
 * to wait_ms for one, until fn returns nonzero: how many, with *next the
 * seq to ask after next.
 */
int sess_remote_presence_set(struct sess_remote *rm, const char *stream,
    const char *member, const char *conn, const char *event,
    const char *data, int64_t *grace_us, struct sess_err *e);
json_t *sess_remote_presence_members(struct sess_remote *rm,
    const char *stream, struct sess_err *e);
int sess_remote_presence_log(struct sess_remote *rm, const char *stream,
    int64_t after, int wait_ms, int (*fn)(int64_t seq, const char *line,
    size_t len, void *arg), void *arg, int64_t *next, struct sess_err *e);

/*
 * The notify outbox through sessd: a JSON request to /v1/notify/WHAT
 * (claim, finish, keys, channels); its JSON object answer (new), or
 * NULL with e filled.
 */
json_t *sess_remote_notify(struct sess_remote *rm, const char *method,
    const char *what, json_t *body, long timeout_ms, struct sess_err *e);

/*
 * conn.c: one interface over the embedded store (url NULL) and a
 * remote sessd, so every tool has the same two modes.
 */
struct sess_conn;
struct sess_conn *sess_conn_open(const char *db, const char *url, int flags,
    struct sess_err *e);
void sess_conn_close(struct sess_conn *c);
/* The store, or NULL in remote mode (borrowed). */
struct sess_store *sess_conn_store(struct sess_conn *c);
struct sess_remote *sess_conn_remote(struct sess_conn *c);
int sess_conn_append(struct sess_conn *c, const char *stream, int flags,
    const struct sess_producer *pr, struct sess_item *items, size_t n,
    struct sess_ack *acks, struct sess_err *e);
int sess_conn_stream_get(struct sess_conn *c, const char *stream,
    struct sess_stream *out, struct sess_err *e);
/* A member's cursor on stream: set it (seq >= 0) or get it (seq -1). */
int sess_conn_cursor(struct sess_conn *c, const char *stream,
    const char *member, int64_t seq, struct sess_cursor *out,
    struct sess_err *e);
/* The materialized messages of stream, as JSON lines appended to out. */
int sess_conn_messages(struct sess_conn *c, const char *stream,
    struct sess_buf *out, struct sess_err *e);
/*
 * Presence on stream, in either mode (embedded sweeps expired leases
 * first, where it can): a transition held for lease_us (remote: the
 * server's grace, put in *grace_us); the set now, a new JSON array; the
 * transition lines after `after` (-1: none), without their newline, to
 * fn until it returns nonzero, up to max of them (remote: waiting up to
 * wait_ms for one), with *next the seq to ask after next; returns how
 * many.
 */
int sess_conn_presence_set(struct sess_conn *c, const char *stream,
    const char *member, const char *conn, const char *event,
    const char *data, int64_t lease_us, int64_t *grace_us,
    struct sess_err *e);
json_t *sess_conn_presence_members(struct sess_conn *c, const char *stream,
    struct sess_err *e);
int sess_conn_presence_log(struct sess_conn *c, const char *stream,
    int64_t after, int max, int wait_ms, int (*fn)(int64_t seq,
    const char *line, size_t len, void *arg), void *arg, int64_t *next,
    struct sess_err *e);
/*
 * Makes a follower's waits, and its remote reads, end with SESS_EPIPE
 * once the reader of descriptor fd (its stdout) has gone; -1: never.
 */
void sess_conn_hangup(struct sess_conn *c, int fd);
/*
 * A feed reads a stream's events after a position: sess_feed_next()
 * returns 1 with an event, 0 when caught up; sess_feed_wait() waits up
 * to ms for more (inotify, or an HTTP long-poll): 1 maybe more, 0 not.
 * With types (NULL, or a NULL-terminated list, borrowed for the feed's
 * life), only events whose type is one of them.
 */
struct sess_feed;
struct sess_feed *sess_feed_open(struct sess_conn *c, const char *stream,
    int64_t after, const char *const *types, struct sess_err *e);
void sess_feed_close(struct sess_feed *f);
int sess_feed_next(struct sess_feed *f, struct sess_event *ev,
    struct sess_err *e);
int sess_feed_wait(struct sess_feed *f, int ms, struct sess_err *e);
int64_t sess_feed_position(const struct sess_feed *f);

/*
 * token.c: access tokens: HS256 JSON Web Tokens (RFC 7519) signed with a
 * shared key.  A token's claims are sub (the member), iat and exp
 * (seconds since the epoch) and streams, a list of
 * {"pattern": P, "caps": ["read", "write", "presence", "admin"]}.
 * In a pattern, a segment "**" matches any number of whole segments
 * (none included), and "*" any run of characters within one segment;
 * everything else matches itself.  Capabilities are independent: admin
 * does not imply read.  Verification allows SESS_TOKEN_LEEWAY seconds
 * of clock skew on exp, nbf and iat.
 */
enum {
	SESS_CAP_READ = 0x1,
	SESS_CAP_WRITE = 0x2,
	SESS_CAP_PRESENCE = 0x4,
	SESS_CAP_ADMIN = 0x8,
};
#define SESS_TOKEN_MAX 8192     /* bytes of a token */
#define SESS_TOKEN_LEEWAY 30    /* seconds of clock skew allowed */
#define SESS_KEY_MIN 32         /* bytes of a key, at least */
#define SESS_KEY_MAX 4096
#define SESS_SUBJECT_MAX 256
#define SESS_GRANTS_MAX 256
/* A capability's bit from its name, or 0; and the other way. */
int sess_cap_parse(const char *name);
const char *sess_cap_name(int cap);
/* Whether pattern is well formed: a stream name whose "**" are segments. */
int sess_pattern_check(const char *pattern, struct sess_err *e);
/* Whether name matches pattern (both NUL-terminated). */
int sess_pattern_match(const char *pattern, const char *name);
/*
 * Reads a key file: its whole content, SESS_KEY_MIN to SESS_KEY_MAX
 * bytes, is the key.  key must hold SESS_KEY_MAX bytes.
 */
int sess_key_load(const char *path, unsigned char *key, size_t *len,
    struct sess_err *e);
/*
 * Writes a new key of SESS_KEY_MIN random bytes to a new file at path,
 * mode 0600; an existing file is never overwritten (SESS_ECONFLICT).
 */
int sess_key_generate(const char *path, struct sess_err *e);

struct sess_grant {
	const char *pattern;
	int caps;                 /* SESS_CAP_* bits, at least one */
};
/* Signs a token; *out is new (free it). */
int sess_token_sign(const unsigned char *key, size_t keylen,
    const char *subject, int64_t iat, int64_t exp,
    const struct sess_grant *grants, size_t n, char **out,
    struct sess_err *e);
/*
 * Verifies token (len bytes) with key at time now (seconds): HS256 only,
 * signature compared in constant time, claims parsed strictly.  Returns
 * a new token to free with sess_token_free(), or NULL with the reason
 * in e (SESS_EINVAL).
 */
struct sess_token;
struct sess_token *sess_token_verify(const char *token, size_t len,
    const unsigned char *key, size_t keylen, int64_t now,
    struct sess_err *e);
void sess_token_free(struct sess_token *t);
/*
 * Whether the grants whose pattern matches stream give, together, every
 * bit of caps (0 asks only for a valid token).
 */
int sess_token_allows(const struct sess_token *t, const char *stream,
    int caps);
/* Borrowed from t. */
const char *sess_token_subject(const struct sess_token *t);
int64_t sess_token_expires(const struct sess_token *t);
/* The verified claims object (borrowed). */
json_t *sess_token_claims(const struct sess_token *t);

/*
 * notify.c: the notification outbox.  An event whose JSON object has a
 * "notify" field ({"to":[members],"title","body","url","priority"})
 * becomes one outbox row per recipient and channel when sess-notify
 * scans it; a row is sent when it is due and its recipient is away (no
 * presence on the stream for the grace period, read cursor before the
 * event), else skipped with the reason.  Rows are claimed with a lease
 * in a transaction, so two processes never send the same row.
 * Outcomes are appended to the stream as notify.sent, notify.skipped
 * and notify.failed events.
 */
#define SESS_NOTIFY_TITLE_MAX 256
#define SESS_NOTIFY_BODY_MAX 4096
#define SESS_NOTIFY_URL_MAX 2048
struct sess_notify_cfg {
	int64_t grace;       /* microseconds; < 0 for the default, 30 s */
	int max_tries;       /* attempts before failing; 0: 8 */
	int64_t backoff;     /* first retry delay, microseconds; 0: 1 s */
	int64_t lease;       /* how long a claim holds, us; 0: 2 minutes */
	int stdout_kind;     /* also claim rows of the stdout channel */
	int dry;             /* roll back every change, report only */
	const char *holder;  /* the lease holder's name; NULL: this process */
	/* Called with one JSON line per decision (skip, wait, send, fail). */
	void (*report)(const char *json, void *arg);
	void *arg;
};
enum { SESS_NOTE_SENT = 1, SESS_NOTE_RETRY, SESS_NOTE_FAIL,
	SESS_NOTE_GONE };
/* A claimed row; the strings are owned, freed by sess_note_free(). */
struct sess_note {
	int64_t id, seq, channel;
	int attempts;             /* this attempt's number, from 1 */
	char *stream, *member, *kind, *target;
	char *note;               /* {"title","body","url","priority"} */
	/* Filled by the sender before sess_notify_finish(): */
	int result;               /* SESS_NOTE_* */
	int64_t retry_after;      /* microseconds asked by the provider */
	char error[256];
	/* Filled by sess_notify_finish(): */
	int lost;                 /* the lease had passed to another worker */
	int64_t next_try;         /* when a retry is due, or 0 */
};
struct sess_notify;
struct sess_notify *sess_notify_open(struct sess_store *st,
    const struct sess_notify_cfg *cfg, struct sess_err *e);
void sess_notify_close(struct sess_notify *n);
/* This process's lease holder name (host:pid:start). */
const char *sess_notify_holder(const struct sess_notify *n);
/*
 * Releases the leases of holders on this host that no longer run (a
 * sess-notify killed mid-send); returns how many rows, or an error.
 */
int sess_notify_reclaim(struct sess_notify *n, struct sess_err *e);
/*
 * Makes the next claim scan the streams for new events again, as the
 * first one does (after the store changed).
 */
void sess_notify_rescan(struct sess_notify *n);
/*
 * In one transaction: scans new events (the first time and after
 * sess_notify_rescan()), applies the away rule to up to max due rows,
 * records skips and waits, and leases the rest, which are put in
 * out[0..*nout).  With cfg->dry it rolls everything back.
 */
int sess_notify_claim(struct sess_notify *n, size_t max,
    struct sess_note *out, size_t *nout, struct sess_err *e);
/*
 * Records the results of claimed rows in one transaction: sent, retry
 * (with backoff and jitter, failed after max_tries), failed, or gone
 * (failed, and the channel removed); appends the outcome events.
 */
int sess_notify_finish(struct sess_notify *n, struct sess_note *notes,
    size_t nn, struct sess_err *e);
/* When the next pending row is due (microseconds), 0 if none is. */
int sess_notify_next(struct sess_notify *n, int64_t *when,
    struct sess_err *e);
void sess_note_free(struct sess_note *no);
/* This process's holder name, host:pid:start, into out. */
void sess_notify_self(char *out, size_t size);
/*
 * A note as JSON (new reference) with its result once it has one, and
 * back (the strings new, as sess_notify_claim() gives them).
 */
json_t *sess_note_to_json(const struct sess_note *no);
int sess_note_from_json(json_t *v, struct sess_note *no,
    struct sess_err *e);
/*
 * Checks a channel target for kind (webhook, ntfy, email, webpush,
 * stdout) and gives its canonical form (new) in *canon.
 */
int sess_notify_channel_check(const char *kind, const char *target,
    char **canon, struct sess_err *e);
/*
 * Registers a channel, in a transaction of its own if own_tx, else in
 * the caller's; returns 1 if new, 0 if it was there.
 */
int sess_notify_channel_add(struct sess_store *st, int own_tx,
    const char *member, const char *kind, const char *target,
    struct sess_err *e);
/*
 * Removes the channel member/kind/target (SESS_ENOENT if none), or with
 * member NULL the one numbered id, inside the caller's transaction
 * unless own_tx.
 */
int sess_notify_channel_del(struct sess_store *st, int own_tx, int64_t id,
    const char *member, const char *kind, const char *target,
    struct sess_err *e);
/*
 * Makes the channels registered from the channel file at path those of
 * its lines (MEMBER KIND TARGET; blank lines and # comments ignored):
 * adds the new ones, marked as the file's, and removes the file's that
 * are no longer in it, in one transaction; channels registered
 * otherwise stay.  A file that does not exist has no lines.  Any
 * malformed line refuses the whole file (SESS_EINVAL, "path:line:
 * why") and changes nothing; with check it only reads and checks.
 * Returns how many channels were added or removed.
 */
int sess_notify_config_sync(struct sess_store *st, const char *path,
    int check, struct sess_err *e);
/*
 * The key called name from the store (new string), generated by make()
 * and stored on first use (SESS_ENOENT if there is none and make is
 * NULL); in a transaction of its own if own_tx.
 */
int sess_notify_key(struct sess_store *st, int own_tx, const char *name,
    char *(*make)(void), char **out, struct sess_err *e);

/*
 * push.c: Web Push (RFC 8291 aes128gcm, RFC 8292 VAPID) and the crypto
 * the channels share, with OpenSSL.
 */
/* 0 if s is a base64url uncompressed P-256 point, else -1. */
int sess_push_key_check(const char *s);
/* A new VAPID key pair as stored: PEM private key (new string). */
char *sess_push_vapid_new(void);
/* The base64url public key of a stored VAPID key pair (new). */
char *sess_push_vapid_public(const char *pem);
/*
 * A VAPID Authorization header value for endpoint, valid 12 hours:
 * "vapid t=JWT, k=KEY" (new), subject being a mailto: or https: URL.
 */
char *sess_push_vapid_auth(const char *pem, const char *endpoint,
    const char *subject, int64_t now);
/*
 * Encrypts text for the subscription keys p256dh and auth (base64url)
 * as one aes128gcm record (RFC 8291); the body is appended to out.
 */
int sess_push_encrypt(const char *p256dh, const char *auth,
    const void *text, size_t len, struct sess_buf *out, struct sess_err *e);
/* HMAC-SHA256 of p[0..n) under key, as 64 lower-case hex digits. */
void sess_hmac_hex(const char *key, const void *p, size_t n, char out[65]);
/* n random bytes as 2n hex digits (new), for secrets. */
char *sess_random_hex(size_t n);

/*
 * deliver.c: one claimed notification as a provider request (a libcurl
 * easy handle, for the caller's multi handle), and the outcome of the
 * response: sent (2xx), retry (transport errors, 408, 429 with its
 * Retry-After, 5xx, SMTP 4xx), failed (other 4xx, SMTP 5xx) or, for Web
 * Push, gone (404, 410).
 */
struct sess_send_cfg {
	const char *secret;        /* webhook signing secret */
	const char *vapid;         /* VAPID key pair (PEM) */
	const char *vapid_subject; /* mailto: or https: contact */
	long push_ttl;             /* seconds */
	const char *smtp_url;      /* smtp://host:port or smtps:// */
	const char *smtp_from;
	int smtp_starttls;         /* require STARTTLS on smtp:// */
	const char *link_base;     /* sessd URL for links, or NULL */
	const char *cainfo;        /* CA bundle, or NULL for the system's */
	long timeout_ms;
};
struct sess_send;
/*
 * A request for no (borrowed until sess_send_free()); NULL with
 * SESS_EINVAL if the row can never be sent (the reason in e).
 */
struct sess_send *sess_send_new(const struct sess_note *no,
    const struct sess_send_cfg *cfg, struct sess_err *e);
void sess_send_free(struct sess_send *s);
void *sess_send_handle(const struct sess_send *s);
/* Sets no->result, error and retry_after from the transfer's end. */
void sess_send_result(struct sess_send *s, int code, struct sess_note *no);
/* The notification as one JSON line (new): webhook body, -o output. */
char *sess_send_line(const struct sess_note *no, const char *link_base);

#endif
