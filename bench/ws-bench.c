/* ws-bench.c: the WebSocket load and timing client of bench/ws-fanout and bench/control-rtt. */

/*
 * One small WebSocket client (RFC 6455, text frames, one epoll loop),
 * built by the scripts into their temporary directory, so that sessd and
 * its peer are measured by the same code:
 *
 *   ws-bench fanout -p PORT -r READERS -n N [-w WRITERS] [-i US] [-t MS]
 *	connects READERS sockets to /v1/ws, each attaching stream "fan"
 *	from "now", then WRITERS more sockets publish N events, one every
 *	US microseconds (by turns), each carrying its send time.  Arrivals
 *	are stamped once per epoll_wait() return, before any ready socket
 *	is read, so that reading 10,000 sockets one after the other does
 *	not add the client's own time to the last ones' latency (as
 *	bench/http-client.c does).  Prints one JSON object with the latency
 *	over every (event, reader), the missing and duplicated deliveries,
 *	and how late the client itself sent (its own lag).
 *   ws-bench idle -p PORT -r N [-t MS]
 *	connects N sockets, waits for each one's welcome frame, prints
 *	{"idle":N,...} and holds them (answering pings) until killed.
 *   ws-bench rtt -p PORT -n N -x COMMAND [-i US] [-t MS]
 *	runs COMMAND (sh -c) with its stdout on a pipe, then N times:
 *	publishes a control message on stream "ctl" and waits for
 *	COMMAND to print a line; prints the round-trip distribution.
 *	Sends are at least US microseconds apart (the publish rate limit).
 *
 * Only 127.0.0.1.  Every wait is bounded by -t (milliseconds).  Client
 * frames are masked with a zero key: valid, and no work for either side.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IN_MAX (16 * 1024 * 1024) /* unconsumed input per connection */
#define READ_SIZE (64 * 1024)
#define CONNECTING_MAX 256        /* handshakes in flight */

enum { S_DIAL, S_HEAD, S_OPEN, S_CLOSED };
enum { K_READER, K_WRITER };

struct conn {
	int fd, kind, idx, st;
	char *in;
	size_t len, cap;
	int welcomed, sent_attach, attached;
	unsigned char *seen;          /* a bit per event (readers) */
	long long got;
};

static int port;
static int nreaders = 1, nwriters = 4, nevents = 1000;
static long long interval_us = 10000;
static float *lat;                /* ms, one per delivery */
static size_t nlat;
static long long dups, bad_frames, closed_conns, pub_ok, pub_err;
static int attached;
static int64_t batch_ns;          /* when the current epoll_wait() returned */

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

	fprintf(stderr, "ws-bench: ");
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

/* A non-blocking connect to 127.0.0.1:port. */
static int
dial(void)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
	return fd;
}

/* Writes all of buf on a non-blocking socket (they are small). */
static void
send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	int64_t until = now_ns() + 10 * 1000000000LL;
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct timespec ts = { 0, 50000 };

			if (now_ns() > until)
				die("%s", "send: stuck for 10 s");
			nanosleep(&ts, NULL);
			continue;
		}
		if (w <= 0)
			die("send: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* One masked (zero key) frame. */
static void
send_frame(int fd, int op, const char *p, size_t n)
{
	unsigned char h[14];
	size_t hl;
	char *b;

	h[0] = (unsigned char)(0x80 | op);
	if (n < 126) {
		h[1] = (unsigned char)(0x80 | n);
		hl = 2;
	} else if (n < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	memset(h + hl, 0, 4);
	hl += 4;
	b = xcalloc(1, hl + n);
	memcpy(b, h, hl);
	if (n > 0)
		memcpy(b + hl, p, n);
	send_all(fd, b, hl + n);
	free(b);
}

static void
send_text(int fd, const char *s)
{
	send_frame(fd, 1, s, strlen(s));
}

static void
handshake(struct conn *c)
{
	char req[512];
	int n;

	n = snprintf(req, sizeof(req), "GET /v1/ws HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", port);
	send_all(c->fd, req, (size_t)n);
	c->st = S_HEAD;
}

static struct conn *
conn_new(int kind, int idx)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->fd = dial();
	c->kind = kind;
	c->idx = idx;
	c->st = S_DIAL;
	c->cap = 4096;
	c->in = xcalloc(1, c->cap);
	if (kind == K_READER)
		c->seen = xcalloc(1, (size_t)nevents / 8 + 1);
	return c;
}

/* What a reader does with an events push: every {"t":T,"i":I} in it. */
static void
on_events(struct conn *c, const char *p, size_t n, int64_t t_rx)
{
	const char *end = p + n, *q = p;

	while ((q = memmem(q, (size_t)(end - q), "{\"t\":", 5)) != NULL) {
		long long t, i;
		char *e;

		t = strtoll(q + 5, &e, 10);
		q = e;
		if (strncmp(q, ",\"i\":", 5) != 0) {
			bad_frames++;
			continue;
		}
		i = strtoll(q + 5, &e, 10);
		q = e;
		if (i < 0 || i >= nevents) {
			bad_frames++;
			continue;
		}
		if (c->seen[i / 8] & (1 << (i % 8))) {
			dups++;
			continue;
		}
		c->seen[i / 8] |= (unsigned char)(1 << (i % 8));
		c->got++;
		lat[nlat++] = (float)((double)(t_rx - t) / 1e6);
	}
}

static void
on_text(struct conn *c, const char *p, size_t n, int64_t t_rx)
{
	if (!c->welcomed) {
		c->welcomed = 1;
		return;
	}
	if (c->kind == K_WRITER) {
		if (memmem(p, n, "\"op\":\"ok\"", 9) != NULL)
			pub_ok++;
		else if (memmem(p, n, "\"op\":\"error\"", 12) != NULL) {
			pub_err++;
			if (pub_err <= 3)
				fprintf(stderr, "ws-bench: %.*s\n", (int)n, p);
		}
		return;
	}
	if (!c->attached && memmem(p, n, "\"op\":\"ok\"", 9) != NULL) {
		c->attached = 1;
		attached++;
		return;
	}
	if (memmem(p, n, "\"op\":\"events\"", 13) != NULL)
		on_events(c, p, n, t_rx);
	else if (memmem(p, n, "\"op\":\"error\"", 12) != NULL) {
		bad_frames++;
		if (bad_frames <= 3)
			fprintf(stderr, "ws-bench: %.*s\n", (int)n, p);
	}
}

/* Consumes whole frames (and the 101 head) from c->in. */
static void
process(struct conn *c, int64_t t_rx)
{
	size_t off = 0;

	if (c->st == S_HEAD) {
		char *e = memmem(c->in, c->len, "\r\n\r\n", 4);

		if (e == NULL)
			return;
		if (c->len < 12 || memcmp(c->in + 9, "101", 3) != 0)
			die("upgrade refused: %.*s", (int)(e - c->in), c->in);
		off = (size_t)(e - c->in) + 4;
		c->st = S_OPEN;
	}
	while (c->st == S_OPEN && c->len - off >= 2) {
		const unsigned char *h = (unsigned char *)c->in + off;
		size_t avail = c->len - off, hl = 2;
		uint64_t n = h[1] & 127;
		int op = h[0] & 15;

		if (n == 126) {
			if (avail < 4)
				break;
			n = (uint64_t)h[2] << 8 | h[3];
			hl = 4;
		} else if (n == 127) {
			if (avail < 10)
				break;
			n = 0;
			for (int i = 0; i < 8; i++)
				n = n << 8 | h[2 + i];
			hl = 10;
		}
		if (n > IN_MAX)
			die("a frame of %" PRIu64 " bytes", n);
		if (avail < hl + n)
			break;
		if (!(h[0] & 0x80))
			die("%s", "a fragmented message (not handled)");
		if (op == 1)
			on_text(c, (char *)h + hl, (size_t)n, t_rx);
		else if (op == 9)
			send_frame(c->fd, 10, (char *)h + hl, (size_t)n);
		else if (op == 8) {
			c->st = S_CLOSED;
			closed_conns++;
		}
		off += hl + (size_t)n;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->len - off);
		c->len -= off;
	}
}

/* Reads what there is; returns -1 on EOF or error. */
static int
conn_read(struct conn *c)
{
	for (;;) {
		ssize_t r;

		if (c->cap - c->len < READ_SIZE) {
			size_t cap = c->cap * 2 > c->len + READ_SIZE ?
			    c->cap * 2 : c->len + READ_SIZE;
			char *p;

			if (cap > IN_MAX + READ_SIZE)
				die("%s", "input buffer over its cap");
			if ((p = realloc(c->in, cap)) == NULL)
				die("%s", "out of memory");
			c->in = p;
			c->cap = cap;
		}
		r = read(c->fd, c->in + c->len, c->cap - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0) {
			if (c->st != S_CLOSED) {
				c->st = S_CLOSED;
				closed_conns++;
			}
			return -1;
		}
		c->len += (size_t)r;
		process(c, batch_ns);
	}
}

static int
cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const float *v, size_t n, double p)
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
print_dist(const char *name, float *v, size_t n)
{
	double sum = 0;
	size_t i;

	qsort(v, n, sizeof(*v), cmp_float);
	for (i = 0; i < n; i++)
		sum += v[i];
	printf("\"%s\":{\"n\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
	    "\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f}", name, n,
	    pct(v, n, .5), pct(v, n, .9), pct(v, n, .99), pct(v, n, .999),
	    n ? (double)v[n - 1] : 0, n ? sum / (double)n : 0);
}

/*
 * Opens n connections of kind k, at most CONNECTING_MAX handshakes at a
 * time, and waits for every welcome (and, for readers with attach set,
 * every attach's ok).  Returns the array.
 */
static struct conn **
connect_all(int ep, int n, int k, int attach, int64_t deadline)
{
	struct conn **v = xcalloc((size_t)n, sizeof(*v));
	struct epoll_event ev, evs[512];
	int opened = 0, ready = 0, i, m;

	while (ready < n) {
		while (opened < n && opened - ready < CONNECTING_MAX) {
			struct conn *c = conn_new(k, opened);

			ev.events = EPOLLIN | EPOLLOUT;
			ev.data.ptr = c;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
				die("epoll_ctl: %s", strerror(errno));
			v[opened++] = c;
		}
		if (now_ns() > deadline)
			die("only %d of %d connections ready in time", ready,
			    n);
		m = epoll_wait(ep, evs, 512, 100);
		batch_ns = now_ns();
		for (i = 0; i < m; i++) {
			struct conn *c = evs[i].data.ptr;
			int was = c->welcomed && (!attach || c->attached);

			if (c->st == S_DIAL && (evs[i].events & EPOLLOUT)) {
				int err = 0;
				socklen_t sl = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
				    &sl);
				if (err != 0)
					die("connect: %s", strerror(err));
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				handshake(c);
			}
			if ((evs[i].events & EPOLLIN) && conn_read(c) != 0)
				die("a connection closed while opening (%d "
				    "ready)", ready);
			if (attach && c->welcomed && !c->sent_attach) {
				/* Attach once, right after the welcome. */
				send_text(c->fd, "{\"op\":\"attach\",\"stream\":"
				    "\"fan\",\"offset\":\"now\"}");
				c->sent_attach = 1;
			}
			if (!was && c->welcomed && (!attach || c->attached))
				ready++;
		}
	}
	return v;
}

static int
run_fanout(int timeout_ms)
{
	struct conn **rd, **wr;
	struct epoll_event evs[512];
	struct rusage ru;
	int ep, i, m, sent = 0;
	int64_t t0, t1, deadline, next_at, end_wait = 0;
	float *lag;
	long long expected, missing = 0;
	char msg[256];

	if ((ep = epoll_create1(0)) < 0)
		die("epoll_create1: %s", strerror(errno));
	lat = xcalloc((size_t)nreaders * (size_t)nevents, sizeof(*lat));
	lag = xcalloc((size_t)nevents, sizeof(*lag));
	t0 = now_ns();
	deadline = t0 + (int64_t)timeout_ms * 1000000;
	rd = connect_all(ep, nreaders, K_READER, 1, deadline);
	wr = connect_all(ep, nwriters, K_WRITER, 0, deadline);
	t1 = now_ns();
	fprintf(stderr, "ws-bench: %d readers attached in %.0f ms\n",
	    nreaders, (double)(t1 - t0) / 1e6);
	next_at = now_ns();
	expected = (long long)nreaders * nevents;
	for (;;) {
		int64_t now = now_ns(), wait_ms;

		if (sent < nevents && now >= next_at) {
			int n = snprintf(msg, sizeof(msg), "{\"op\":\"publish\","
			    "\"stream\":\"fan\",\"data\":{\"t\":%" PRId64
			    ",\"i\":%d}}", now, sent);

			lag[sent] = (float)((double)(now - next_at) / 1e6);
			send_frame(wr[sent % nwriters]->fd, 1, msg, (size_t)n);
			sent++;
			next_at += interval_us * 1000;
			continue;
		}
		if ((long long)nlat >= expected)
			break;
		if (sent == nevents && end_wait == 0)
			end_wait = now;
		if (now > deadline || (end_wait && now - end_wait >
		    (int64_t)30 * 1000000000)) {
			fprintf(stderr, "ws-bench: gave up waiting\n");
			break;
		}
		wait_ms = sent < nevents ? (next_at - now) / 1000000 : 100;
		m = epoll_wait(ep, evs, 512, (int)(wait_ms < 0 ? 0 : wait_ms));
		batch_ns = now_ns();
		for (i = 0; i < m; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->st != S_CLOSED && conn_read(c) != 0)
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		}
	}
	for (i = 0; i < nreaders; i++)
		missing += nevents - rd[i]->got;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"readers\":%d,\"writers\":%d,\"events\":%d,"
	    "\"interval_us\":%lld,\"connect_ms\":%.0f,\"deliveries\":%zu,"
	    "\"missing\":%lld,\"dups\":%lld,\"closed\":%lld,"
	    "\"publish_ok\":%lld,\"publish_errors\":%lld,\"bad_frames\":%lld,",
	    nreaders, nwriters, nevents, interval_us, (double)(t1 - t0) / 1e6,
	    nlat, missing, dups, closed_conns, pub_ok, pub_err, bad_frames);
	print_dist("lat_ms", lat, nlat);
	printf(",");
	print_dist("send_lag_ms", lag, (size_t)sent);
	printf(",\"client_cpu_s\":%.2f}\n", (double)ru.ru_utime.tv_sec +
	    (double)ru.ru_stime.tv_sec + (double)(ru.ru_utime.tv_usec +
	    ru.ru_stime.tv_usec) / 1e6);
	(void)wr;
	return missing == 0 && dups == 0 ? 0 : 1;
}

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int
run_idle(int timeout_ms)
{
	struct epoll_event evs[512];
	int ep, i, m;
	int64_t t0 = now_ns();

	if ((ep = epoll_create1(0)) < 0)
		die("epoll_create1: %s", strerror(errno));
	(void)connect_all(ep, nreaders, K_READER, 0,
	    t0 + (int64_t)timeout_ms * 1000000);
	printf("{\"idle\":%d,\"connect_ms\":%.0f}\n", nreaders,
	    (double)(now_ns() - t0) / 1e6);
	fflush(stdout);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	while (!stop) {
		m = epoll_wait(ep, evs, 512, 1000);
		batch_ns = now_ns();
		for (i = 0; i < m; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c->st != S_CLOSED && conn_read(c) != 0)
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		}
	}
	return 0;
}

/* Reads one line from fd (blocking, bounded by the deadline). */
static int
read_line(int fd, char *buf, size_t size, size_t *have, int64_t deadline)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *have);
		ssize_t r;

		if (nl != NULL) {
			size_t k = (size_t)(nl - buf) + 1;

			memmove(buf, buf + k, *have - k);
			*have -= k;
			return 0;
		}
		if (*have == size)
			die("%s", "a line over the buffer");
		struct pollfd pf = { fd, POLLIN, 0 };
		int64_t left = (deadline - now_ns()) / 1000000;

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			return -1;
		r = read(fd, buf + *have, size - *have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		*have += (size_t)r;
	}
}

static int
run_rtt(const char *cmd, int timeout_ms)
{
	struct conn *c;
	char msg[256], line[65536];
	size_t have = 0;
	int p[2], ep, i, n;
	pid_t pid;
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000, last = 0;

	lat = xcalloc((size_t)nevents, sizeof(*lat));
	if (pipe(p) != 0)
		die("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if ((ep = epoll_create1(0)) < 0)
		die("epoll_create1: %s", strerror(errno));
	c = connect_all(ep, 1, K_WRITER, 0, deadline)[0];
	/* Message -1 is not timed: the command may still be starting. */
	for (i = -1; i < nevents; i++) {
		int64_t t;

		while (now_ns() - last < interval_us * 1000) {
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
		}
		t = now_ns();
		n = snprintf(msg, sizeof(msg), "{\"op\":\"publish\","
		    "\"stream\":\"ctl\",\"data\":{\"type\":\"control\","
		    "\"action\":\"stop\",\"run\":\"r%d\"}}", i);
		send_frame(c->fd, 1, msg, (size_t)n);
		last = t;
		if (read_line(p[0], line, sizeof(line), &have, deadline) != 0)
			die("no line from the command for message %d", i);
		if (i >= 0)
			lat[nlat++] = (float)((double)(now_ns() - t) / 1e6);
		/* The publish's ok (and the pings) in the meantime. */
		(void)conn_read(c);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	printf("{\"round_trips\":%zu,\"interval_us\":%lld,\"publish_ok\":%lld,"
	    "\"publish_errors\":%lld,", nlat, interval_us, pub_ok, pub_err);
	print_dist("rtt_ms", lat, nlat);
	printf("}\n");
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: ws-bench fanout -p port -r readers -n events [-w writers] "
	    "[-i us] [-t ms]\n"
	    "       ws-bench idle -p port -r conns [-t ms]\n"
	    "       ws-bench rtt -p port -n trips -x command [-i us] [-t ms]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *mode, *cmd = NULL;
	struct rlimit rl;
	int c, timeout_ms = 120000;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "i:n:p:r:t:w:x:")) != -1) {
		switch (c) {
		case 'i':
			interval_us = strtoll(optarg, NULL, 10);
			break;
		case 'n':
			nevents = (int)strtol(optarg, NULL, 10);
			break;
		case 'p':
			port = (int)strtol(optarg, NULL, 10);
			break;
		case 'r':
			nreaders = (int)strtol(optarg, NULL, 10);
			break;
		case 't':
			timeout_ms = (int)strtol(optarg, NULL, 10);
			break;
		case 'w':
			nwriters = (int)strtol(optarg, NULL, 10);
			break;
		case 'x':
			cmd = optarg;
			break;
		default:
			usage();
		}
	}
	if (port <= 0 || timeout_ms <= 0 || nevents <= 0 || nreaders <= 0 ||
	    nwriters <= 0)
		usage();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(mode, "fanout") == 0)
		return run_fanout(timeout_ms);
	if (strcmp(mode, "idle") == 0)
		return run_idle(timeout_ms);
	if (strcmp(mode, "rtt") == 0 && cmd != NULL)
		return run_rtt(cmd, timeout_ms);
	usage();
}
