/* http-client.c: the HTTP load and timing client of the bench/http-* scripts. */

/*
 * One small HTTP/1.1 client, built by the scripts into their temporary
 * directory, so that every peer is measured by the same code:
 *
 *   http-client port
 *	prints a free loopback TCP port.
 *   http-client sse -p PORT -s SUBPATH -w PUBPATH -n N [-r READERS]
 *	    [-m sync|rate] [-i US] [-t MS] [-b BYTES]
 *	opens READERS SSE connections to SUBPATH and, on one keep-alive
 *	connection, POSTs N JSON events to PUBPATH.  In sync mode an event
 *	is sent only once every reader has the previous one and its POST
 *	was answered, US microseconds after that; in rate mode one event
 *	goes out every US microseconds.  Each event carries its send time;
 *	each reader stamps its arrival.  Prints one JSON object.
 *   http-client get -p PORT -s PATH [-o OFFSET] [-t MS]
 *	reads PATH?offset=OFFSET (default -1) on one keep-alive connection,
 *	following Stream-Next-Offset until Stream-Up-To-Date, and prints
 *	bytes, requests, events and MB/s as one JSON object.
 *
 * Only 127.0.0.1.  Every wait is bounded by -t (milliseconds).
 *
 * Arrivals are stamped once per epoll_wait() return, before any of the
 * ready connections is read, so that reading 1,000 sockets one after the
 * other does not add its own time to the last ones' latency.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define IN_MAX (4 * 1024 * 1024) /* unconsumed input per connection */
#define LINE_MAX_ (1024 * 1024)  /* one SSE line / one event's data */
#define READ_SIZE (256 * 1024)

enum { ST_HEAD, ST_CSIZE, ST_CDATA, ST_CDATA_END, ST_TRAILER, ST_LEN, ST_EOF };
enum { K_READER, K_WRITER, K_GETTER };

struct conn {
	int fd, kind, idx;
	char *in;
	size_t len, off, cap;
	int st, status, chunked, head_only;
	long long clen, left;
	/* response headers the getter wants */
	char next_off[128];
	int up_to_date;
	/* SSE parser */
	char *line;
	size_t llen;
	char ev[32];
	char *data;
	size_t dlen;
	int warm, closed;
	long long events;
};

static const char *host = "127.0.0.1";
static int port;
static int64_t batch_ns;	/* when the current epoll_wait() returned */

/* sse mode */
static const char *pubpath;
static int nreaders = 1, nevents, sync_mode = 1;
static long long interval_us = 1000;
static double *lat;		/* [event * nreaders + reader], ms; < 0 none */
static int64_t *sent_ns, *ack_ns;
static int *have;		/* readers that have each event */
static long long deliveries, dups, post_errors, bad_events;
static int writer_busy, writer_warm, cur_event = -1;

/* get mode */
static long long get_bytes, get_requests, get_events;
static char get_carry[8];
static size_t get_carry_len;
static int get_status;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *, ...) __attribute__((format(printf, 1, 2),
    noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "http-client: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		die("%s", "out of memory");
	return p;
}

static int
dial(int timeout_ms)
{
	struct sockaddr_in sa;
	struct timeval tv;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket: %s", strerror(errno));
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect: %s", strerror(errno));
	return fd;
}

/* Writes all of buf, waiting (bounded by SO_SNDTIMEO) if need be. */
static void
send_all(int fd, const char *buf, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
			continue;
		}
		if (w <= 0)
			die("send: %s", strerror(errno));
		buf += w;
		n -= (size_t)w;
	}
}

static struct conn *
conn_new(int fd, int kind, int idx)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->kind = kind;
	c->idx = idx;
	c->cap = READ_SIZE * 2;
	c->in = xcalloc(1, c->cap);
	if (kind == K_READER) {
		c->line = xcalloc(1, LINE_MAX_ + 1);
		c->data = xcalloc(1, LINE_MAX_ + 1);
	}
	return c;
}

/* ---- what the connections do with what they receive ---- */

static void
record(struct conn *c, long long i, int64_t t)
{
	size_t k;

	if (i < 0) {
		c->warm = 1;
		return;
	}
	if (i >= nevents || sent_ns == NULL || sent_ns[i] != t) {
		bad_events++;
		return;
	}
	k = (size_t)i * (size_t)nreaders + (size_t)c->idx;
	if (lat[k] >= 0) {
		dups++;
		return;
	}
	lat[k] = (double)(batch_ns - t) / 1e6;
	have[i]++;
	deliveries++;
}

/* Finds every {"i":I,"t":T in one event's data (one or an array). */
static void
sse_dispatch(struct conn *c)
{
	char *p, *end;
	long long i, t;

	c->data[c->dlen] = '\0';
	if (c->ev[0] != '\0' && strcmp(c->ev, "message") != 0 &&
	    strcmp(c->ev, "data") != 0)
		goto out;
	c->events++;
	for (p = c->data; (p = strstr(p, "{\"i\":")) != NULL; p++) {
		i = strtoll(p + 5, &end, 10);
		if (strncmp(end, ",\"t\":", 5) != 0) {
			bad_events++;
			continue;
		}
		t = strtoll(end + 5, NULL, 10);
		record(c, i, t);
	}
out:
	c->ev[0] = '\0';
	c->dlen = 0;
}

static void
sse_line(struct conn *c, char *s, size_t n)
{
	char *v;
	size_t vn;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n == 0) {
		if (c->dlen > 0 || c->ev[0] != '\0')
			sse_dispatch(c);
		return;
	}
	if (s[0] == ':')
		return;
	v = memchr(s, ':', n);
	if (v == NULL) {
		v = s + n;
		vn = 0;
	} else {
		v++;
		if (v < s + n && *v == ' ')
			v++;
		vn = (size_t)(s + n - v);
	}
	if (n >= 5 && memcmp(s, "event", 5) == 0 && (n == 5 || s[5] == ':')) {
		if (vn >= sizeof(c->ev))
			vn = sizeof(c->ev) - 1;
		memcpy(c->ev, v, vn);
		c->ev[vn] = '\0';
	} else if (n >= 4 && memcmp(s, "data", 4) == 0 &&
	    (n == 4 || s[4] == ':')) {
		if (c->dlen + vn + 1 > LINE_MAX_)
			die("%s", "SSE event data over 1 MiB");
		memcpy(c->data + c->dlen, v, vn);
		c->dlen += vn;
		c->data[c->dlen++] = '\n';
	}
}

static void
sse_bytes(struct conn *c, const char *p, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl ? (size_t)(nl - p) : n;
		if (c->llen + k > LINE_MAX_)
			die("%s", "SSE line over 1 MiB");
		memcpy(c->line + c->llen, p, k);
		c->llen += k;
		if (nl == NULL)
			return;
		sse_line(c, c->line, c->llen);
		c->llen = 0;
		p += k + 1;
		n -= k + 1;
	}
}

/* Counts "i": in catch-up bodies, across read boundaries. */
static void
get_bytes_in(const char *p, size_t n)
{
	static const char pat[] = "\"i\":";
	const size_t m = sizeof(pat) - 1;
	char edge[16];
	const char *q, *end = p + n;
	size_t e, take, j;

	get_bytes += (long long)n;
	/* Matches that straddle the previous piece and this one. */
	take = n < m - 1 ? n : m - 1;
	memcpy(edge, get_carry, get_carry_len);
	memcpy(edge + get_carry_len, p, take);
	e = get_carry_len + take;
	for (j = 0; j + m <= e; j++)
		if (memcmp(edge + j, pat, m) == 0 && j < get_carry_len)
			get_events++;
	for (q = p; (q = memmem(q, (size_t)(end - q), pat, m)) != NULL; q++)
		get_events++;
	/* Keep the last m-1 bytes (of carry + this piece). */
	if (n >= m - 1) {
		memcpy(get_carry, end - (m - 1), m - 1);
		get_carry_len = m - 1;
	} else {
		memcpy(edge, get_carry, get_carry_len);
		memcpy(edge + get_carry_len, p, n);
		e = get_carry_len + n;
		take = e < m - 1 ? e : m - 1;
		memcpy(get_carry, edge + e - take, take);
		get_carry_len = take;
	}
}

static void
on_body(struct conn *c, const char *p, size_t n)
{
	if (c->kind == K_READER)
		sse_bytes(c, p, n);
	else if (c->kind == K_GETTER)
		get_bytes_in(p, n);
}

static void
on_done(struct conn *c)
{
	if (c->kind == K_WRITER) {
		if (c->status < 200 || c->status > 299)
			post_errors++;
		if (cur_event >= 0 && ack_ns != NULL)
			ack_ns[cur_event] = batch_ns;
		writer_busy = 0;
	} else if (c->kind == K_GETTER) {
		get_status = c->status;
		get_requests++;
	} else if (c->kind == K_READER) {
		c->closed = 1;
	}
}

/* ---- HTTP/1.1 responses ---- */

static int
hdr_is(const char *s, size_t n, const char *name)
{
	size_t k = strlen(name);

	return n > k && strncasecmp(s, name, k) == 0 && s[k] == ':';
}

static void
hdr_value(const char *s, size_t n, const char *name, char *out,
    size_t outsize)
{
	size_t k = strlen(name) + 1;

	while (k < n && (s[k] == ' ' || s[k] == '\t'))
		k++;
	while (n > k && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n - k >= outsize)
		n = k + outsize - 1;
	memcpy(out, s + k, n - k);
	out[n - k] = '\0';
}

static int
parse_head(struct conn *c, const char *s, size_t n)
{
	const char *e, *end = s + n;
	char v[128];

	if (n < 12 || strncmp(s, "HTTP/1.", 7) != 0)
		return -1;
	c->status = (int)strtol(s + 9, NULL, 10);
	c->chunked = 0;
	c->clen = -1;
	c->next_off[0] = '\0';
	c->up_to_date = 0;
	while ((e = memmem(s, (size_t)(end - s), "\r\n", 2)) != NULL ||
	    s < end) {
		size_t ln = e ? (size_t)(e - s) : (size_t)(end - s);

		if (hdr_is(s, ln, "transfer-encoding")) {
			hdr_value(s, ln, "transfer-encoding", v, sizeof(v));
			if (strcasestr(v, "chunked") != NULL)
				c->chunked = 1;
		} else if (hdr_is(s, ln, "content-length")) {
			hdr_value(s, ln, "content-length", v, sizeof(v));
			c->clen = strtoll(v, NULL, 10);
		} else if (hdr_is(s, ln, "stream-next-offset")) {
			hdr_value(s, ln, "stream-next-offset", c->next_off,
			    sizeof(c->next_off));
		} else if (hdr_is(s, ln, "stream-up-to-date")) {
			hdr_value(s, ln, "stream-up-to-date", v, sizeof(v));
			c->up_to_date = strcasecmp(v, "true") == 0;
		}
		if (e == NULL)
			break;
		s = e + 2;
	}
	return 0;
}

static void
response_done(struct conn *c)
{
	on_done(c);
	c->st = ST_HEAD;
}

/* Consumes what it can of c->in; -1 on a malformed response. */
static int
process(struct conn *c)
{
	char *s, *e;
	size_t avail, k;

	for (;;) {
		s = c->in + c->off;
		avail = c->len - c->off;
		switch (c->st) {
		case ST_HEAD:
			if ((e = memmem(s, avail, "\r\n\r\n", 4)) == NULL) {
				if (avail > 64 * 1024)
					return -1;
				goto out;
			}
			if (parse_head(c, s, (size_t)(e - s)) != 0)
				return -1;
			c->off += (size_t)(e - s) + 4;
			if (c->status >= 100 && c->status < 200)
				continue;
			if (c->kind == K_READER && c->status != 200)
				die("SSE GET answered %d: %.*s", c->status,
				    (int)(c->len - c->off > 200 ? 200 :
				    c->len - c->off), c->in + c->off);
			if (c->head_only || c->status == 204 ||
			    c->status == 304) {
				response_done(c);
			} else if (c->chunked) {
				c->st = ST_CSIZE;
			} else if (c->clen >= 0) {
				c->left = c->clen;
				c->st = ST_LEN;
				if (c->left == 0)
					response_done(c);
			} else {
				c->st = ST_EOF;
			}
			break;
		case ST_CSIZE:
			if ((e = memmem(s, avail, "\r\n", 2)) == NULL) {
				if (avail > 1024)
					return -1;
				goto out;
			}
			c->left = strtoll(s, NULL, 16);
			c->off += (size_t)(e - s) + 2;
			c->st = c->left > 0 ? ST_CDATA : ST_TRAILER;
			break;
		case ST_CDATA:
			k = avail < (size_t)c->left ? avail : (size_t)c->left;
			if (k == 0)
				goto out;
			on_body(c, s, k);
			c->off += k;
			c->left -= (long long)k;
			if (c->left == 0)
				c->st = ST_CDATA_END;
			break;
		case ST_CDATA_END:
			if (avail < 2)
				goto out;
			if (s[0] != '\r' || s[1] != '\n')
				return -1;
			c->off += 2;
			c->st = ST_CSIZE;
			break;
		case ST_TRAILER:
			if ((e = memmem(s, avail, "\r\n", 2)) == NULL)
				goto out;
			c->off += (size_t)(e - s) + 2;
			if (e == s)
				response_done(c);
			break;
		case ST_LEN:
			k = avail < (size_t)c->left ? avail : (size_t)c->left;
			if (k == 0)
				goto out;
			on_body(c, s, k);
			c->off += k;
			c->left -= (long long)k;
			if (c->left == 0)
				response_done(c);
			break;
		case ST_EOF:
			if (avail == 0)
				goto out;
			on_body(c, s, avail);
			c->off += avail;
			break;
		}
	}
out:
	if (c->off > 0) {
		memmove(c->in, c->in + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	return 0;
}

/* Reads what is there; 0 more may come, 1 EOF, -1 error. */
static int
conn_read(struct conn *c, int block)
{
	ssize_t r;

	for (;;) {
		if (c->cap - c->len < READ_SIZE) {
			if (c->len + READ_SIZE > IN_MAX)
				return -1;
			c->cap = c->len + READ_SIZE;
			char *n = realloc(c->in, c->cap);
			if (n == NULL)
				return -1;
			c->in = n;
		}
		r = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return block ? -1 : 0;
		if (r < 0)
			return -1;
		if (r == 0) {
			if (c->st == ST_EOF)
				response_done(c);
			return 1;
		}
		c->len += (size_t)r;
		if (process(c) != 0)
			return -1;
		if (block)
			return 0;
	}
}

/* ---- sse mode ---- */

static void
post_event(struct conn *w, long long i)
{
	char body[256], req[1024];
	int64_t t = now_ns();
	int bn, rn;

	/* About 100 bytes, like the append benchmark's events. */
	bn = snprintf(body, sizeof(body),
	    "{\"i\":%lld,\"t\":%" PRId64 ",\"type\":\"token\",\"text\":"
	    "\"the stream token session durable reply model\"}", i, t);
	rn = snprintf(req, sizeof(req),
	    "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
	    pubpath, host, port, bn, body);
	if (i >= 0) {
		sent_ns[i] = t;
		cur_event = (int)i;
	} else {
		cur_event = -1;
	}
	writer_busy = 1;
	send_all(w->fd, req, (size_t)rn);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p * (double)n);
	if (k < 1)
		k = 1;
	return v[k - 1];
}

static void
print_dist(const char *name, double *v, size_t n)
{
	double sum = 0;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_double);
	for (i = 0; i < n; i++)
		sum += v[i];
	printf("\"%s\":{\"n\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
	    "\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f}", name, n,
	    pct(v, n, .5), pct(v, n, .9), pct(v, n, .99), pct(v, n, .999),
	    n ? v[n - 1] : 0, n ? sum / (double)n : 0);
}

static void
set_timer(int tfd, int64_t at_ns)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (at_ns > 0) {
		its.it_value.tv_sec = at_ns / 1000000000;
		its.it_value.tv_nsec = at_ns % 1000000000;
	}
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int
run_sse(const char *subpath, int timeout_ms)
{
	struct conn **rd, *w;
	struct epoll_event ev, evs[256];
	char req[2048];
	int ep, tfd, i, n, k, warm, closed = 0, rc;
	int64_t t0, deadline, next_at = 0, phase_end, last_warm = 0;
	int64_t run_start = 0, run_end = 0, last_done = 0;
	size_t nl = 0, na = 0;
	double *all, *acks;
	enum { P_WARM, P_RUN, P_DRAIN } phase = P_WARM;

	lat = xcalloc((size_t)nevents * (size_t)nreaders, sizeof(*lat));
	for (size_t j = 0; j < (size_t)nevents * (size_t)nreaders; j++)
		lat[j] = -1;
	sent_ns = xcalloc((size_t)nevents, sizeof(*sent_ns));
	ack_ns = xcalloc((size_t)nevents, sizeof(*ack_ns));
	have = xcalloc((size_t)nevents, sizeof(*have));
	rd = xcalloc((size_t)nreaders, sizeof(*rd));
	if ((ep = epoll_create1(0)) < 0)
		die("epoll: %s", strerror(errno));
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

	t0 = now_ns();
	deadline = t0 + (int64_t)timeout_ms * 1000000;
	n = snprintf(req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
	    "Cache-Control: no-cache\r\n\r\n", subpath, host, port);
	for (i = 0; i < nreaders; i++) {
		int fd = dial(timeout_ms);

		send_all(fd, req, (size_t)n);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		rd[i] = conn_new(fd, K_READER, i);
		ev.events = EPOLLIN;
		ev.data.ptr = rd[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			die("epoll_ctl: %s", strerror(errno));
		if (now_ns() > deadline)
			die("%s", "timed out connecting readers");
	}
	w = conn_new(dial(timeout_ms), K_WRITER, 0);
	fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
	ev.events = EPOLLIN;
	ev.data.ptr = w;
	epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev);
	fprintf(stderr, "http-client: %d readers connected in %.0f ms\n",
	    nreaders, (double)(now_ns() - t0) / 1e6);

	/*
	 * Warm-up: an event with i = -1 every 200 ms until every reader has
	 * seen one, so that all the subscriptions are live before timing.
	 */
	phase_end = deadline;
	for (;;) {
		int64_t now = now_ns();

		if (phase == P_WARM) {
			for (warm = 0, i = 0; i < nreaders; i++)
				warm += rd[i]->warm;
			if (warm == nreaders && !writer_busy) {
				fprintf(stderr, "http-client: readers live after "
				    "%.0f ms\n", (double)(now - t0) / 1e6);
				phase = P_RUN;
				run_start = now;
				cur_event = -1;
				continue;
			}
			if (!writer_busy && now - last_warm > 200000000) {
				writer_warm++;
				post_event(w, -1);
				last_warm = now;
			}
			set_timer(tfd, last_warm + 200000000);
		} else if (phase == P_RUN) {
			int next = cur_event + 1;

			if (next >= nevents) {
				phase = P_DRAIN;
				run_end = now;
				phase_end = now + 2000000000LL;
				if (phase_end > deadline)
					phase_end = deadline;
				continue;
			}
			if (sync_mode) {
				/* The previous event is everywhere (or 1 s). */
				if (cur_event >= 0 && !writer_busy &&
				    last_done == 0 &&
				    (have[cur_event] == nreaders ||
				    now - sent_ns[cur_event] > 1000000000LL))
					last_done = now;
				if (cur_event < 0 && last_done == 0)
					last_done = now;
				if (!writer_busy && last_done > 0) {
					next_at = last_done + interval_us * 1000;
					if (now >= next_at) {
						post_event(w, next);
						last_done = 0;
						next_at = 0;
					}
				}
			} else {
				next_at = run_start + (int64_t)next *
				    interval_us * 1000;
				if (!writer_busy && now >= next_at)
					post_event(w, next);
			}
			set_timer(tfd, next_at);
		} else {
			if ((deliveries >= (long long)nevents * nreaders &&
			    !writer_busy) || now >= phase_end)
				break;
			set_timer(tfd, phase_end);
		}
		if (now >= deadline) {
			fprintf(stderr, "http-client: timed out (-t %d)\n",
			    timeout_ms);
			break;
		}
		k = epoll_wait(ep, evs, 256, 100);
		batch_ns = now_ns();
		for (i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			uint64_t x;

			if (c == NULL) {
				if (read(tfd, &x, sizeof(x)) < 0)
					(void)0;
				continue;
			}
			rc = conn_read(c, 0);
			if (rc != 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				if (c->kind == K_WRITER)
					die("%s", rc > 0 ?
					    "the server closed the POST "
					    "connection" :
					    "bad response to a POST");
				closed++;
				c->closed = 1;
				if (phase == P_WARM)
					die("%s", "an SSE reader was closed "
					    "before it was live");
			}
		}
	}

	all = xcalloc((size_t)nevents * (size_t)nreaders, sizeof(*all));
	acks = xcalloc((size_t)nevents, sizeof(*acks));
	for (i = 0; i < nevents; i++) {
		if (sent_ns[i] == 0)
			continue;
		if (ack_ns[i] > 0)
			acks[na++] = (double)(ack_ns[i] - sent_ns[i]) / 1e6;
		for (k = 0; k < nreaders; k++)
			if (lat[(size_t)i * nreaders + k] >= 0)
				all[nl++] = lat[(size_t)i * nreaders + k];
	}
	{
		long long sent = 0;

		for (i = 0; i < nevents; i++)
			sent += sent_ns[i] != 0;
		printf("{\"readers\":%d,\"events\":%d,\"sent\":%lld,"
		    "\"mode\":\"%s\",\"interval_us\":%lld,"
		    "\"deliveries\":%lld,\"expected\":%lld,\"missing\":%lld,"
		    "\"dups\":%lld,\"bad\":%lld,\"closed\":%d,"
		    "\"post_errors\":%lld,\"warmups\":%d,\"secs\":%.3f,",
		    nreaders, nevents, sent, sync_mode ? "sync" : "rate",
		    interval_us, deliveries, sent * nreaders,
		    sent * nreaders - deliveries, dups, bad_events, closed,
		    post_errors, writer_warm,
		    (double)((run_end ? run_end : now_ns()) - run_start) /
		    1e9);
	}
	print_dist("lat_ms", all, nl);
	putchar(',');
	print_dist("ack_ms", acks, na);
	printf("}\n");
	return deliveries == (long long)nevents * nreaders && !post_errors ?
	    0 : 3;
}

/* ---- get mode ---- */

static int
run_get(const char *path, const char *offset, int timeout_ms)
{
	struct conn *c;
	char req[2048], off[128];
	int64_t t0, t1, deadline;
	int n, rc;

	c = conn_new(dial(timeout_ms), K_GETTER, 0);
	snprintf(off, sizeof(off), "%s", offset);
	t0 = now_ns();
	deadline = t0 + (int64_t)timeout_ms * 1000000;
	for (;;) {
		long long before = get_requests;

		n = snprintf(req, sizeof(req),
		    "GET %s%soffset=%s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path,
		    strchr(path, '?') ? "&" : "?", off, host, port);
		send_all(c->fd, req, (size_t)n);
		while (get_requests == before) {
			if (now_ns() > deadline)
				die("%s", "timed out");
			rc = conn_read(c, 1);
			if (rc != 0 && get_requests == before)
				die("%s", rc > 0 ? "connection closed" :
				    "bad response or read timeout");
			if (rc > 0)
				break;
		}
		if (get_status != 200)
			die("GET %s?offset=%s answered %d", path, off,
			    get_status);
		if (c->up_to_date || c->next_off[0] == '\0')
			break;
		if (strcmp(c->next_off, off) == 0)
			die("%s", "Stream-Next-Offset did not move");
		snprintf(off, sizeof(off), "%s", c->next_off);
	}
	t1 = now_ns();
	printf("{\"bytes\":%lld,\"requests\":%lld,\"events\":%lld,"
	    "\"secs\":%.4f,\"mb_per_s\":%.1f,\"events_per_s\":%.0f,"
	    "\"next_offset\":\"%s\"}\n", get_bytes, get_requests, get_events,
	    (double)(t1 - t0) / 1e9,
	    (double)get_bytes / 1e6 / ((double)(t1 - t0) / 1e9),
	    (double)get_events / ((double)(t1 - t0) / 1e9), c->next_off);
	return 0;
}

static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, host, &sa.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		die("bind: %s", strerror(errno));
	printf("%d\n", ntohs(sa.sin_port));
	close(fd);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: http-client port\n"
	    "       http-client sse -p port -s subpath -w pubpath -n events "
	    "[-r readers] [-m sync|rate] [-i us] [-t ms]\n"
	    "       http-client get -p port -s path [-o offset] [-t ms]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *sub = NULL, *pub = NULL, *offset = "-1", *mode;
	struct rlimit rl;
	int c, timeout_ms = 60000;

	if (argc < 2)
		usage();
	mode = argv[1];
	if (strcmp(mode, "port") == 0)
		return free_port();
	optind = 2;
	while ((c = getopt(argc, argv, "i:m:n:o:p:r:s:t:w:")) != -1) {
		switch (c) {
		case 'i':
			interval_us = strtoll(optarg, NULL, 10);
			break;
		case 'm':
			sync_mode = strcmp(optarg, "rate") != 0;
			break;
		case 'n':
			nevents = (int)strtol(optarg, NULL, 10);
			break;
		case 'o':
			offset = optarg;
			break;
		case 'p':
			port = (int)strtol(optarg, NULL, 10);
			break;
		case 'r':
			nreaders = (int)strtol(optarg, NULL, 10);
			break;
		case 's':
			sub = optarg;
			break;
		case 't':
			timeout_ms = (int)strtol(optarg, NULL, 10);
			break;
		case 'w':
			pub = optarg;
			break;
		default:
			usage();
		}
	}
	if (port <= 0 || sub == NULL || timeout_ms <= 0)
		usage();
	/* Room for every reader's socket. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (strcmp(mode, "get") == 0)
		return run_get(sub, offset, timeout_ms);
	if (strcmp(mode, "sse") != 0 || pub == NULL || nevents <= 0 ||
	    nreaders <= 0)
		usage();
	pubpath = pub;
	return run_sse(sub, timeout_ms);
}
