/* sessd-ext.c: sess's own paths: event lines, messages, sess appends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessd.h"
#include "tool.h"

/*
 * The tools' remote mode (lib/remote.c) speaks these besides the plain
 * protocol, so that its output is what embedded mode prints:
 *   GET /v1/events/NAME?offset=O[&type=T][&live=long-poll&timeout=MS]
 *     event lines as sess-sub prints them (sess_event_format);
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

#define EVENTS_PREFIX "/v1/events/"
#define METRICS_PATH "/v1/metrics"
#define MESSAGES_PREFIX "/v1/messages/"
#define SCAN_ROUNDS 64

static char *
json_str(const char *s)
{
	json_t *v = json_string(s);
	char *t = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	return t;
}

int
ext_lines(struct sess_buf *out, const char *sj, const char *type,
    const struct sess_event *evs, size_t n)
{
	size_t i;
	int any = 0;

	for (i = 0; i < n; i++) {
		if (type != NULL && (evs[i].type == NULL ||
		    strcmp(evs[i].type, type) != 0))
			continue;
		if (sess_event_format(out, sj, &evs[i]) == 0)
			any = 1;
	}
	return any;
}

struct lines {
	struct sess_buf *out;
	const char *sj, *type;
	int64_t last;
	int any;
};

static int
line_one(const struct sess_event *ev, void *arg)
{
	struct lines *l = arg;

	l->last = ev->seq;
	if (ext_lines(l->out, l->sj, l->type, ev, 1))
		l->any = 1;
	return 0;
}

static int
name_of(const char *raw, char *name, size_t size, struct conn *c)
{
	struct sess_err e;
	long n = pct_decode(raw, strlen(raw), name, size, 0);

	if (n < 0) {
		resp_error(c, 400, "BAD_STREAM_NAME", "stream name is too long "
		    "or has a bad %%-escape");
		return -1;
	}
	if (sess_name_check(name, (size_t)n, &e) != 0) {
		resp_error(c, 400, "BAD_STREAM_NAME", "%s", e.msg);
		return -1;
	}
	return 0;
}

static int
events(struct conn *c, const char *name, const char *q)
{
	struct sess_ds_info s;
	struct sess_err e;
	struct sess_buf out;
	struct lines l;
	char off[40], type[256], live[16], tmo[16], *sj;
	int kind = SESS_OFF_START, rc, round, has_type;
	int64_t after = 0, ms = sd->poll_ms, v;

	if (auth_http(c, name, SESS_CAP_READ) != 0)
		return 0;
	off[0] = '\0';
	if (query_get(q, "offset", off, sizeof(off)) == 0 &&
	    sess_offset_parse(off, &kind, &after, &e) != 0)
		return resp_error(c, 400, "BAD_REQUEST", "%s", e.msg);
	has_type = query_get(q, "type", type, sizeof(type)) == 0;
	if (query_get(q, "timeout", tmo, sizeof(tmo)) == 0 &&
	    (v = tool_num(tmo, 3600000)) > 0 && v < ms)
		ms = v;
	if ((rc = sess_ds_get(sd->rd, name, &s, &e)) != 0)
		return resp_error(c, rc == SESS_ENOENT ? 404 : 500, rc ==
		    SESS_ENOENT ? "NOT_FOUND" : "STORE_ERROR", "%s", e.msg);
	if (off[0] != '\0' && kind == SESS_OFF_NOW)
		after = s.tail;
	if ((sj = json_str(name)) == NULL)
		return resp_error(c, 503, "OUT_OF_MEMORY", "out of memory");
	sess_buf_init(&out, (size_t)1 << 31);
	memset(&l, 0, sizeof(l));
	l.out = &out;
	l.sj = sj;
	l.type = has_type ? type : NULL;
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
		rc = fanout_wait_events(c, &s, name, l.last, has_type ?
		    strdup(type) : NULL, sj, ms);
		if (rc == 0)
			return 0;
		return resp_error(c, 503, "TRY_AGAIN", "the stream moved on");
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

static int
messages(struct conn *c, const char *name)
{
	struct sess_buf out;
	struct sess_err e;
	int rc;

	if (auth_http(c, name, SESS_CAP_READ) != 0)
		return 0;
	sess_buf_init(&out, (size_t)1 << 30);
	if ((rc = sess_messages_each(sd->rd, name, message_line, &out,
	    &e)) != 0) {
		sess_buf_release(&out);
		return resp_error(c, rc == SESS_ENOENT ? 404 : 500, rc ==
		    SESS_ENOENT ? "NOT_FOUND" : "STORE_ERROR", "%s", e.msg);
	}
	resp_simple(c, 200, "application/x-ndjson", out.p, out.len);
	sess_buf_release(&out);
	return 0;
}

static int
metrics(struct conn *c)
{
	char body[256];
	int topics, waiting, n;

	if (auth_http(c, NULL, 0) != 0)
		return 0;
	waiting = fanout_count(&topics);
	n = snprintf(body, sizeof(body), "{\"connections\":%d,\"waiting\":%d,"
	    "\"topics\":%d,\"writes\":%d}\n", sd->nconns, waiting, topics,
	    writer_inflight());
	resp_simple(c, 200, "application/json", body, (size_t)n);
	return 0;
}

int
ext_route(struct conn *c, const char *path, const char *q)
{
	char name[SESS_NAME_MAX + 1];

	if (presence_route(c, path, q) == 0)
		return 0;
	if (c->req.method != M_GET && c->req.method != M_HEAD)
		return -1;
	if (strcmp(path, METRICS_PATH) == 0)
		return metrics(c);
	if (strncmp(path, EVENTS_PREFIX, strlen(EVENTS_PREFIX)) == 0) {
		if (name_of(path + strlen(EVENTS_PREFIX), name, sizeof(name),
		    c) != 0)
			return 0;
		return events(c, name, q ? q : "");
	}
	if (strncmp(path, MESSAGES_PREFIX, strlen(MESSAGES_PREFIX)) == 0) {
		if (name_of(path + strlen(MESSAGES_PREFIX), name, sizeof(name),
		    c) != 0)
			return 0;
		return messages(c, name);
	}
	return -1;
}

static void
append_done(struct job *j)
{
	struct conn *c = j->c;
	struct sess_buf out;
	char line[128];
	size_t i;
	int n, status;

	if (j->rc == 0)
		sub_notify(j->req.stream);
	if (c == NULL)
		return;
	switch (j->rc) {
	case 0:
		break;
	case SESS_ENOENT:
		resp_error(c, 404, "NOT_FOUND", "%s", j->err.msg);
		return;
	case SESS_EINVAL:
		resp_error(c, 400, "BAD_REQUEST", "%s", j->err.msg);
		return;
	case SESS_EOWN:
		resp_error(c, 400, "RESERVED_TYPE", "%s", j->err.msg);
		return;
	case SESS_ESTALE:
		resp_error(c, 403, "PRODUCER_STALE_EPOCH", "%s", j->err.msg);
		return;
	case SESS_EGAP:
	case SESS_ECONFLICT:
		resp_error(c, 409, "CONFLICT", "%s", j->err.msg);
		return;
	default:
		status = j->failure == SESS_WRITE_FULL ? 507 : j->failure ==
		    SESS_WRITE_READONLY || j->rc == SESS_EBUSY ? 503 : 500;
		resp_error(c, status, "STORE_ERROR", "%s", j->err.msg);
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
ext_append(struct conn *c, const char *name)
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

	if (auth_http(c, name, SESS_CAP_WRITE) != 0)
		return 0;
	if ((id != NULL || ep != NULL || sq != NULL) && (id == NULL ||
	    ep == NULL || sq == NULL || *id == '\0' || strlen(id) > ID_MAX ||
	    (epoch = tool_num(ep, SESS_SEQ_MAX)) < 0 ||
	    (seq = tool_num(sq, SESS_SEQ_MAX)) < 0))
		return resp_error(c, 400, "BAD_REQUEST",
		    "bad producer headers");
	if (units != NULL && (u = tool_num(units, SESS_SEQ_MAX)) < 1)
		return resp_error(c, 400, "BAD_REQUEST", "bad Sess-Units");
	if ((j = job_new(J_SESS_APPEND, c)) == NULL)
		return resp_error(c, 503, "OUT_OF_MEMORY", "out of memory");
	sess_buf_init(&j->body, c->req.body.len + 16);
	if (sess_ds_split(c->req.body.p ? c->req.body.p : "",
	    c->req.body.len, 1, &j->body, &j->items, &j->n, &e) != 0) {
		job_free(j);
		return resp_error(c, 400, e.code == SESS_EOWN ?
		    "RESERVED_TYPE" : "BAD_REQUEST", "%s", e.msg);
	}
	if (j->n == 0 || (units != NULL && j->n != 1)) {
		job_free(j);
		return resp_error(c, 400, "BAD_REQUEST", j->n == 0 ?
		    "nothing to append" : "Sess-Units goes with one value");
	}
	if ((j->acks = calloc(j->n, sizeof(*j->acks))) == NULL) {
		job_free(j);
		return resp_error(c, 503, "OUT_OF_MEMORY", "out of memory");
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
