/* latency.c: helper for bench/follow-latency: timed writer, stamping reader, stats. */
/*
 *   latency write DB COUNT PAUSE_US full|normal SIDEFILE
 *	Appends COUNT events {"type":"lat","i":I,"t":US} to stream "s",
 *	one sess_append (one transaction, one commit) each, PAUSE_US apart.
 *	US is CLOCK_REALTIME microseconds just before the append.  Writes
 *	"seq t committed" lines to SIDEFILE, committed being the time
 *	sess_append returned.
 *
 *   latency read COUNT OUTFILE READYFILE TIMEOUT_MS
 *	Reads sess-sub output on stdin and stamps each line on arrival.
 *	Creates READYFILE on the first line (any line: the follower is
 *	then set up and caught up).  Stops after COUNT lines carrying "t",
 *	at end of input or after TIMEOUT_MS; writes "seq t arrived" lines.
 *
 *   latency stats SIDEFILE OUTFILE COUNT
 *	Joins the two by seq and prints one JSON object of percentiles.
 *
 * Link with build/libsess.a.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sess.h"

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
num(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || errno != 0)
		errx(2, "%s: '%s' is not a number", what, s);
	return v;
}

static int
writer(int argc, char **argv)
{
	struct sess_store *st;
	struct sess_item it;
	struct sess_ack ack;
	struct sess_err e;
	struct timespec pause;
	long long n, i, us;
	int64_t *seq, *t, *post;
	FILE *f;
	int flags;

	if (argc != 7)
		errx(2, "usage: latency write DB COUNT PAUSE_US MODE SIDEFILE");
	n = num(argv[3], "COUNT");
	us = num(argv[4], "PAUSE_US");
	if ((flags = sess_sync_flags(argv[5])) < 0)
		errx(2, "sync mode '%s' is not full or normal", argv[5]);
	if ((st = sess_store_open(argv[2], flags, &e)) == NULL)
		errx(1, "%s", e.msg);
	seq = calloc((size_t)n + 1, sizeof(*seq));
	t = calloc((size_t)n + 1, sizeof(*t));
	post = calloc((size_t)n + 1, sizeof(*post));
	if (seq == NULL || t == NULL || post == NULL)
		err(1, "calloc");
	pause.tv_sec = us / 1000000;
	pause.tv_nsec = (us % 1000000) * 1000;
	for (i = 0; i < n; i++) {
		t[i] = now_us();
		/* Zeroed: fields this helper does not know stay unset. */
		memset(&it, 0, sizeof(it));
		it.value = json_pack("{s:s, s:I, s:I}", "type", "lat", "i",
		    (json_int_t)i, "t", (json_int_t)t[i]);
		if (it.value == NULL)
			errx(1, "json_pack failed");
		it.units = 1;
		if (sess_append(st, "s", 0, NULL, &it, 1, &ack, &e) != 0)
			errx(1, "append %lld: %s", i, e.msg);
		post[i] = now_us();
		seq[i] = ack.seq;
		json_decref(it.value);
		if (us > 0)
			while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
				;
		pause.tv_sec = us / 1000000;
		pause.tv_nsec = (us % 1000000) * 1000;
	}
	sess_store_close(st);
	if ((f = fopen(argv[6], "w")) == NULL)
		err(1, "%s", argv[6]);
	for (i = 0; i < n; i++)
		fprintf(f, "%lld %lld %lld\n", (long long)seq[i],
		    (long long)t[i], (long long)post[i]);
	if (fclose(f) != 0)
		err(1, "%s", argv[6]);
	free(seq);
	free(t);
	free(post);
	return 0;
}

/* The integer after key (e.g. "\"seq\":") in line, or -1. */
static long long
field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	if (p == NULL)
		return -1;
	return strtoll(p + strlen(key), NULL, 10);
}

static int
reader(int argc, char **argv)
{
	static char buf[1 << 20];
	size_t len = 0, off;
	long long n, got = 0, lines = 0;
	int64_t deadline, arrived, left;
	struct pollfd pfd;
	char *nl, *line;
	FILE *out;
	ssize_t r;
	int fd;

	if (argc != 6)
		errx(2, "usage: latency read COUNT OUTFILE READYFILE TIMEOUT_MS");
	n = num(argv[2], "COUNT");
	deadline = mono_ms() + num(argv[5], "TIMEOUT_MS");
	if ((out = fopen(argv[3], "w")) == NULL)
		err(1, "%s", argv[3]);
	pfd.fd = 0;
	pfd.events = POLLIN;
	while (got < n) {
		if ((left = deadline - mono_ms()) <= 0) {
			warnx("timed out after %lld of %lld events", got, n);
			break;
		}
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err(1, "poll");
		if (r == 0)
			continue;
		if (len == sizeof(buf) - 1)
			errx(1, "line too long");
		r = read(0, buf + len, sizeof(buf) - 1 - len);
		arrived = now_us();
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err(1, "read");
		if (r == 0) {
			warnx("end of input after %lld of %lld events", got, n);
			break;
		}
		len += (size_t)r;
		buf[len] = '\0';
		off = 0;
		while ((nl = memchr(buf + off, '\n', len - off)) != NULL) {
			*nl = '\0';
			line = buf + off;
			off = (size_t)(nl - buf) + 1;
			if (lines++ == 0 && (fd = open(argv[4], O_WRONLY |
			    O_CREAT, 0644)) >= 0)
				close(fd);
			if (strstr(line, "\"t\":") == NULL)
				continue;
			fprintf(out, "%lld %lld %lld\n", field(line, "\"seq\":"),
			    field(line, "\"t\":"), (long long)arrived);
			got++;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
	if (fclose(out) != 0)
		err(1, "%s", argv[3]);
	return 0;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double
pct(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(p / 100 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static void
dist(const char *name, double *v, size_t n, int last)
{
	double sum = 0;
	size_t i;

	qsort(v, n, sizeof(*v), cmp);
	for (i = 0; i < n; i++)
		sum += v[i];
	printf("\"%s\":{\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
	    "\"max_ms\":%.3f,\"mean_ms\":%.3f}%s", name, pct(v, n, 50),
	    pct(v, n, 90), pct(v, n, 99), n ? v[n - 1] : 0,
	    n ? sum / (double)n : 0, last ? "" : ",");
}

static int
stats(int argc, char **argv)
{
	long long n, seq, t, post, arr, maxseq = 0;
	int64_t *tpost, *tstart;
	double *fromstart, *fromcommit, *append;
	size_t m = 0, w = 0;
	FILE *f;

	if (argc != 5)
		errx(2, "usage: latency stats SIDEFILE OUTFILE COUNT");
	n = num(argv[4], "COUNT");
	if ((f = fopen(argv[2], "r")) == NULL)
		err(1, "%s", argv[2]);
	/* Seqs are the stream's: the first event after the setup is small. */
	tpost = calloc((size_t)n + 64, sizeof(*tpost));
	tstart = calloc((size_t)n + 64, sizeof(*tstart));
	fromstart = calloc((size_t)n + 1, sizeof(double));
	fromcommit = calloc((size_t)n + 1, sizeof(double));
	append = calloc((size_t)n + 1, sizeof(double));
	if (!tpost || !tstart || !fromstart || !fromcommit || !append)
		err(1, "calloc");
	while (fscanf(f, "%lld %lld %lld", &seq, &t, &post) == 3) {
		if (seq < 0 || seq >= n + 64)
			errx(1, "%s: seq %lld out of range", argv[2], seq);
		tstart[seq] = t;
		tpost[seq] = post;
		if (w < (size_t)n)
			append[w++] = (double)(post - t) / 1000;
		if (seq > maxseq)
			maxseq = seq;
	}
	fclose(f);
	if ((f = fopen(argv[3], "r")) == NULL)
		err(1, "%s", argv[3]);
	while (fscanf(f, "%lld %lld %lld", &seq, &t, &arr) == 3 &&
	    m < (size_t)n) {
		if (seq < 0 || seq > maxseq || tstart[seq] != t)
			errx(1, "%s: seq %lld does not match the writer's",
			    argv[3], seq);
		fromstart[m] = (double)(arr - t) / 1000;
		fromcommit[m] = (double)(arr - tpost[seq]) / 1000;
		m++;
	}
	fclose(f);
	printf("{\"events\":%lld,\"received\":%zu,", n, m);
	dist("append", append, w, 0);
	dist("from_append_start", fromstart, m, 0);
	dist("from_commit", fromcommit, m, 1);
	printf("}\n");
	free(tpost);
	free(tstart);
	free(fromstart);
	free(fromcommit);
	free(append);
	if (fflush(stdout) != 0 || ferror(stdout))
		err(1, "stdout");
	return m == (size_t)n ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "write") == 0)
		return writer(argc, argv);
	if (argc > 1 && strcmp(argv[1], "read") == 0)
		return reader(argc, argv);
	if (argc > 1 && strcmp(argv[1], "stats") == 0)
		return stats(argc, argv);
	fprintf(stderr, "usage: latency write|read|stats ...\n");
	return 2;
}
