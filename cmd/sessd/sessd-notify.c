/* sessd-notify.c: the notification outbox for a remote sess-notify (-u). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessd.h"
#include "tool.h"

/*
 * A remote sess-notify does through these what an embedded one does in
 * the store: the same functions of lib/notify.c run here, in the writer
 * thread, and the sending stays in sess-notify.  Every request needs a
 * token with admin on "**" (the outbox, the channels and the keys are
 * everyone's).  Bodies and answers are JSON.
 *
 *   POST /v1/notify/claim
 *     {"holder","max","grace","max_tries","backoff","lease","stdout",
 *     "dry","reclaim"}: reads the channel file beside the store (as a
 *     pass does), takes leases back from dead holders if reclaim, scans
 *     and claims up to max due rows for holder: {"notes":[...],
 *     "reports":[lines as -n prints them],"next":US,"reclaimed":N}.
 *   POST /v1/notify/finish
 *     {"holder","max_tries","backoff","notes":[notes with "result",
 *     "retry_after","error"]}: records the results: {"notes":[{"id",
 *     "lost","next_try"}...]}, in order.
 *   POST /v1/notify/keys
 *     {"webhook_secret","vapid","vapid_public_key"}, made on first use.
 *   POST /v1/notify/channels, DELETE /v1/notify/channels
 *     {"member","kind","target"}: registers (201, or 200 if it was
 *     there) or removes (200, 404 if there is none) a channel.
 */
#define NOTIFY_PREFIX "/v1/notify/"
#define CLAIM_MAX 4096
#define HOLDER_MAX 120

struct nreq {
	int op;
	json_t *in, *out;
	int status;
};

enum { N_CLAIM, N_FINISH, N_KEYS, N_ADD, N_DEL };

static void
nreq_free(struct nreq *r)
{
	json_decref(r->in);
	json_decref(r->out);
	free(r);
}

static int64_t
num(json_t *in, const char *key, int64_t def)
{
	json_t *v = json_object_get(in, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

/* The configuration of a pass, as the request gives it. */
static int
cfg_of(json_t *in, struct sess_notify_cfg *cfg, struct sess_err *e)
{
	const char *h = json_string_value(json_object_get(in, "holder"));

	memset(cfg, 0, sizeof(*cfg));
	if (h == NULL || *h == '\0' || strlen(h) > HOLDER_MAX)
		return sess_err_set(e, SESS_EINVAL, "\"holder\" must be a "
		    "string of 1 to %d bytes", HOLDER_MAX);
	cfg->holder = h;
	cfg->grace = num(in, "grace", -1);
	cfg->max_tries = (int)num(in, "max_tries", 0);
	cfg->backoff = num(in, "backoff", 0);
	cfg->lease = num(in, "lease", 0);
	cfg->stdout_kind = json_is_true(json_object_get(in, "stdout"));
	cfg->dry = json_is_true(json_object_get(in, "dry"));
	return 0;
}

static void
collect(const char *line, void *arg)
{
	json_array_append_new(arg, json_string(line));
}

static int
claim_fn(struct sess_store *st, struct sess_note *notes, struct nreq *r,
    struct sess_notify_cfg *cfg, struct sess_err *e)
{
	struct sess_notify *n;
	json_t *arr, *reports;
	size_t max = (size_t)num(r->in, "max", 256), got = 0, i;
	int64_t next = 0;
	char *conf = NULL;
	int rc, back = 0;

	if (asprintf(&conf, "%s.notify", sd->db) < 0)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	rc = sess_notify_config_sync(st, conf, cfg->dry, e);
	free(conf);
	if (rc < 0)
		return rc;
	reports = json_array();
	arr = json_array();
	cfg->report = collect;
	cfg->arg = reports;
	if ((n = sess_notify_open(st, cfg, e)) == NULL) {
		json_decref(reports);
		json_decref(arr);
		return e->code;
	}
	rc = 0;
	if (!cfg->dry && json_is_true(json_object_get(r->in, "reclaim")) &&
	    (back = sess_notify_reclaim(n, e)) < 0)
		rc = back;
	if (rc == 0)
		rc = sess_notify_claim(n, max, notes, &got, e);
	if (rc == 0)
		rc = sess_notify_next(n, &next, e);
	for (i = 0; i < got; i++) {
		json_array_append_new(arr, sess_note_to_json(&notes[i]));
		sess_note_free(&notes[i]);
	}
	sess_notify_close(n);
	if (rc != 0) {
		json_decref(reports);
		json_decref(arr);
		return rc;
	}
	r->out = json_pack("{s:o, s:o, s:I, s:i}", "notes", arr, "reports",
	    reports, "next", (json_int_t)next, "reclaimed", back);
	return 0;
}

static int
finish_fn(struct sess_store *st, struct nreq *r, struct sess_notify_cfg *cfg,
    struct sess_err *e)
{
	json_t *in = json_object_get(r->in, "notes"), *v, *arr;
	struct sess_note *notes;
	struct sess_notify *n;
	size_t nn = json_array_size(in), i, k = 0;
	int rc = 0;

	if (!json_is_array(in))
		return sess_err_set(e, SESS_EINVAL, "\"notes\" must be a list");
	if ((notes = calloc(nn ? nn : 1, sizeof(*notes))) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	json_array_foreach(in, i, v) {
		if ((rc = sess_note_from_json(v, &notes[k], e)) != 0)
			break;
		k++;
	}
	if (rc == 0 && (n = sess_notify_open(st, cfg, e)) == NULL)
		rc = e->code;
	else if (rc == 0) {
		rc = sess_notify_finish(n, notes, k, e);
		sess_notify_close(n);
	}
	arr = json_array();
	for (i = 0; i < k; i++) {
		if (rc == 0)
			json_array_append_new(arr, json_pack("{s:I, s:b, s:I}",
			    "id", (json_int_t)notes[i].id, "lost",
			    notes[i].lost, "next_try",
			    (json_int_t)notes[i].next_try));
		sess_note_free(&notes[i]);
	}
	free(notes);
	if (rc != 0) {
		json_decref(arr);
		return rc;
	}
	r->out = json_pack("{s:o}", "notes", arr);
	return 0;
}

static char *
make_secret(void)
{
	return sess_random_hex(32);
}

static int
keys_fn(struct sess_store *st, struct nreq *r, struct sess_err *e)
{
	char *secret = NULL, *vapid = NULL, *pub = NULL;
	int rc;

	if ((rc = sess_notify_key(st, 0, "webhook-secret", make_secret,
	    &secret, e)) != 0 || (rc = sess_notify_key(st, 0, "vapid",
	    sess_push_vapid_new, &vapid, e)) != 0)
		goto out;
	if ((pub = sess_push_vapid_public(vapid)) == NULL) {
		rc = sess_err_set(e, SESS_EIO, "cannot read the VAPID key");
		goto out;
	}
	r->out = json_pack("{s:s, s:s, s:s}", "webhook_secret", secret,
	    "vapid", vapid, "vapid_public_key", pub);
out:
	free(secret);
	free(vapid);
	free(pub);
	return rc;
}

static int
notify_fn(struct sess_store *st, struct job *j)
{
	struct nreq *r = j->arg;
	struct sess_notify_cfg cfg;
	struct sess_note *notes;
	const char *member, *kind, *target;
	size_t max;
	int rc;

	switch (r->op) {
	case N_CLAIM:
		if ((rc = cfg_of(r->in, &cfg, &j->err)) != 0)
			return rc;
		max = (size_t)num(r->in, "max", 256);
		if (max < 1 || max > CLAIM_MAX)
			return sess_err_set(&j->err, SESS_EINVAL, "\"max\" "
			    "must be from 1 to %d", CLAIM_MAX);
		if ((notes = calloc(max, sizeof(*notes))) == NULL)
			return sess_err_set(&j->err, SESS_ENOMEM, "out of "
			    "memory");
		rc = claim_fn(st, notes, r, &cfg, &j->err);
		free(notes);
		return rc;
	case N_FINISH:
		if ((rc = cfg_of(r->in, &cfg, &j->err)) != 0)
			return rc;
		return finish_fn(st, r, &cfg, &j->err);
	case N_KEYS:
		return keys_fn(st, r, &j->err);
	default:
		member = json_string_value(json_object_get(r->in, "member"));
		kind = json_string_value(json_object_get(r->in, "kind"));
		target = json_string_value(json_object_get(r->in, "target"));
		if (member == NULL || kind == NULL || target == NULL)
			return sess_err_set(&j->err, SESS_EINVAL, "give "
			    "\"member\", \"kind\" and \"target\" as strings");
		if (r->op == N_ADD)
			rc = sess_notify_channel_add(st, 0, member, kind,
			    target, &j->err);
		else
			rc = sess_notify_channel_del(st, 0, 0, member, kind,
			    target, &j->err);
		if (rc < 0)
			return rc;
		r->status = r->op == N_ADD && rc == 1 ? 201 : 200;
		r->out = r->op == N_ADD ? json_pack("{s:b}", "created", rc) :
		    json_pack("{s:i}", "removed", rc);
		return 0;
	}
}

static void
notify_done(struct job *j)
{
	struct nreq *r = j->arg;
	char *body;

	if (j->c != NULL) {
		if (j->rc != 0)
			resp_err(j->c, j->rc, &j->err);
		else if (r->out == NULL || (body = json_dumps(r->out,
		    JSON_COMPACT)) == NULL)
			resp_fail(j->c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
			    "out of memory");
		else {
			resp_simple(j->c, r->status ? r->status : 200,
			    "application/json", body, strlen(body));
			free(body);
		}
	}
	nreq_free(r);
}

int
notify_http(struct conn *c, const char *path, const char *qs)
{
	const char *rest = path + strlen(NOTIFY_PREFIX);
	struct sess_err e;
	struct nreq *r;
	struct job *j;
	json_t *in;
	int op;

	if (strcmp(rest, "claim") == 0)
		op = N_CLAIM;
	else if (strcmp(rest, "finish") == 0)
		op = N_FINISH;
	else if (strcmp(rest, "keys") == 0)
		op = N_KEYS;
	else if (strcmp(rest, "channels") == 0)
		op = c->req.method == M_DELETE ? N_DEL : N_ADD;
	else
		return resp_fail(c, SESS_ENOENT, SESS_WHY_NONE, NULL,
		    "no such path");
	if (op == N_KEYS)
		in = json_object();
	else if ((in = sess_json_parse(c->req.body.p ? c->req.body.p : "",
	    c->req.body.len, &e)) == NULL || !json_is_object(in)) {
		json_decref(in);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "the body must be a "
		    "JSON object");
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (j = job_new(J_FUNC, c)) == NULL) {
		free(r);
		json_decref(in);
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	}
	r->op = op;
	r->in = in;
	j->fn = notify_fn;
	j->done = notify_done;
	j->arg = r;
	job_submit(j);
	return 0;
}
