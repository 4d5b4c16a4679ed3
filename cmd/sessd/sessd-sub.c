/* sessd-sub.c: the reserved subscription APIs: webhooks and pull-wake. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sessd.h"

/*
 * A subscription links streams (named, or matching a glob pattern) and
 * wakes a consumer when any of them has events past what the consumer
 * acknowledged: a webhook gets a signed POST, a pull-wake subscription
 * gets an event on its wake stream and waits for a worker to claim it.
 * Each wake has a generation and an id; acks for an older one are
 * fenced off.  Subscriptions live in memory and in the store's records,
 * written through the writer before a request is answered.
 */

#define ID_LEN 128
#define TICK_MS 250
#define SCAN_MS 1000
#define LEASE_DEFAULT 30000
#define LEASE_MIN 1000
#define LEASE_MAX 600000
#define RETRY_MAX_MS 60000
#define JWKS_PATH "/v1/stream/__ds/jwks.json"
#define SUBS_PATH "/v1/stream/__ds/subscriptions/"

enum { S_IDLE, S_WAKE, S_CLAIMED };

struct link {
	char *path;
	int glob;
	int64_t acked;
};

struct sub {
	struct sub *next;
	char *id;
	json_t *cfg;                  /* as normalised at creation */
	int webhook;
	int64_t lease_ms;
	char base[256];               /* http://host the API was reached at */
	struct link *links;
	size_t nlinks, caplinks;
	int64_t generation;
	char wake_id[40], token[72];
	int state;
	char holder[256];
	int64_t lease_until;          /* microseconds */
	json_t *snapshot;             /* the streams of the current wake */
	int delivering, delivered, attempts;
	int64_t retry_at;
};

static struct {
	struct sub *subs;
	lws_sorted_usec_list_t tick;
	int64_t last_scan;
} S;

static int
sub_id_ok(const char *id, size_t n)
{
	size_t i;

	if (n == 0 || n > ID_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' &&
		    id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
		    id[i] == '-' || id[i] == '_' || id[i] == '.'))
			return 0;
	return 1;
}

static struct sub *
sub_find(const char *id)
{
	struct sub *s;

	for (s = S.subs; s != NULL; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

static void
sub_free(struct sub *s)
{
	size_t i;

	for (i = 0; i < s->nlinks; i++)
		free(s->links[i].path);
	free(s->links);
	json_decref(s->cfg);
	json_decref(s->snapshot);
	free(s->id);
	free(s);
}

static struct link *
link_find(struct sub *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->nlinks; i++)
		if (strcmp(s->links[i].path, path) == 0)
			return &s->links[i];
	return NULL;
}

static struct link *
link_add(struct sub *s, const char *path, int glob, int64_t acked)
{
	struct link *l;

	if ((l = link_find(s, path)) != NULL) {
		if (!glob)
			l->glob = 0;
		return l;
	}
	if (s->nlinks == s->caplinks) {
		size_t cap = s->caplinks ? s->caplinks * 2 : 8;

		if ((l = realloc(s->links, cap * sizeof(*l))) == NULL)
			return NULL;
		s->links = l;
		s->caplinks = cap;
	}
	l = &s->links[s->nlinks];
	if ((l->path = strdup(path)) == NULL)
		return NULL;
	l->glob = glob;
	l->acked = acked;
	s->nlinks++;
	return l;
}

static const char *
cfg_str(const struct sub *s, const char *key)
{
	return json_string_value(json_object_get(s->cfg, key));
}

/* The tail of a stream, or 0 if there is none. */
static int64_t
tail_of(const char *path)
{
	struct sess_ds_info i;

	if (sess_ds_get(sd->rd, path, &i, NULL) != 0)
		return 0;
	return i.tail;
}

static int
pending(const struct sub *s)
{
	size_t i;

	for (i = 0; i < s->nlinks; i++)
		if (tail_of(s->links[i].path) > s->links[i].acked)
			return 1;
	return 0;
}

static json_t *
offset_json(int64_t seq)
{
	char off[SESS_OFFSET_LEN + 1];

	sess_offset_fmt(seq, off);
	return json_string(off);
}

static json_t *
snapshot(const struct sub *s)
{
	json_t *a = json_array();
	size_t i;
	int64_t t;

	for (i = 0; i < s->nlinks; i++) {
		t = tail_of(s->links[i].path);
		json_array_append_new(a, json_pack("{s:s, s:o, s:o, s:b}",
		    "path", s->links[i].path, "tail_offset", offset_json(t),
		    "acked_offset", offset_json(s->links[i].acked),
		    "has_pending", t > s->links[i].acked));
	}
	return a;
}

static json_t *
view(const struct sub *s)
{
	json_t *v, *streams = json_array(), *w;
	size_t i;
	char jwks[512];

	v = json_pack("{s:s, s:s, s:I, s:I, s:s}", "id", s->id, "type",
	    s->webhook ? "webhook" : "pull-wake", "lease_ttl_ms",
	    (json_int_t)s->lease_ms, "generation", (json_int_t)s->generation,
	    "state", s->state == S_IDLE ? "idle" : s->state == S_WAKE ?
	    "waking" : "claimed");
	if (cfg_str(s, "pattern") != NULL)
		json_object_set_new(v, "pattern", json_string(cfg_str(s,
		    "pattern")));
	if (cfg_str(s, "description") != NULL)
		json_object_set_new(v, "description", json_string(cfg_str(s,
		    "description")));
	if (s->webhook) {
		snprintf(jwks, sizeof(jwks), "%s%s", s->base, JWKS_PATH);
		w = json_pack("{s:s, s:{s:s, s:s, s:s}}", "url", cfg_str(s,
		    "webhook_url"), "signing", "alg", "ed25519", "kid",
		    hook_kid(), "jwks_url", jwks);
		json_object_set_new(v, "webhook", w);
	} else {
		json_object_set_new(v, "wake_stream", json_string(cfg_str(s,
		    "wake_stream")));
	}
	for (i = 0; i < s->nlinks; i++)
		json_array_append_new(streams, json_pack("{s:s, s:s, s:o, s:o}",
		    "path", s->links[i].path, "link_type", s->links[i].glob ?
		    "glob" : "explicit", "acked_offset",
		    offset_json(s->links[i].acked), "tail_offset",
		    offset_json(tail_of(s->links[i].path))));
	json_object_set_new(v, "streams", streams);
	return v;
}

/* The record a subscription is kept as. */
static char *
record(const struct sub *s)
{
	json_t *r, *links = json_array();
	char *text;
	size_t i;

	for (i = 0; i < s->nlinks; i++)
		json_array_append_new(links, json_pack("{s:s, s:b, s:I}",
		    "path", s->links[i].path, "glob", s->links[i].glob,
		    "acked", (json_int_t)s->links[i].acked));
	r = json_pack("{s:O, s:s, s:o, s:I, s:s, s:s, s:i, s:s, s:I}",
	    "config", s->cfg, "base", s->base, "links", links, "generation",
	    (json_int_t)s->generation, "wake_id", s->wake_id, "token",
	    s->token, "state", s->state, "holder", s->holder, "lease_until",
	    (json_int_t)s->lease_until);
	text = r ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	return text;
}

/* Persisting goes through the writer; the answer waits for it. */
struct saved {
	char *kind, *key, *json;
	int status;
	json_t *body;
};

static int
save_fn(struct sess_store *st, struct job *j)
{
	struct saved *sv = j->arg;

	return sess_ds_record_put(st, sv->kind, sv->key, sv->json, &j->err);
}

static void
json_respond(struct conn *c, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	if (status == 204 || text == NULL)
		resp_simple(c, status, NULL, NULL, 0);
	else
		resp_simple(c, status, "application/json", text, strlen(text));
	free(text);
}

static void
save_done(struct job *j)
{
	struct saved *sv = j->arg;

	if (j->rc != 0)
		logx("saving %s %s: %s", sv->kind, sv->key, j->err.msg);
	if (j->c != NULL) {
		if (j->rc != 0)
			resp_err(j->c, j->rc, &j->err);
		else
			json_respond(j->c, sv->status, sv->body);
	}
	json_decref(sv->body);
	free(sv->kind);
	free(sv->key);
	free(sv->json);
	free(sv);
}

/*
 * Writes a record (json NULL deletes it); then, if c, answers status
 * with body (taken).
 */
void
record_save(const char *kind, const char *key, char *json, struct conn *c,
    int status, json_t *body)
{
	struct saved *sv;
	struct job *j;

	if ((sv = calloc(1, sizeof(*sv))) == NULL ||
	    (j = job_new(J_FUNC, c)) == NULL) {
		free(sv);
		free(json);
		json_decref(body);
		if (c != NULL)
			resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
			    "out of memory");
		return;
	}
	sv->kind = strdup(kind);
	sv->key = strdup(key);
	sv->json = json;
	sv->status = status;
	sv->body = body;
	j->fn = save_fn;
	j->arg = sv;
	j->done = save_done;
	job_submit(j);
}

static void
sub_save(struct sub *s, struct conn *c, int status, json_t *body)
{
	record_save("sub", s->id, record(s), c, status, body);
}

static void
deliver(struct sub *s)
{
	json_t *body;
	char cb[512], *text;

	snprintf(cb, sizeof(cb), "%s%s%s/callback", s->base, SUBS_PATH, s->id);
	json_decref(s->snapshot);
	s->snapshot = snapshot(s);
	body = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I, s:O}",
	    "subscription_id", s->id, "wake_id", s->wake_id, "generation",
	    (json_int_t)s->generation, "callback_url", cb, "callback_token",
	    s->token, "lease_ttl_ms", (json_int_t)s->lease_ms, "streams",
	    s->snapshot);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL || hook_post(s->id, s->generation, cfg_str(s,
	    "webhook_url"), text) != 0) {
		free(text);
		s->retry_at = lws_now_usecs() + 1000000;
		return;
	}
	free(text);
	s->delivering = 1;
	s->delivered = 0;
}

static void
wake_event_done(struct job *j)
{
	if (j->rc != 0)
		logx("wake event on %s: %s", j->req.stream, j->err.msg);
}

/* A pull-wake subscription announces a wake on its wake stream. */
static void
post_wake(struct sub *s)
{
	json_t *ev;
	char *text;
	struct job *j;

	ev = json_pack("{s:s, s:s, s:s, s:I, s:o}", "type", "wake",
	    "subscription_id", s->id, "wake_id", s->wake_id, "generation",
	    (json_int_t)s->generation, "streams", snapshot(s));
	text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (text == NULL || (j = job_new(J_APPEND, NULL)) == NULL) {
		free(text);
		return;
	}
	j->req.stream = job_str(j, cfg_str(s, "wake_stream"));
	j->req.content_type = job_str(j, "application/json");
	sess_buf_init(&j->body, (size_t)1 << 30);
	sess_buf_add(&j->body, text, strlen(text));
	free(text);
	j->req.body = j->body.p;
	j->req.len = j->body.len;
	j->done = wake_event_done;
	job_submit(j);
}

static void
new_wake(struct sub *s)
{
	s->generation++;
	snprintf(s->wake_id, sizeof(s->wake_id), "w_");
	hook_random(s->wake_id + 2, 16);
	hook_random(s->token, 32);
	s->state = S_WAKE;
	s->holder[0] = '\0';
	s->attempts = 0;
	s->retry_at = 0;
	s->lease_until = lws_now_usecs() + s->lease_ms * 1000;
	sub_save(s, NULL, 0, NULL);
	if (s->webhook)
		deliver(s);
	else
		post_wake(s);
}

static void
end_wake(struct sub *s)
{
	s->state = S_IDLE;
	s->wake_id[0] = '\0';
	s->token[0] = '\0';
	s->holder[0] = '\0';
	s->delivered = 0;
	json_decref(s->snapshot);
	s->snapshot = NULL;
}

/* Wakes s if it has something pending and no wake out. */
static void
sub_check(struct sub *s)
{
	if (s->state == S_IDLE && pending(s))
		new_wake(s);
}

/* Acknowledges the streams of a snapshot up to their tails. */
static void
ack_snapshot(struct sub *s, json_t *snap)
{
	json_t *it;
	size_t i;
	struct link *l;
	int kind;
	int64_t seq;

	json_array_foreach(snap, i, it) {
		const char *path = json_string_value(json_object_get(it,
		    "path"));
		const char *off = json_string_value(json_object_get(it,
		    "tail_offset"));

		if (path == NULL || off == NULL ||
		    (l = link_find(s, path)) == NULL ||
		    sess_offset_parse(off, &kind, &seq, NULL) != 0)
			continue;
		if (seq > l->acked)
			l->acked = seq;
	}
}

static void
delivered(const char *id, int64_t generation, int ok, long status,
    const char *resp, size_t len)
{
	struct sub *s = sub_find(id);
	json_t *r;
	int64_t backoff;

	if (s == NULL || s->generation != generation || s->state != S_WAKE)
		return;
	s->delivering = 0;
	if (!ok) {
		s->attempts++;
		backoff = (int64_t)1000 << (s->attempts < 6 ? s->attempts : 6);
		if (backoff > RETRY_MAX_MS)
			backoff = RETRY_MAX_MS;
		s->retry_at = lws_now_usecs() + backoff * 1000;
		if (sd->verbose)
			logx("webhook %s: HTTP %ld, retrying in %lld ms", s->id,
			    status, (long long)backoff);
		return;
	}
	s->delivered = 1;
	s->lease_until = lws_now_usecs() + s->lease_ms * 1000;
	r = len > 0 ? json_loadb(resp, len, 0, NULL) : NULL;
	if (json_is_true(json_object_get(r, "done"))) {
		/* Done at once: what it was shown is acknowledged. */
		ack_snapshot(s, s->snapshot);
		end_wake(s);
		sub_save(s, NULL, 0, NULL);
		sub_check(s);
	}
	json_decref(r);
}

struct backfill {
	struct sub *s;
	int glob;
};

static void
backfill_one(const char *name, int64_t tail, void *arg)
{
	struct backfill *b = arg;

	/* What is there already is not news. */
	link_add(b->s, name, b->glob, tail);
}

static void
scan(struct sub *s)
{
	struct backfill b = { s, 1 };
	const char *pat = cfg_str(s, "pattern");
	size_t before = s->nlinks, i;

	if (pat == NULL)
		return;
	sess_ds_each(sd->rd, pat, backfill_one, &b, NULL);
	/* Streams made since: from their start. */
	for (i = before; i < s->nlinks; i++)
		s->links[i].acked = 0;
	if (s->nlinks != before)
		sub_save(s, NULL, 0, NULL);
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	struct sub *s;
	int64_t now = lws_now_usecs();
	int doscan = now - S.last_scan >= (int64_t)SCAN_MS * 1000;

	if (doscan)
		S.last_scan = now;
	for (s = S.subs; s != NULL; s = s->next) {
		if (s->webhook && s->state == S_WAKE && !s->delivering) {
			if (!s->delivered && s->retry_at != 0 &&
			    now >= s->retry_at)
				deliver(s);
			else if (s->delivered && now > s->lease_until) {
				/* No answer in time: wake it anew. */
				end_wake(s);
				sub_check(s);
			}
		} else if (!s->webhook && s->state == S_CLAIMED &&
		    now > s->lease_until) {
			s->state = S_WAKE;
			s->holder[0] = '\0';
			s->token[0] = '\0';
		}
		if (doscan) {
			scan(s);
			sub_check(s);
		}
	}
	lws_sul_schedule(sd->ctx, 0, sul, tick, (lws_usec_t)TICK_MS * 1000);
}

void
sub_notify(const char *name)
{
	struct sub *s;
	const char *pat;

	for (s = S.subs; s != NULL; s = s->next) {
		if (link_find(s, name) == NULL) {
			pat = cfg_str(s, "pattern");
			if (pat == NULL || fnmatch(pat, name, 0) != 0)
				continue;
			/* A stream new since the subscription: from 0. */
			link_add(s, name, 1, 0);
		}
		sub_check(s);
	}
}

void
sub_wakeup(void)
{
	hook_collect(delivered);
}

/* Normalises a creation body; NULL with a message in why if it is bad. */
static json_t *
parse_config(const char *body, size_t len, int *webhook, char *why,
    size_t size, int *url_rejected)
{
	json_t *v, *cfg = NULL, *t, *streams, *it;
	const char *type;
	json_int_t lease = LEASE_DEFAULT;
	size_t i;

	*url_rejected = 0;
	if ((v = json_loadb(body, len, 0, NULL)) == NULL ||
	    !json_is_object(v)) {
		snprintf(why, size, "body must be a JSON object");
		goto out;
	}
	type = json_string_value(json_object_get(v, "type"));
	if (type == NULL || (strcmp(type, "webhook") != 0 &&
	    strcmp(type, "pull-wake") != 0)) {
		snprintf(why, size, "type must be webhook or pull-wake");
		goto out;
	}
	*webhook = strcmp(type, "webhook") == 0;
	cfg = json_pack("{s:s}", "type", type);
	if ((t = json_object_get(v, "pattern")) != NULL) {
		if (!json_is_string(t) || json_string_length(t) == 0 ||
		    json_string_length(t) > SESS_NAME_MAX) {
			snprintf(why, size, "pattern must be a string");
			goto bad;
		}
		json_object_set(cfg, "pattern", t);
	}
	streams = json_array();
	json_object_set_new(cfg, "streams", streams);
	json_array_foreach(json_object_get(v, "streams"), i, it) {
		const char *p = json_string_value(it);

		if (p == NULL || sess_name_check(p, strlen(p), NULL) != 0) {
			snprintf(why, size, "streams must be stream names");
			goto bad;
		}
		json_array_append(streams, it);
	}
	if (json_object_get(cfg, "pattern") == NULL &&
	    json_array_size(streams) == 0) {
		snprintf(why, size, "a subscription needs a pattern or "
		    "streams");
		goto bad;
	}
	if (*webhook) {
		const char *url = json_string_value(json_object_get(
		    json_object_get(v, "webhook"), "url"));

		if (url == NULL) {
			snprintf(why, size, "webhook.url is required");
			goto bad;
		}
		if (!hook_url_ok(url, why, size)) {
			*url_rejected = 1;
			goto bad;
		}
		json_object_set_new(cfg, "webhook_url", json_string(url));
	} else {
		const char *ws = json_string_value(json_object_get(v,
		    "wake_stream"));

		if (ws == NULL || sess_name_check(ws, strlen(ws), NULL) != 0) {
			snprintf(why, size,
			    "wake_stream must be a stream name");
			goto bad;
		}
		json_object_set_new(cfg, "wake_stream", json_string(ws));
	}
	if ((t = json_object_get(v, "lease_ttl_ms")) != NULL) {
		if (!json_is_integer(t)) {
			snprintf(why, size, "lease_ttl_ms must be an integer");
			goto bad;
		}
		lease = json_integer_value(t);
		if (lease < LEASE_MIN)
			lease = LEASE_MIN;
		if (lease > LEASE_MAX)
			lease = LEASE_MAX;
	}
	json_object_set_new(cfg, "lease_ttl_ms", json_integer(lease));
	if ((t = json_object_get(v, "description")) != NULL &&
	    json_is_string(t))
		json_object_set(cfg, "description", t);
	goto out;
bad:
	json_decref(cfg);
	cfg = NULL;
out:
	json_decref(v);
	return cfg;
}

static void
base_of(struct conn *c, char *out, size_t size)
{
	const char *host = req_header(&c->req, "Host");

	if (host != NULL)
		snprintf(out, size, "http://%s", host);
	else
		snprintf(out, size, "%s", sd->listen_url);
}

static int
sub_put(struct conn *c, const char *id)
{
	struct sub *s;
	json_t *cfg, *it;
	char why[256];
	int webhook, rejected;
	size_t i;
	struct backfill b;

	cfg = parse_config(c->req.body.p ? c->req.body.p : "",
	    c->req.body.len, &webhook, why, sizeof(why), &rejected);
	if (cfg == NULL)
		return resp_fail(c, SESS_EINVAL, rejected ?
		    SESS_WHY_WEBHOOK : SESS_WHY_REQUEST, NULL, "%s", why);
	if ((s = sub_find(id)) != NULL) {
		json_t *v;

		if (!json_equal(s->cfg, cfg)) {
			json_decref(cfg);
			return resp_fail(c, SESS_ECONFLICT, SESS_WHY_CONFIG,
			    NULL, "subscription %s exists with another "
			    "configuration", id);
		}
		json_decref(cfg);
		v = view(s);
		json_respond(c, 200, v);
		json_decref(v);
		return 0;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->id = strdup(id)) == NULL) {
		free(s);
		json_decref(cfg);
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	}
	s->cfg = cfg;
	s->webhook = webhook;
	s->lease_ms = json_integer_value(json_object_get(cfg, "lease_ttl_ms"));
	base_of(c, s->base, sizeof(s->base));
	json_array_foreach(json_object_get(cfg, "streams"), i, it)
		link_add(s, json_string_value(it), 0,
		    tail_of(json_string_value(it)));
	b.s = s;
	b.glob = 1;
	if (cfg_str(s, "pattern") != NULL)
		sess_ds_each(sd->rd, cfg_str(s, "pattern"), backfill_one, &b,
		    NULL);
	s->next = S.subs;
	S.subs = s;
	sub_save(s, c, 201, view(s));
	return 0;
}

static int
sub_get(struct conn *c, const char *id)
{
	struct sub *s = sub_find(id);
	json_t *v;

	if (s == NULL)
		return resp_fail(c, SESS_ENOENT, SESS_WHY_NONE, NULL,
		    "no subscription %s",
		    id);
	v = view(s);
	json_respond(c, 200, v);
	json_decref(v);
	return 0;
}

static int
sub_delete(struct conn *c, const char *id)
{
	struct sub *s, **pp;

	for (pp = &S.subs; (s = *pp) != NULL; pp = &s->next)
		if (strcmp(s->id, id) == 0)
			break;
	if (s == NULL)
		return resp_fail(c, SESS_ENOENT, SESS_WHY_NONE, NULL,
		    "no subscription %s",
		    id);
	*pp = s->next;
	record_save("sub", id, NULL, c, 204, NULL);
	sub_free(s);
	return 0;
}

static int
sub_add_streams(struct conn *c, struct sub *s)
{
	json_t *v, *it;
	size_t i;
	const char *p;

	v = json_loadb(c->req.body.p ? c->req.body.p : "", c->req.body.len, 0,
	    NULL);
	if (!json_is_array(json_object_get(v, "streams"))) {
		json_decref(v);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
		    "body must be {\"streams\": [...]}");
	}
	json_array_foreach(json_object_get(v, "streams"), i, it) {
		p = json_string_value(it);
		if (p == NULL || sess_name_check(p, strlen(p), NULL) != 0) {
			json_decref(v);
			return resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
			    "streams must be stream names");
		}
	}
	json_array_foreach(json_object_get(v, "streams"), i, it)
		link_add(s, json_string_value(it), 0,
		    tail_of(json_string_value(it)));
	json_decref(v);
	sub_save(s, c, 204, NULL);
	return 0;
}

static int
sub_remove_stream(struct conn *c, struct sub *s, const char *path)
{
	struct link *l = link_find(s, path);
	size_t k;

	if (l != NULL) {
		k = (size_t)(l - s->links);
		free(l->path);
		memmove(l, l + 1, (s->nlinks - k - 1) * sizeof(*l));
		s->nlinks--;
	}
	sub_save(s, c, 204, NULL);
	return 0;
}

static const char *
bearer(struct conn *c)
{
	const char *a = req_header(&c->req, "Authorization");

	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return NULL;
	return a + 7;
}

/*
 * Checks that a callback, ack or release is for the current wake and
 * holds its token.  Returns 0, or answers and returns -1.
 */
static int
fence(struct conn *c, struct sub *s, json_t *v)
{
	const char *wid = json_string_value(json_object_get(v, "wake_id"));
	json_t *gen = json_object_get(v, "generation");
	const char *tok = bearer(c);

	if (wid == NULL || !json_is_integer(gen)) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
		    "wake_id and generation "
		    "are required");
		return -1;
	}
	if (s->state == S_IDLE || strcmp(wid, s->wake_id) != 0 ||
	    json_integer_value(gen) != s->generation) {
		resp_fail(c, SESS_ESTALE, SESS_WHY_FENCED, NULL,
		    "wake %s (generation %lld) is not "
		    "the current one", wid, (long long)json_integer_value(gen));
		return -1;
	}
	if (tok == NULL || s->token[0] == '\0' || strcmp(tok, s->token) != 0) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_TOKEN, NULL,
		    "bad or missing bearer "
		    "token");
		return -1;
	}
	return 0;
}

static int
sub_ack(struct conn *c, struct sub *s)
{
	json_t *v, *it, *r;
	struct link *l;
	size_t i;
	int kind, done;
	int64_t seq;

	v = json_loadb(c->req.body.p ? c->req.body.p : "", c->req.body.len, 0,
	    NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
		    "body must be a JSON object");
	}
	if (fence(c, s, v) != 0) {
		json_decref(v);
		return 0;
	}
	json_array_foreach(json_object_get(v, "acks"), i, it) {
		const char *p = json_string_value(json_object_get(it,
		    "stream"));
		const char *off = json_string_value(json_object_get(it,
		    "offset"));

		if (p == NULL || off == NULL || sess_offset_parse(off, &kind,
		    &seq, NULL) != 0 || kind != SESS_OFF_SEQ) {
			json_decref(v);
			return resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
			    "acks are {\"stream\", \"offset\"}");
		}
		if ((l = link_find(s, p)) != NULL && seq > l->acked)
			l->acked = seq;
	}
	done = json_is_true(json_object_get(v, "done"));
	json_decref(v);
	if (done)
		end_wake(s);
	else
		s->lease_until = lws_now_usecs() + s->lease_ms * 1000;
	r = json_pack("{s:b, s:b}", "ok", 1, "next_wake", pending(s));
	sub_save(s, c, 200, r);
	if (done)
		sub_check(s);
	return 0;
}

static int
sub_claim(struct conn *c, struct sub *s)
{
	json_t *v, *r;
	const char *worker;
	int64_t now = lws_now_usecs();

	v = json_loadb(c->req.body.p ? c->req.body.p : "{}",
	    c->req.body.len ? c->req.body.len : 2, 0, NULL);
	worker = json_string_value(json_object_get(v, "worker"));
	if (s->webhook) {
		json_decref(v);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
		    "only pull-wake subscriptions are claimed");
	}
	if (worker == NULL || strlen(worker) >= sizeof(s->holder)) {
		json_decref(v);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
		    "worker must be a string");
	}
	if (s->state == S_CLAIMED && now <= s->lease_until &&
	    strcmp(worker, s->holder) != 0) {
		r = json_pack("{s:{s:s, s:s, s:s, s:I}}", "error", "code",
		    "ALREADY_CLAIMED", "message", "another worker holds the "
		    "wake", "current_holder", s->holder, "generation",
		    (json_int_t)s->generation);
		json_respond(c, 409, r);
		json_decref(r);
		json_decref(v);
		return 0;
	}
	if (s->state == S_IDLE) {
		if (!pending(s)) {
			json_decref(v);
			resp_simple(c, 204, NULL, NULL, 0);
			return 0;
		}
		new_wake(s);
	}
	snprintf(s->holder, sizeof(s->holder), "%s", worker);
	json_decref(v);
	hook_random(s->token, 32);
	s->state = S_CLAIMED;
	s->lease_until = now + s->lease_ms * 1000;
	r = json_pack("{s:s, s:I, s:s, s:I, s:o}", "wake_id", s->wake_id,
	    "generation", (json_int_t)s->generation, "token", s->token,
	    "lease_ttl_ms", (json_int_t)s->lease_ms, "streams", snapshot(s));
	sub_save(s, c, 200, r);
	return 0;
}

static int
sub_release(struct conn *c, struct sub *s)
{
	json_t *v;

	v = json_loadb(c->req.body.p ? c->req.body.p : "", c->req.body.len, 0,
	    NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
		    "body must be a JSON object");
	}
	if (fence(c, s, v) != 0) {
		json_decref(v);
		return 0;
	}
	json_decref(v);
	/* Back to waiting for a worker. */
	s->state = S_WAKE;
	s->holder[0] = '\0';
	s->token[0] = '\0';
	sub_save(s, c, 204, NULL);
	return 0;
}

int
sub_route(struct conn *c, const char *rest, const char *qs)
{
	char id[ID_LEN + 1];
	const char *slash, *action;
	int m = c->req.method;
	struct sub *s;
	size_t n;

	if (strcmp(rest, "jwks.json") == 0) {
		if (m != M_GET && m != M_HEAD)
			return resp_fail(c, SESS_EINVAL, SESS_WHY_METHOD, NULL,
			    "GET only");
		return hook_jwks(c);
	}
	if (strncmp(rest, "subscriptions/", 14) != 0)
		return resp_fail(c, SESS_ENOENT, SESS_WHY_NONE, NULL,
		    "no such reserved path");
	rest += 14;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (!sub_id_ok(rest, n))
		return resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
		    "bad subscription id");
	memcpy(id, rest, n);
	id[n] = '\0';
	action = slash ? slash + 1 : "";
	/*
	 * Admin on __ds/subscriptions/ID, but for what the wake's own
	 * bearer token authorizes (see fence()).
	 */
	if (strcmp(action, "callback") != 0 && strcmp(action, "ack") != 0 &&
	    strcmp(action, "release") != 0) {
		char path[64 + ID_LEN];

		snprintf(path, sizeof(path), "__ds/subscriptions/%s", id);
		if (auth_http(c, path, SESS_CAP_ADMIN) != 0)
			return 0;
	}
	if (*action == '\0') {
		if (m == M_PUT)
			return sub_put(c, id);
		if (m == M_GET)
			return sub_get(c, id);
		if (m == M_DELETE)
			return sub_delete(c, id);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_METHOD, NULL,
		    "PUT, GET or DELETE");
	}
	if ((s = sub_find(id)) == NULL)
		return resp_fail(c, SESS_ENOENT, SESS_WHY_NONE, NULL,
		    "no subscription %s",
		    id);
	if (strcmp(action, "streams") == 0 && m == M_POST)
		return sub_add_streams(c, s);
	if (strncmp(action, "streams/", 8) == 0 && m == M_DELETE)
		return sub_remove_stream(c, s, action + 8);
	if ((strcmp(action, "callback") == 0 || strcmp(action, "ack") == 0) &&
	    m == M_POST)
		return sub_ack(c, s);
	if (strcmp(action, "claim") == 0 && m == M_POST)
		return sub_claim(c, s);
	if (strcmp(action, "release") == 0 && m == M_POST)
		return sub_release(c, s);
	return resp_fail(c, SESS_ENOENT, SESS_WHY_NONE, NULL,
	    "no such subscription API");
}

static void
load_one(const char *key, const char *json, void *arg)
{
	json_t *r, *it;
	struct sub *s;
	const char *base;
	size_t i;

	(void)arg;
	if ((r = json_loads(json, 0, NULL)) == NULL ||
	    (s = calloc(1, sizeof(*s))) == NULL) {
		json_decref(r);
		return;
	}
	s->id = strdup(key);
	s->cfg = json_incref(json_object_get(r, "config"));
	s->webhook = cfg_str(s, "webhook_url") != NULL;
	s->lease_ms = json_integer_value(json_object_get(s->cfg,
	    "lease_ttl_ms"));
	base = json_string_value(json_object_get(r, "base"));
	snprintf(s->base, sizeof(s->base), "%s", base ? base : sd->listen_url);
	json_array_foreach(json_object_get(r, "links"), i, it)
		link_add(s, json_string_value(json_object_get(it, "path")),
		    json_is_true(json_object_get(it, "glob")),
		    json_integer_value(json_object_get(it, "acked")));
	s->generation = json_integer_value(json_object_get(r, "generation"));
	/* A wake that was out when the daemon stopped is made anew. */
	s->state = S_IDLE;
	s->next = S.subs;
	S.subs = s;
	json_decref(r);
}

/* Loads the subscriptions; the webhook side starts with them. */
int
sub_init(void)
{
	if (hook_init() != 0)
		return -1;
	sess_ds_records(sd->rd, "sub", load_one, NULL, NULL);
	lws_sul_schedule(sd->ctx, 0, &S.tick, tick, (lws_usec_t)TICK_MS * 1000);
	return 0;
}

void
sub_fini(void)
{
	struct sub *s;

	lws_sul_cancel(&S.tick);
	hook_fini();
	while ((s = S.subs) != NULL) {
		S.subs = s->next;
		sub_free(s);
	}
}
