/* sessd-ext.c: sess's own paths: event lines, messages, sess appends. */
#include <stdio.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>

#include "sessd.h"
#include "tool.h"

/*
 * The tools' remote mode (lib/remote.c) speaks these besides the plain
 * protocol, so that its output is what embedded mode prints:
 *   GET /v1/events/NAME?offset=O[&type=T]...[&live=long-poll&timeout=MS]
 *     event lines as sess-sub prints them (sess_event_format), only
 *     those of one of the types T if any are given;
 *   GET /v1/messages/NAME
 *     the materialized messages, one JSON object a line;
 *   POST /v1/stream/NAME with "Sess-Append: 1"
 *     sess_append() itself: a JSON array of values, per-value producer
 *     positions from Producer-Seq (Sess-Units for a text chunk), the
 *     stream created unless "Sess-No-Create: 1"; the answer is one
 *     {"offset","seq"[,"duplicate"]} line per value.
 * And GET /v1/metrics: a few gauges, as one JSON object.
 * A plain Durable Streams client never sees any of it.
 */

#define SCAN_ROUNDS 64
#define TYPES_MAX 4096     /* the type= parameters of a request, decoded */

static char *
json_str(const char *s)
{
	json_t *v = json_string(s);
	char *t = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	return t;
}

/*
 * A list of types (for ext_lines()): each one after a '=' and before a
 * NUL, the list ended by a NUL in place of the next '='.
 *//*
 * The type= parameters of q as such a list in out; its size (0: none),
 * or -1 if they do not fit or one is malformed.
 */
static long
types_of(const char *q, char *out, size_t size)
{
	const char *p, *amp, *eq;
	char key[64];
	size_t at = 0;
	long n;

	for (p = q; p != NULL && *p != '\0'; p = amp ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		eq = memchr(p, '=', amp ? (size_t)(amp - p) : strlen(p));
		if (eq == NULL || pct_decode(p, (size_t)(eq - p), key,
		    sizeof(key), 1) < 0 || strcmp(key, "type") != 0)
			continue;
		if (size - at < 3)
			return -1;
		out[at++] = '=';
		n = pct_decode(eq + 1, amp ? (size_t)(amp - eq - 1) :
		    strlen(eq + 1), out + at, size - at - 1, 1);
		if (n < 0 || (size_t)n != strlen(out + at))
			return -1;
		at += (size_t)n + 1;
	}
	out[at] = '\0';
	return at == 0 ? 0 : (long)at + 1;
}

struct lines {
	struct sess_buf *out;
	const char *sj, *types;
	int64_t last;
	int any;
};

static int
line_one(const struct sess_event *ev, void *arg)
{
	struct lines *l = arg;

	l->last = ev->seq;
	if (ext_lines(l->out, l->sj, l->types, ev, 1))
		l->any = 1;
	return 0;
}

int
ext_events(struct conn *c, const char *name, const char *q)
{
	struct sess_ds_info s;
	struct sess_err e;
	struct sess_buf out;
	struct lines l;
	char off[40], types[TYPES_MAX], live[16], tmo[16], *sj, *w;
	int kind = SESS_OFF_START, rc, round;
	int64_t after = 0, ms = sd->poll_ms, v;
	long tl;

	off[0] = '\0';
	if (query_get(q, "offset", off, sizeof(off)) == 0 &&
	    sess_offset_parse(off, &kind, &after, &e) != 0)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL, "%s",
		    e.msg);
	if ((tl = types_of(q, types, sizeof(types))) < 0)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL, "type: "
		    "a bad %%-escape, or more than %d bytes of types",
		    TYPES_MAX);
	if (query_get(q, "timeout", tmo, sizeof(tmo)) == 0 &&
	    (v = tool_num(tmo, 3600000)) > 0 && v < ms)
		ms = v;
	if ((rc = sess_ds_get(sd->rd, name, &s, &e)) != 0)
		return resp_err(c, rc, &e);
	if (off[0] != '\0' && kind == SESS_OFF_NOW)
		after = s.tail;
	if ((sj = json_str(name)) == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	sess_buf_init(&out, (size_t)1 << 31);
	memset(&l, 0, sizeof(l));
	l.out = &out;
	l.sj = sj;
	l.types = tl > 0 ? types : NULL;
	l.last = after;
	/* Events of another type are passed over, a bounded number. */
	for (round = 0; round < SCAN_ROUNDS && l.last < s.tail && !l.any;
	    round++)
		if (sess_ds_read(sd->rd, &s, l.last, s.tail, CHUNK_READ,
		    line_one, &l, &e) < 0)
			break;
	if (!l.any && l.last >= s.tail && query_get(q, "live", live,
	    sizeof(live)) == 0 && strcmp(live, "long-poll") == 0 &&
	    !s.closed) {
		sess_buf_release(&out);
		if ((w = tl > 0 ? malloc((size_t)tl) : NULL) != NULL)
			memcpy(w, types, (size_t)tl);
		if (tl > 0 && w == NULL) {
			free(sj);
			return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
			    "out of memory");
		}
		rc = fanout_wait_events(c, &s, name, l.last, w, sj, ms);
		if (rc == 0)
			return 0;
		return resp_fail(c, SESS_EBUSY, SESS_WHY_AGAIN, NULL,
		    "the stream moved on");
	}
	free(sj);
	lp_respond(c, &s, l.last, out.p, out.len, l.last >= s.tail,
	    l.last >= s.tail && s.closed, cursor_floor(NULL), 200);
	sess_buf_release(&out);
	return 0;
}

static int
message_line(const struct sess_message *m, void *arg)
{
	return sess_message_format(arg, m) != 0;
}

int
ext_messages(struct conn *c, const char *name, const char *qs)
{
	struct sess_buf out;
	struct sess_err e;
	int rc;

	sess_buf_init(&out, (size_t)1 << 30);
	if ((rc = sess_messages_each(sd->rd, name, message_line, &out,
	    &e)) != 0) {
		sess_buf_release(&out);
		return resp_err(c, rc, &e);
	}
	resp_simple(c, 200, "application/x-ndjson", out.p, out.len);
	sess_buf_release(&out);
	return 0;
}

/*
 * heap_bytes: what sessd's heap holds now.  Under AddressSanitizer that
 * is the sanitizer's own count: its allocator keeps freed pages mapped,
 * so the resident size no longer says what sessd holds.
 */
#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
#endif
static size_t
heap_bytes(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#endif
}

int
ext_metrics(struct conn *c, const char *path, const char *qs)
{
	char body[320];
	int topics, waiting, n;

	waiting = fanout_count(&topics);
	n = snprintf(body, sizeof(body), "{\"connections\":%d,\"waiting\":%d,"
	    "\"topics\":%d,\"writes\":%d,\"queued\":%zu,\"heap\":%zu}\n",
	    sd->nconns, waiting, topics, writer_inflight(), conns_queued(),
	    heap_bytes());
	resp_simple(c, 200, "application/json", body, (size_t)n);
	return 0;
}

static void
append_done(struct job *j)
{
	struct conn *c = j->c;
	struct sess_buf out;
	char line[128];
	size_t i;
	int n;

	if (j->rc == 0)
		sub_notify(j->req.stream);
	if (c == NULL)
		return;
	if (j->rc != 0) {
		resp_err(c, j->rc, &j->err);
		return;
	}
	sess_buf_init(&out, (size_t)1 << 30);
	for (i = 0; i < j->n; i++) {
		n = snprintf(line, sizeof(line), "{\"offset\":\"%0*lld\","
		    "\"seq\":%lld%s}\n", SESS_OFFSET_LEN,
		    (long long)j->acks[i].seq, (long long)j->acks[i].seq,
		    j->acks[i].duplicate ? ",\"duplicate\":true" : "");
		sess_buf_add(&out, line, (size_t)n);
	}
	resp_simple(c, 200, "application/x-ndjson", out.p, out.len);
	sess_buf_release(&out);
}

int
ext_append(struct conn *c, const char *name, const char *qs)
{
	const char *id = req_header(&c->req, "Producer-Id");
	const char *ep = req_header(&c->req, "Producer-Epoch");
	const char *sq = req_header(&c->req, "Producer-Seq");
	const char *units = req_header(&c->req, "Sess-Units");
	const char *nc = req_header(&c->req, "Sess-No-Create");
	struct sess_err e;
	struct job *j;
	long long epoch = 0, seq = 0, u = 1;
	size_t i;

	if ((id != NULL || ep != NULL || sq != NULL) && (id == NULL ||
	    ep == NULL || sq == NULL || *id == '\0' || strlen(id) > ID_MAX ||
	    (epoch = tool_num(ep, SESS_SEQ_MAX)) < 0 ||
	    (seq = tool_num(sq, SESS_SEQ_MAX)) < 0))
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "bad producer headers");
	if (units != NULL && (u = tool_num(units, SESS_SEQ_MAX)) < 1)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "bad Sess-Units");
	if ((j = job_new(J_SESS_APPEND, c)) == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	sess_buf_init(&j->body, c->req.body.len + 16);
	if (sess_ds_split(c->req.body.p ? c->req.body.p : "",
	    c->req.body.len, 1, &j->body, &j->items, &j->n, &e) != 0) {
		job_free(j);
		return resp_err(c, e.code, &e);
	}
	if (j->n == 0 || (units != NULL && j->n != 1)) {
		job_free(j);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    j->n == 0 ?
		    "nothing to append" : "Sess-Units goes with one value");
	}
	if ((j->acks = calloc(j->n, sizeof(*j->acks))) == NULL) {
		job_free(j);
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	}
	for (i = 0; i < j->n; i++) {
		j->items[i].pseq = seq + (long long)i;
		j->items[i].units = 1;
	}
	j->items[0].units = u;
	if (id != NULL) {
		j->has_pr = 1;
		j->pr.id = job_str(j, id);
		j->pr.epoch = epoch;
	}
	j->flags = nc != NULL && strcmp(nc, "0") != 0 ? SESS_NOCREATE : 0;
	j->req.stream = job_str(j, name);
	j->done = append_done;
	job_submit(j);
	return 0;
}
