/* sessd-http.c: HTTP/1.1 over lws raw sockets: requests in, responses out. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sessd.h"

/*
 * sessd parses HTTP itself rather than through lws's HTTP role: lws
 * 4.1 rewrites the request target before anyone sees it (it decodes
 * %XX, drops control bytes, turns '+' into a space, folds "/../" and
 * drops the connection on %00), so a bad stream name could not be told
 * from a good one, nor refused with a proper status.  lws still runs
 * the event loop, the sockets, the timers and the wake-ups.
 */

#define LOW_WATER (64 * 1024)  /* refill a feed below this */
#define PIPELINE_MAX (256 * 1024) /* queued output before reading on */
#define FEED_ROUNDS 16         /* refills of a feed per writeable */

/*
 * Output is written straight to the socket, without waiting for a
 * writeable callback: a connection given something to write goes on
 * the flush list, which is written out at the end of the callback
 * that filled it (or, from a timer, on the next loop turn).  Only what
 * the socket would not take waits for a writeable callback, which also
 * does the rarer work: feeding a long body, closing, reading on.
 */
static struct conn *flush_head, *flush_tail;
static lws_sorted_usec_list_t flush_sul;

static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

/* The M_* of a method's name. */
static int
method_of(const char *name)
{
	static const char *const methods[] = {
		[M_GET] = "GET", [M_HEAD] = "HEAD", [M_POST] = "POST",
		[M_PUT] = "PUT", [M_DELETE] = "DELETE",
		[M_OPTIONS] = "OPTIONS", [M_PATCH] = "PATCH",
	};
	int i;

	for (i = 0; i < M_OTHER; i++)
		if (strcmp(name, methods[i]) == 0)
			return i;
	return M_OTHER;
}

const char *
req_header(const struct req *r, const char *name)
{
	/* An absolute-form target's authority replaces Host (9112, 3.2.2). */
	if (r->http.authority != NULL && strcasecmp(name, "Host") == 0)
		return r->http.authority;
	return sess_http_field(&r->http, name);
}

static void
req_reset(struct req *r)
{
	sess_http_req_release(&r->http);
	sess_buf_release(&r->body);
	memset(r, 0, sizeof(*r));
	sess_http_req_init(&r->http);
}

size_t
conn_queued(const struct conn *c)
{
	return c->out.len - c->out_off;
}

/*
 * A large buffer goes once it is written out, so that what one large
 * answer to many readers took does not stay taken by all of them.
 */
#define OUT_KEEP (64 * 1024)

static void
out_reset(struct conn *c)
{
	c->out.len = c->out_off = 0;
	/* Idle WebSockets are many: they keep no buffers. */
	if (c->out.size > OUT_KEEP || c->state == C_WS)
		sess_buf_release(&c->out);
	if (c->out.p != NULL)
		c->out.p[0] = '\0';
}

/* Drops the written part of the output, moving the rest to the front. */
static void
out_compact(struct conn *c)
{
	sess_buf_consume(&c->out, c->out_off);
	c->out_off = 0;
}

/*
 * Writes what is queued, as much as the socket takes now.  Returns 0,
 * or -1 if the connection failed.
 */
static int
out_send(struct conn *c)
{
	int fd = lws_get_socket_fd(c->wsi);
	ssize_t n;

	while (c->out_off < c->out.len) {
		n = send(fd, c->out.p + c->out_off, c->out.len - c->out_off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	out_reset(c);
	return 0;
}

static void
flush_unlink(struct conn *c)
{
	struct conn **pp, *prev = NULL;

	if (!c->dirty)
		return;
	for (pp = &flush_head; *pp != NULL; prev = *pp, pp = &(*pp)->dnext)
		if (*pp == c) {
			*pp = c->dnext;
			if (flush_tail == c)
				flush_tail = prev;
			break;
		}
	c->dnext = NULL;
	c->dirty = 0;
}

/* Writes what c has queued; the writeable callback does the rest. */
static void
conn_push(struct conn *c)
{
	if (c->state != C_CLOSED || conn_queued(c) > 0) {
		if (out_send(c) != 0) {
			conn_close(c);
			return;
		}
	}
	if (conn_queued(c) > 0 || c->feeding || c->state == C_CLOSED ||
	    c->paused || (c->state == C_HEAD && c->in.len > 0))
		lws_callback_on_writable(c->wsi);
}

void
conns_flush(void)
{
	struct conn *c;

	if (flush_head == NULL)
		return;
	lws_sul_cancel(&flush_sul);
	while ((c = flush_head) != NULL) {
		flush_head = c->dnext;
		if (flush_head == NULL)
			flush_tail = NULL;
		c->dnext = NULL;
		c->dirty = 0;
		conn_push(c);
	}
}

size_t
conns_queued(void)
{
	struct conn *c;
	size_t n = 0;

	for (c = sd->conns; c != NULL; c = c->next)
		n += conn_queued(c);
	return n;
}

static int
by_queued(const void *a, const void *b)
{
	size_t x = conn_queued(*(struct conn *const *)a);
	size_t y = conn_queued(*(struct conn *const *)b);

	return x < y ? 1 : x > y ? -1 : 0;
}

size_t
conns_cull(size_t more)
{
	struct conn *c, **v;
	size_t total, n = 0, i, closed = 0, freed = 0;

	conns_flush();
	if ((total = conns_queued()) + more <= LIVE_TOTAL_MAX)
		return total;
	if ((v = calloc((size_t)sd->nconns + 1, sizeof(*v))) == NULL)
		return total;
	for (c = sd->conns; c != NULL && n <= (size_t)sd->nconns; c = c->next)
		if (c->state != C_CLOSED && conn_queued(c) > 0)
			v[n++] = c;
	qsort(v, n, sizeof(*v), by_queued);
	for (i = 0; i < n && total + more > LIVE_TOTAL_MAX; i++) {
		total -= conn_queued(v[i]);
		freed += conn_queued(v[i]);
		closed++;
		conn_close(v[i]);
	}
	free(v);
	if (closed > 0)
		logx("output queued past %zu bytes: closed the %zu slowest "
		    "readers (%zu bytes)", LIVE_TOTAL_MAX, closed, freed);
	return total;
}

static void
flush_tick(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	conns_flush();
}

void
conn_kick(struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	c->dnext = NULL;
	if (flush_tail != NULL) {
		flush_tail->dnext = c;
	} else {
		flush_head = c;
		/* From a timer, say: the next loop turn flushes it. */
		lws_sul_schedule(sd->ctx, 0, &flush_sul, flush_tick, 1);
	}
	flush_tail = c;
}

/* Closes at once, whatever is queued. */
void
conn_close(struct conn *c)
{
	c->state = C_CLOSED;
	out_reset(c);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void
on_timeout(struct conn *c)
{
	conn_close(c);
}

static void
timer_cb(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, timer);
	void (*fn)(struct conn *) = c->timer_fn;

	c->timer_fn = NULL;
	if (fn != NULL)
		fn(c);
}

void
conn_timer(struct conn *c, int64_t ms, void (*fn)(struct conn *))
{
	c->timer_fn = fn;
	if (fn == NULL) {
		lws_sul_cancel(&c->timer);
		return;
	}
	lws_sul_schedule(sd->ctx, 0, &c->timer, timer_cb,
	    (lws_usec_t)ms * 1000);
}

static int
out_add(struct conn *c, const void *p, size_t n)
{
	if (c->state == C_CLOSED)
		return -1;
	/* The written part goes once it is as big as the rest. */
	if (c->out_off > 0 && c->out_off >= c->out.len - c->out_off)
		out_compact(c);
	if (sess_buf_add(&c->out, p, n) != 0) {
		if (c->out_off == 0)
			return -1;
		out_compact(c);
		if (sess_buf_add(&c->out, p, n) != 0)
			return -1;
	}
	return 0;
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	if (out_add(c, p, n) != 0)
		return -1;
	conn_kick(c);
	return 0;
}

void
conn_want_write(struct conn *c)
{
	if (c->state != C_CLOSED)
		lws_callback_on_writable(c->wsi);
}

void
conn_close_after(struct conn *c)
{
	c->state = C_CLOSED;
	conn_kick(c);
}

static void
out_printf(struct conn *c, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	out_add(c, line, (size_t)n);
}

void
resp_start(struct conn *c, int status)
{
	c->status = status;
	c->sent = 0;
	c->responded = 1;
	out_printf(c, "HTTP/1.1 %d %s\r\n", status, reason(status));
	out_printf(c, "X-Content-Type-Options: nosniff\r\n"
	    "Cross-Origin-Resource-Policy: cross-origin\r\n"
	    "Access-Control-Allow-Origin: *\r\n"
	    "Access-Control-Expose-Headers: Stream-Next-Offset, "
	    "Stream-Cursor, Stream-Up-To-Date, Stream-Closed, Stream-TTL, "
	    "Stream-Expires-At, Stream-SSE-Data-Encoding, ETag, Location, "
	    "Producer-Epoch, Producer-Seq, Producer-Expected-Seq, "
	    "Producer-Received-Seq\r\n");
}

void
resp_header(struct conn *c, const char *name, const char *fmt, ...)
{
	char v[1800];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	out_printf(c, "%s: %s\r\n", name, v);
}

void
resp_head_end(struct conn *c, int mode, size_t len)
{
	if (mode == B_CHUNKED && c->req.minor == 0)
		mode = B_CLOSE;
	if (mode == B_CLOSE || c->req.close || sd->stopping)
		c->close = 1;
	if (c->req.method == M_HEAD && mode != B_LENGTH)
		mode = B_NONE;
	if (mode == B_LENGTH)
		out_printf(c, "Content-Length: %zu\r\n", len);
	else if (mode == B_CHUNKED)
		out_printf(c, "Transfer-Encoding: chunked\r\n");
	if (c->close)
		out_printf(c, "Connection: close\r\n");
	else if (c->req.minor == 0)
		out_printf(c, "Connection: keep-alive\r\n");
	out_add(c, "\r\n", 2);
	c->body_mode = mode;
	conn_kick(c);
}

int
resp_body(struct conn *c, const void *p, size_t n)
{
	char size[32];
	int k;

	if (n == 0 || c->req.method == M_HEAD || c->body_mode == B_NONE)
		return 0;
	c->sent += n;
	if (c->body_mode == B_CHUNKED) {
		k = snprintf(size, sizeof(size), "%zx\r\n", n);
		if (out_add(c, size, (size_t)k) != 0 || out_add(c, p, n) != 0 ||
		    out_add(c, "\r\n", 2) != 0)
			return -1;
	} else if (out_add(c, p, n) != 0) {
		return -1;
	}
	conn_kick(c);
	return 0;
}

/* Leading zeros keep the size line one width, to be filled in later. */
#define PIECE_HEAD "00000000\r\n"
#define PIECE_HEAD_LEN 10

struct sess_buf *
resp_piece_begin(struct conn *c, size_t *mark)
{
	if (c->state == C_CLOSED || c->body_mode != B_CHUNKED ||
	    c->req.method == M_HEAD)
		return NULL;
	if (c->out_off > 0 && c->out_off >= c->out.len - c->out_off)
		out_compact(c);
	*mark = c->out.len;
	if (sess_buf_add(&c->out, PIECE_HEAD, PIECE_HEAD_LEN) != 0)
		return NULL;
	return &c->out;
}

int
resp_piece_end(struct conn *c, size_t mark)
{
	char size[32];
	size_t n = c->out.len - mark - PIECE_HEAD_LEN;

	if (n == 0) {
		/* An empty chunk would end the body: none at all. */
		c->out.len = mark;
		c->out.p[mark] = '\0';
		return 0;
	}
	if (n > 0xffffffffu)
		return -1;
	snprintf(size, sizeof(size), "%08x\r\n", (unsigned)n);
	memcpy(c->out.p + mark, size, PIECE_HEAD_LEN);
	c->sent += n;
	if (sess_buf_add(&c->out, "\r\n", 2) != 0)
		return -1;
	conn_kick(c);
	return 0;
}

void
resp_finish(struct conn *c)
{
	double ms = (double)(lws_now_usecs() - c->t0) / 1000.0;

	if (c->state == C_CLOSED && conn_queued(c) == 0) {
		/* Cut off already: nothing more goes out. */
		c->feeding = 0;
		c->responded = 0;
		req_reset(&c->req);
		return;
	}

	if (c->body_mode == B_CHUNKED && c->req.method != M_HEAD)
		out_add(c, "0\r\n\r\n", 5);
	if (sd->verbose) {
		char lt[256];

		/* Tokens in query strings stay out of the log. */
		logx("%s \"%s %.200s\" %d %zu %.1fms", c->peer,
		    c->req.method_name ? c->req.method_name : "-",
		    c->req.target ? auth_log_target(c->req.target, lt,
		    sizeof(lt)) : "-", c->status, c->sent, ms);
	}
	c->feeding = 0;
	c->responded = 0;
	if (sd->stopping)
		c->close = 1;
	if (c->close) {
		if (c->state != C_CLOSED)
			c->state = C_CLOSED;
	} else {
		c->state = C_HEAD;
		conn_timer(c, IDLE_TIMEOUT_MS, on_timeout);
	}
	req_reset(&c->req);
	/* A pipelined request is read on from the writeable callback. */
	conn_kick(c);
}

void
resp_simple(struct conn *c, int status, const char *type, const void *body,
    size_t len)
{
	resp_start(c, status);
	if (type != NULL && len > 0)
		resp_header(c, "Content-Type", "%s", type);
	if (status == 204 || status == 304)
		resp_head_end(c, B_NONE, 0);
	else
		resp_head_end(c, B_LENGTH, len);
	resp_body(c, body, len);
	resp_finish(c);
}

static void
json_escape(struct sess_buf *b, const char *s)
{
	json_t *v = json_string(s);
	char *t = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	if (t != NULL)
		sess_buf_add(b, t, strlen(t));
	else
		sess_buf_add(b, "\"\"", 2);
	free(t);
	json_decref(v);
}

static void
error_va(struct conn *c, int status, const char *code, const char *extra,
    const char *fmt, va_list ap)
{
	struct sess_buf b;
	char msg[600];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	sess_buf_init(&b, 4096);
	sess_buf_add(&b, "{\"error\":{\"code\":\"", 18);
	sess_buf_add(&b, code, strlen(code));
	sess_buf_add(&b, "\",\"message\":", 12);
	json_escape(&b, msg);
	sess_buf_add(&b, "}}", 2);
	resp_start(c, status);
	if (extra != NULL)
		out_add(c, extra, strlen(extra));
	resp_header(c, "Content-Type", "application/json");
	resp_header(c, "Cache-Control", "no-store");
	resp_head_end(c, B_LENGTH, b.len);
	resp_body(c, b.p, b.len);
	resp_finish(c);
	sess_buf_release(&b);
}

int
resp_error(struct conn *c, int status, const char *code, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_va(c, status, code, NULL, fmt, ap);
	va_end(ap);
	return 0;
}

int
resp_error_with(struct conn *c, int status, const char *code,
    const char *extra, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_va(c, status, code, extra, fmt, ap);
	va_end(ap);
	return 0;
}

int
resp_fail(struct conn *c, int rc, int why, const char *extra,
    const char *fmt, ...)
{
	const struct sess_status *s = sess_status_of(rc, why);
	va_list ap;

	va_start(ap, fmt);
	error_va(c, s->status, s->name, extra, fmt, ap);
	va_end(ap);
	return 0;
}

int
resp_err(struct conn *c, int rc, const struct sess_err *e)
{
	return resp_fail(c, rc, sess_status_why(rc, e->failure, 0, 0), NULL,
	    "%s", e->msg);
}

static void refuse(struct conn *c, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Refuses a request that cannot be read on: the connection closes. */
static void
refuse(struct conn *c, int status, const char *code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->req.close = 1;
	resp_error(c, status, code, "%s", msg);
}

/*
 * The error code of a status a head is refused with, from the error
 * table: its first row of that status (a 503 here is memory).
 */
static const char *
head_code(int status)
{
	const struct sess_status *s = status == 503 ?
	    sess_status_of(SESS_ENOMEM, SESS_WHY_NONE) :
	    sess_status_find(status, NULL);

	return s != NULL ? s->name : "BAD_REQUEST";
}

/*
 * Takes a complete head off the input; 0 if more is needed.  A head
 * lib/http.c refuses leaves the input unframed: the connection closes
 * after the answer, so nothing after it is read as a request.
 */
static int
take_head(struct conn *c)
{
	struct req *r = &c->req;
	struct sess_err e;
	long len;

	if ((len = sess_http_head(&r->http, c->in.p, c->in.len, &e)) == 0)
		return 0;
	c->t0 = lws_now_usecs();
	if (len < 0) {
		refuse(c, r->http.status, head_code(r->http.status), "%s",
		    e.msg);
		return -1;
	}
	sess_buf_consume(&c->in, (size_t)len);
	r->method = method_of(r->http.method);
	r->method_name = r->http.method;
	r->target = r->http.target;
	r->query = r->http.query;
	r->minor = r->http.minor;
	r->close = r->http.close;
	sess_http_chunked_init(&r->ck);
	sess_buf_init(&r->body, sd->max_body);
	return 1;
}

static void
too_large(struct conn *c)
{
	refuse(c, 413, "PAYLOAD_TOO_LARGE", "body larger than the limit of "
	    "%zu bytes (sessd -b raises it)", sd->max_body);
}

/* Moves body bytes from the input; 1 when the body is complete. */
static int
take_body(struct conn *c)
{
	struct req *r = &c->req;
	struct sess_err e;
	const char *data;
	size_t n, used;
	int rc;

	if (!r->http.chunked) {
		n = (size_t)(r->http.clen - (int64_t)r->body.len);
		if (n > c->in.len)
			n = c->in.len;
		if (sess_buf_add(&r->body, c->in.p, n) != 0) {
			too_large(c);
			return -1;
		}
		sess_buf_consume(&c->in, n);
		return (int64_t)r->body.len == r->http.clen;
	}
	do {
		rc = sess_http_chunked(&r->ck, c->in.p, c->in.len, &used,
		    &data, &n, &e);
		if (rc < 0) {
			refuse(c, 400, "BAD_REQUEST", "%s", e.msg);
			return -1;
		}
		/* A chunk that cannot fit is refused before it comes. */
		if ((n > 0 && sess_buf_add(&r->body, data, n) != 0) ||
		    r->ck.left > sd->max_body - r->body.len) {
			too_large(c);
			return -1;
		}
		sess_buf_consume(&c->in, used);
	} while (rc == 0 && c->in.len > 0);
	return rc;
}

static void
drive(struct conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	int rc;

	for (;;) {
		if (c->state == C_HEAD) {
			if (c->in.len == 0 || conn_queued(c) > PIPELINE_MAX)
				return;
			if ((rc = take_head(c)) <= 0) {
				/*
				 * The whole head must come within the
				 * timeout of its first byte, however slowly
				 * it dribbles in.
				 */
				if (rc == 0 && !c->heading) {
					c->heading = 1;
					conn_timer(c, sd->req_ms, on_timeout);
				}
				return;
			}
			c->heading = 0;
			c->state = C_BODY;
			if (c->req.http.clen > 0 &&
			    (uint64_t)c->req.http.clen > sd->max_body) {
				/*
				 * Unless it waits for 100-continue, the
				 * client is sending the body: it is read and
				 * dropped, so that it sees the answer
				 * rather than a reset.
				 */
				if (!c->req.http.expect) {
					c->discard = c->req.http.clen -
					    (int64_t)c->in.len;
					conn_timer(c, sd->req_ms, on_timeout);
				}
				too_large(c);
				return;
			}
			if (c->req.http.expect && (c->req.http.clen > 0 ||
			    c->req.http.chunked) && c->in.len == 0) {
				/* The client waits for this before the body. */
				out_add(c, cont, sizeof(cont) - 1);
				conn_kick(c);
			}
			if (c->req.http.clen <= 0 && !c->req.http.chunked) {
				c->state = C_BUSY;
				conn_timer(c, 0, NULL);
				route(c);
				continue;
			}
		}
		if (c->state == C_BODY) {
			if ((rc = take_body(c)) < 0)
				return;
			if (rc == 0) {
				conn_timer(c, sd->req_ms, on_timeout);
				return;
			}
			c->state = C_BUSY;
			conn_timer(c, 0, NULL);
			route(c);
			continue;
		}
		return;
	}
}

static void
peer_name(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char a[INET6_ADDRSTRLEN];
	int fd = lws_get_socket_fd(c->wsi);

	snprintf(c->peer, sizeof(c->peer), "-");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "%s:%d", a,
		    ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%d", a,
		    ntohs(in6->sin6_port));
	} else if (ss.ss_family == AF_UNIX) {
		snprintf(c->peer, sizeof(c->peer), "unix");
	}
}

static struct conn *
conn_new(struct lws *wsi)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->wsi = wsi;
	c->state = C_HEAD;
	sess_http_req_init(&c->req.http);
	sess_buf_init(&c->in, HEAD_MAX + 64 * 1024);
	/* Room for the largest event a body may hold, twice, beyond that. */
	sess_buf_init(&c->out, OUT_MAX + 2 * sd->max_body + HEAD_MAX);
	peer_name(c);
	c->next = sd->conns;
	if (sd->conns != NULL)
		sd->conns->prev = c;
	sd->conns = c;
	sd->nconns++;
	lws_set_opaque_user_data(wsi, c);
	conn_timer(c, sd->req_ms, on_timeout);
	return c;
}

static void
conn_free(struct conn *c)
{
	lws_sul_cancel(&c->timer);
	lws_sul_cancel(&c->ping);
	flush_unlink(c);
	ws_free(c);
	fanout_leave(c);
	presence_conn_free(c);
	if (c->job != NULL)
		c->job->c = NULL;
	free(c->feed.name);
	req_reset(&c->req);
	sess_buf_release(&c->in);
	sess_buf_release(&c->out);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		sd->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	sd->nconns--;
	lws_set_opaque_user_data(c->wsi, NULL);
	free(c);
}

/* A WebSocket message may be this large, with the frames after it. */
#define WS_IN_MAX (1024 * 1024 + 256 * 1024)

void
conn_upgraded(struct conn *c, struct wsconn *ws)
{
	out_add(c, "\r\n", 2);
	conn_kick(c);
	conn_timer(c, 0, NULL);
	c->heading = 0;
	c->state = C_WS;
	c->ws = ws;
	req_reset(&c->req);
	c->in.cap = WS_IN_MAX;
}

static int
conn_rx(struct conn *c, const void *p, size_t n)
{
	if (c->state == C_WS) {
		ws_rx(c, p, n);
		if (c->in.len == 0)
			sess_buf_release(&c->in);
		/* Answers not read: stop reading requests till they are. */
		if (conn_queued(c) > 4 * 1024 * 1024 && !c->paused) {
			c->paused = 1;
			lws_rx_flow_control(c->wsi, 0);
		}
		return 0;
	}
	if (c->state == C_CLOSED) {
		if (c->discard > 0) {
			c->discard -= (int64_t)n;
			conn_timer(c, sd->req_ms, on_timeout);
			if (c->discard <= 0)
				conn_kick(c);
		}
		return 0;
	}
	if (sess_buf_add(&c->in, p, n) != 0) {
		refuse(c, 431, "HEADERS_TOO_LARGE", "too much input at once");
		return 0;
	}
	drive(c);
	/* A busy connection reads on only when the request is done. */
	if (c->state == C_BUSY && c->in.len > HEAD_MAX && !c->paused) {
		c->paused = 1;
		lws_rx_flow_control(c->wsi, 0);
	}
	return 0;
}

static int
conn_writeable(struct conn *c)
{
	int i;

	if (c->state == C_WS)
		ws_writeable(c);
	/* A feed is written on till the socket is full, within bounds. */
	for (i = 0; i < FEED_ROUNDS; i++) {
		if (c->feeding && conn_queued(c) < LOW_WATER)
			c->feed.more(c);
		if (conn_queued(c) == 0)
			break;
		if (out_send(c) != 0)
			return -1;
		if (conn_queued(c) > 0 || !c->feeding)
			break;
	}
	if (conn_queued(c) > 0 || c->feeding) {
		lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->state == C_CLOSED) {
		if (lws_partial_buffered(c->wsi)) {
			lws_callback_on_writable(c->wsi);
			return 0;
		}
		/* A refused body still coming in is let through first. */
		if (c->discard > 0)
			return 0;
		return -1;
	}
	if (c->paused && c->state != C_BUSY) {
		c->paused = 0;
		lws_rx_flow_control(c->wsi, 1);
	}
	if (c->state == C_HEAD && c->in.len > 0)
		drive(c);
	return 0;
}

static int
http_event(struct lws *wsi, enum lws_callback_reasons why, void *in,
    size_t len)
{
	struct conn *c;

	switch (why) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		writer_collect();
		sub_wakeup();
		return 0;
	case LWS_CALLBACK_RAW_ADOPT:
		if (sd->stopping || sd->nconns >= sd->max_conns)
			return -1;
		if (conn_new(wsi) == NULL)
			return -1;
		return 0;
	default:
		break;
	}
	if ((c = lws_get_opaque_user_data(wsi)) == NULL)
		return 0;
	switch (why) {
	case LWS_CALLBACK_RAW_RX:
		return conn_rx(c, in, len);
	case LWS_CALLBACK_RAW_WRITEABLE:
		return conn_writeable(c);
	case LWS_CALLBACK_RAW_CLOSE:
		conn_free(c);
		return 0;
	default:
		return 0;
	}
}

static int
http_cb(struct lws *wsi, enum lws_callback_reasons why, void *user, void *in,
    size_t len)
{
	int rc = http_event(wsi, why, in, len);

	/* Whatever the callback queued goes out now. */
	conns_flush();
	return rc;
}

const struct lws_protocols http_protocol = {
	"sessd-http", http_cb, 0, 0, 0, NULL, 0
};

/* At shutdown: live readers are answered, idle connections close. */
void
conns_stop(void)
{
	struct conn *c, *next;

	ws_stop();
	fanout_stop();
	presence_stop();
	for (c = sd->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == C_HEAD && c->in.len == 0 && !c->responded &&
		    conn_queued(c) == 0)
			conn_close(c);
	}
}
