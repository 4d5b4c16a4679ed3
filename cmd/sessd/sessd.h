/* sessd.h: what the files of sessd share. */
#ifndef SESSD_H
#define SESSD_H

#include <stdarg.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "sess.h"

/* Limits.  Every buffer a client can fill has one of these caps. */
#define HEAD_MAX SESS_HTTP_HEAD_MAX /* request line and headers */
#define OUT_MAX (4 * 1024 * 1024) /* queued response bytes per connection */
#define LIVE_MAX (1024 * 1024)    /* queued live bytes before a reader is cut */
#define LIVE_TOTAL_MAX ((size_t)256 * 1024 * 1024) /* queued, all readers */
#define CHUNK_READ (256 * 1024)   /* data read from the store per refill */
#define REQ_TIMEOUT_MS 10000      /* to send a head, or the next of a body */
#define IDLE_TIMEOUT_MS 60000     /* keep-alive between requests */
#define SSE_MAX_MS 60000          /* SSE responses end after this */
#define SSE_PING_MS 15000         /* comment lines keep proxies awake */
#define ID_MAX 1024               /* producer ids, Stream-Seq values */

enum {
	M_GET, M_HEAD, M_POST, M_PUT, M_DELETE, M_OPTIONS, M_PATCH, M_OTHER
};

/* One request.  Its strings point into http.head. */
struct req {
	struct sess_http_req http;    /* the head, as lib/http.c read it */
	int method;
	const char *method_name;
	char *target;                 /* origin form */
	const char *query;            /* after the '?' of target, or NULL */
	int minor;                    /* HTTP/1.minor */
	int close;                    /* the connection closes after it */
	struct sess_buf body;
	struct sess_http_chunked ck;  /* a chunked body's decoder */
};

/* How a response's body is framed. */
enum { B_NONE, B_LENGTH, B_CHUNKED, B_CLOSE };

struct conn;
struct topic;
struct job;
struct wsatt;

/*
 * A reader that is no HTTP response (a WebSocket attachment) takes what
 * the fan-out read through these, so that the fan-out calls no protocol
 * file by name.
 */
struct fanout_att {
	/*
	 * The frame of the new events (from, last]: 0, or -1 if the reader
	 * is behind, and the fan-out lets it go to catch up by itself.
	 */
	int (*deliver)(struct fanout_att *a, int64_t from, int64_t last,
	    const void *frame, size_t len, size_t *total);
	/* Its stream was closed (gone 0) or deleted. */
	void (*end)(struct fanout_att *a, const struct sess_ds_info *s,
	    int gone);
};
struct wsconn;
struct auth;

/* A reader waiting for new events (a long-poll or an SSE response). */
struct waiter {
	struct waiter *next, *prev;
	struct topic *t;
	int sse;
	int64_t pos;                  /* what it has (seq) */
	int64_t cursor;               /* the lowest cursor it may be given */
	/* GET /v1/events long-polls: event lines, maybe of some types */
	int events;
	char *type, *sj;
	struct fanout_att *att;       /* a WebSocket attachment's, or NULL */
};

/* A catch-up body being written in pieces. */
struct feed {
	struct sess_ds_info s;
	int64_t pos, end;             /* written up to pos, stop at end */
	int json, first, sse, ended;
	int64_t cursor;
	char *name;                   /* for SSE, to wait when caught up */
	/* Writes the next piece: 0, or -1 if it closed c. */
	int (*more)(struct conn *c);
};

struct conn {
	struct lws *wsi;
	struct conn *next, *prev;
	int state;
	struct sess_buf in;           /* received, not yet consumed */
	struct sess_buf out;          /* to write: out.p[out_off..out.len) */
	size_t out_off;               /* written already */
	struct conn *dnext;           /* in the list of connections to flush */
	int dirty;                    /* on that list */
	struct req req;
	int body_mode;                /* B_*, of the response being written */
	int responded;                /* the response head is out */
	int done;                     /* the response is complete */
	int close;                    /* close once out is written */
	int status;
	size_t sent;                  /* response bytes, for the log */
	int64_t t0;
	lws_sorted_usec_list_t timer; /* head, body, idle and poll timeouts */
	void (*timer_fn)(struct conn *);
	int heading;                  /* a head's deadline is running */
	int paused;                   /* reading off till the request ends */
	int64_t discard;              /* body bytes to drop after a refusal */
	lws_sorted_usec_list_t ping;  /* SSE keep-alive and end */
	int64_t sse_until;
	struct waiter w;
	struct feed feed;
	int feeding;
	struct job *job;              /* in flight at the writer */
	struct wsconn *ws;            /* upgraded to a WebSocket */
	char peer[64];
};

enum { C_HEAD, C_BODY, C_BUSY, C_WS, C_CLOSED };

/* The daemon. */
struct sessd {
	/* After a commit: live readers look (sessd.c, for those below). */
	void (*wake)(void);
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct sess_store *rd;        /* reads, on the loop thread */
	struct sess_watch *watch;
	const char *db;
	int sync;
	int verbose;
	int64_t poll_ms;
	int64_t req_ms;               /* a request's head, a body's progress */
	size_t max_body;
	int max_conns, nconns;
	int stopping;
	struct conn *conns;
	char listen_url[256];
};
extern struct sessd *sd;

/* sessd-http.c: the HTTP/1.1 wire and connections. */
extern const struct lws_protocols http_protocol;
const char *req_header(const struct req *r, const char *name);
void conn_close(struct conn *c);
/* Starts a response: status line and the headers every response has. */
void resp_start(struct conn *c, int status);
void resp_header(struct conn *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Ends the head; mode is B_*, len the length for B_LENGTH. */
void resp_head_end(struct conn *c, int mode, size_t len);
int resp_body(struct conn *c, const void *p, size_t n);
/*
 * A piece of a chunked body written straight into the output: begin
 * returns the buffer to add the piece to (NULL if the response is not
 * chunked or c is closed) and its mark; end frames what was added.
 */
struct sess_buf *resp_piece_begin(struct conn *c, size_t *mark);
int resp_piece_end(struct conn *c, size_t mark);
/* The response is complete: the connection takes the next request. */
void resp_finish(struct conn *c);
/*
 * A whole response with a JSON error body, its status and code the error
 * table's (lib/status.c) for library error rc and why (SESS_WHY_*), with
 * extra header lines ("Name: value\r\n"...) if not NULL.
 */
int resp_fail(struct conn *c, int rc, int why, const char *extra,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same for a library error e, its message the answer's. */
int resp_err(struct conn *c, int rc, const struct sess_err *e);
/* A whole response with a JSON error body. */
int resp_error(struct conn *c, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same with extra header lines ("Name: value\r\n"...). */
int resp_error_with(struct conn *c, int status, const char *code,
    const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void resp_simple(struct conn *c, int status, const char *type,
    const void *body, size_t len);
size_t conn_queued(const struct conn *c);
/* The response bytes queued on every connection together. */
size_t conns_queued(void);
/*
 * Makes room for more bytes of output under LIVE_TOTAL_MAX: writes out
 * what the sockets take, then closes the connections with the most left
 * queued (the slowest readers; they resume from their offsets).
 * Returns the bytes queued now.
 */
size_t conns_cull(size_t more);
/* Queues c to be written out; conns_flush() writes every one queued. */
void conn_kick(struct conn *c);
void conns_flush(void);
void conn_timer(struct conn *c, int64_t ms, void (*fn)(struct conn *));
void conns_stop(void);
/* Queues raw bytes on c (a WebSocket's frames) and kicks it. */
int conn_write(struct conn *c, const void *p, size_t n);
/* Asks for a writeable callback on c. */
void conn_want_write(struct conn *c);
/* Closes c once what is queued is written. */
void conn_close_after(struct conn *c);
/* The 101 head is queued: c carries WebSocket frames from now on. */
void conn_upgraded(struct conn *c, struct wsconn *ws);

/* sessd-query.c: percent-decoding, query parameters. */
/* Percent-decodes p[0..n) into out; -1 on a bad escape or no room. */
long pct_decode(const char *p, size_t n, char *out, size_t size, int plus);
/* A query parameter, decoded; 0, or -1 if absent or bad. */
int query_get(const char *q, const char *name, char *out, size_t size);

/*
 * sessd-route.c: the route table.  A handler gets arg, the decoded stream
 * name (or the rest of a reserved path, or the path), and qs, the query
 * ("" if none), once the router has checked the name, the method and the
 * token for what the row needs.  It answers, now or later; 0.
 */
typedef int route_fn(struct conn *c, const char *arg, const char *qs);
void route(struct conn *c);

/* sessd-ds.c: the Durable Streams protocol at /v1/stream/. */
route_fn ds_read, ds_post, ds_put, ds_delete, ds_options;

/* sessd-ext.c: sess's own extensions (event lines, messages, appends). */
route_fn ext_events, ext_messages, ext_metrics, ext_append;
/*
 * Event lines of batch for a /v1/events waiter, of the types in the list
 * types (see sessd-ext.c) unless NULL; 1 if any were added.
 */
int ext_lines(struct sess_buf *out, const char *sj, const char *types,
    const struct sess_event *evs, size_t n);

/* sessd-www.c: the demo page and sess.js, compiled in ($(BUILD)/cmd/www.c). */
#define WWW_FILES_MAX 16
struct www_file {
	const char *path;             /* "/", "/sess.js", ... */
	const char *type;             /* Content-Type */
	const unsigned char *data;
	size_t len;
};
extern const struct www_file www_files[];
extern const size_t www_nfiles;
/* The file of www_files at path, or NULL. */
const struct www_file *www_find(const char *path);
/* Answers GET and HEAD on the file at path. */
route_fn www_serve;

/* sessd-push.c: GET /v1/push/vapid, POST /v1/push/subscriptions. */
route_fn push_vapid, push_subscribe;

/* sessd-notify.c: /v1/notify/, the outbox for sess-notify -u. */
route_fn notify_http;

/* sessd-sub.c: the reserved subscription APIs under /v1/stream/__ds/. */
route_fn sub_route;
/* A stream changed (created or appended to): subscriptions look. */
void sub_notify(const char *name);
/* Collects webhook answers (after lws_cancel_service()). */
void sub_wakeup(void);
int sub_init(void);
void sub_fini(void);
/*
 * Writes a record of the store (json NULL deletes it; json is taken)
 * through the writer; then, if c, answers status with body (taken).
 */
void record_save(const char *kind, const char *key, char *json,
    struct conn *c, int status, json_t *body);

/* sessd-hook.c: webhook POSTs, signed, from their own thread. */
int hook_init(void);
void hook_fini(void);
/* 1 if url may be posted to, else 0 with the reason in why. */
int hook_url_ok(const char *url, char *why, size_t size);
/* Queues a signed POST of body to url, for subscription sub. */
int hook_post(const char *sub, int64_t generation, const char *url,
    const char *body);
/* On the loop thread: calls fn with each answer that came back. */
void hook_collect(void (*fn)(const char *sub, int64_t generation, int ok,
    long status, const char *resp, size_t len));
int hook_jwks(struct conn *c);
const char *hook_kid(void);
/* bytes random bytes as hex into out (2 * bytes + 1). */
void hook_random(char *out, size_t bytes);
/* The cursor floor for a request's cursor parameter (or NULL). */
int64_t cursor_floor(const char *client);
/* The cursor to give now: the current interval, never below floor. */
int64_t cursor_value(int64_t floor);
void ds_job_done(struct job *j);
/* A read's answer: 200 with body, or 204 when a long-poll waited. */
void lp_respond(struct conn *c, const struct sess_ds_info *s, int64_t next,
    const void *body, size_t len, int uptodate, int closed, int64_t cursor,
    int status);

/* sessd-fanout.c: live readers. */
int fanout_wait(struct conn *c, const struct sess_ds_info *s,
    const char *name, int64_t pos, int sse, int64_t cursor);
/*
 * As fanout_wait() for event lines, of the types in the list type (see
 * ext_lines()) unless NULL; type and sj are taken.
 */
int fanout_wait_events(struct conn *c, const struct sess_ds_info *s,
    const char *name, int64_t pos, char *type, char *sj, int64_t ms);
void fanout_leave(struct conn *c);
/* One read of a stream's events, as the fan-out keeps them. */
struct fanout_batch {
	struct sess_buf data;         /* the events' bytes, end to end */
	struct sess_event *ev;        /* their seq, time, type; data */
	size_t n, cap;
	int64_t last;                 /* seq of the last event */
};
/* Reads the events of s in (after, upto], about max bytes; NULL on error. */
struct fanout_batch *fanout_read(const struct sess_ds_info *s, int64_t after,
    int64_t upto, size_t max);
void fanout_batch_free(struct fanout_batch *b);
/*
 * w (a WebSocket attachment's waiter) joins the topic of name at pos:
 * 0 when it waits there, 1 if the topic is elsewhere (read on first).
 */
int fanout_join(struct waiter *w, const struct sess_ds_info *s,
    const char *name, int64_t pos);
void fanout_unlink(struct waiter *w);
void fanout_poll(void);
void fanout_stop(void);
int fanout_count(int *topics);
void sse_frames(struct sess_buf *b, const struct sess_ds_info *s,
    const struct sess_event *evs, size_t n);
int sse_control(struct conn *c, int64_t next, int64_t cursor, int uptodate,
    int closed);
/*
 * Writes the next piece of an SSE backlog, events (*pos, end] of s: a
 * data event and its control event.  *ended is set if that control
 * ended the stream.  Returns the events written, or -1.
 */
int sse_backlog(struct conn *c, const struct sess_ds_info *s, int64_t *pos,
    int64_t end, int64_t cursor, int *ended);

/*
 * sessd-deliver.c: the bytes each kind of live reader gets from one read
 * of a stream (a struct fanout_batch), for the fan-out and the catch-up
 * paths alike.
 */
/* The body a long-poll gets: a JSON array, or the bytes end to end. */
void lp_body(struct sess_buf *out, const struct sess_ds_info *s,
    const struct fanout_batch *b);
/* out is the SSE data event of b. */
void batch_sse(struct sess_buf *out, const struct sess_ds_info *s,
    const struct fanout_batch *b);
/* The SSE control event after data up to next, in buf (256 bytes). */
int control_fmt(char *buf, size_t size, int64_t next, int64_t cursor,
    int uptodate, int closed);
/* Appends a whole WebSocket frame to b. */
int ws_frame_add(struct sess_buf *b, int op, const void *p, size_t len);

/* sessd-ws.c: the WebSocket protocol at /v1/ws. */
route_fn ws_upgrade;
int ws_rx(struct conn *c, const void *p, size_t n);
void ws_writeable(struct conn *c);
void ws_free(struct conn *c);
void ws_poll(void);
void ws_stop(void);
int ws_count(void);
/* The frame of an events push, for every attachment of a topic. */
void ws_events_frame(struct sess_buf *out, const char *sj,
    const struct sess_ds_info *s, const struct sess_event *evs, size_t n);
/* A transition from presence_poll(), as a push frame's JSON text. */
void ws_presence(const char *stream, const char *frame, size_t len);

/*
 * sessd-presence.c: presence, read cursors and run leases (HTTP routes,
 * timers, the writer jobs the WebSocket code calls).
 */
/* Timers: renew this sessd's rows, sweep, run-lease expiry. */
int presence_init(int64_t grace_ms);
void presence_fini(void);
int64_t presence_grace_ms(void);
/* This sessd's holder id. */
const char *presence_holder(void);
/*
 * A transition of connection conn ("enter", "update", "leave"; leave =
 * explicit) through the writer; done(arg, rc, msg) on the loop thread
 * after the commit, may be NULL.  data: JSON text or NULL.
 */
int presence_set(const char *stream, const char *member, const char *conn,
    const char *event, const char *data, void (*done)(void *arg, int rc,
    const char *msg), void *arg);
/*
 * A connection went: clean -> leave/explicit at once for all its rows;
 * abrupt -> its rows expire after the grace.
 */
void presence_conn_gone(const char *conn, int clean);
/* The current set, new reference (NULL on a store error). */
json_t *presence_members(const char *stream);
/*
 * On every wake-up (fanout_poll() calls it): new transitions go to
 * ws_presence() and to HTTP watchers.
 */
void presence_poll(void);
/* Moves member's cursor on stream forward to seq, through the writer. */
int cursor_set(const char *stream, const char *member, int64_t seq,
    void (*done)(void *arg, int rc, int64_t unread, const char *msg),
    void *arg);
/* /v1/presence/NAME and /v1/cursors/NAME. */
route_fn presence_get, presence_post, cursors_http;
/* At shutdown: HTTP watchers are answered and let go. */
void presence_stop(void);
/* An HTTP connection is freed: it watches no more. */
void presence_conn_free(struct conn *c);

/* sessd-writer.c: the writer thread and its jobs. */
enum { J_CREATE, J_APPEND, J_DELETE, J_TOUCH, J_EXPIRE, J_SESS_APPEND,
	J_FUNC };
struct job {
	struct job *next;
	int kind;
	struct conn *c;
	struct sess_ds_req req;
	char *own[8];                 /* copies the req points into */
	int nown;
	struct sess_buf body;
	int rc, failure;
	struct sess_err err;
	struct sess_ds_ack ack;
	void (*done)(struct job *);   /* on the loop thread */
	/* J_FUNC: any write, run by the writer inside the batch */
	int (*fn)(struct sess_store *st, struct job *j);
	void *arg;
	/* J_SESS_APPEND */
	struct sess_item *items;
	struct sess_ack *acks;
	size_t n;
	int flags;
	struct sess_producer pr;
	int has_pr;
	/* J_EXPIRE */
	int expired;
};
struct job *job_new(int kind, struct conn *c);
void job_free(struct job *j);
/* Copies s into the job; the copy lives as long as the job. */
const char *job_str(struct job *j, const char *s);
void job_submit(struct job *j);
int writer_start(const char *db, int flags, struct sess_err *e);
void writer_stop(void);
void writer_collect(void);
int writer_idle(void);
int writer_inflight(void);

/*
 * sessd-auth.c: access tokens (-k KEYFILE).  Capabilities are the
 * SESS_CAP_* bits of lib/token.c.  Without a key every check passes.
 */
struct auth;                      /* the verified claims of a token */
int auth_init(const char *keyfile, struct sess_err *e);
void auth_fini(void);
int auth_enabled(void);
/* Verifies token: 0 with a new *out, or -1 with the reason in why. */
int auth_parse(const char *token, struct auth **out, char *why, size_t size);
void auth_free(struct auth *a);
/* Whether a (NULL: none) allows cap on stream; 1 when auth is off. */
int auth_allows(const struct auth *a, const char *stream, int cap);
/* The token's sub (borrowed from a), and its exp in seconds. */
const char *auth_subject(const struct auth *a);
int64_t auth_expires(const struct auth *a);
/*
 * The request's token, from "Authorization: Bearer" or else ?token=,
 * into out; -1 if there is none (or it does not fit).
 */
int auth_token(struct conn *c, char *out, size_t size);
/*
 * Checks the request's token for cap on stream (cap 0: any valid token).
 * Returns 0 if allowed (or auth is off); else answers 401 UNAUTHORIZED
 * or 403 FORBIDDEN with a JSON body, the same whether the stream exists
 * or not, and returns -1: the handler returns at once.
 */
int auth_http(struct conn *c, const char *stream, int cap);
/*
 * As auth_http(), and acting for member (NULL: nobody in particular)
 * needs the token's sub to be member, or admin on stream besides.
 */
int auth_http_member(struct conn *c, const char *stream, int cap,
    const char *member);
/* target for the log, with token values left out (in buf if need be). */
const char *auth_log_target(const char *target, char *buf, size_t size);

/* sessd.c */
void logx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
