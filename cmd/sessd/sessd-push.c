/* sessd-push.c: Web Push for browsers: the VAPID public key, subscriptions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessd.h"
#include "tool.h"

/*
 *   GET /v1/push/vapid
 *     {"publicKey":"B..."}: the application server key a browser passes
 *     to pushManager.subscribe(); the key pair is made on first use and
 *     kept in the store, where sess-notify signs with it.
 *   POST /v1/push/subscriptions?member=NAME
 *     body: a PushSubscription as the browser's toJSON() gives it
 *     ({"endpoint","expirationTime","keys":{"p256dh","auth"}}), or
 *     {"member":NAME,"subscription":{...}}.  Registers it as a webpush
 *     channel of the member: 201 if new, 200 if it was there, 400
 *     BAD_SUBSCRIPTION with the reason.
 */

struct push {
	char *member, *sub, *key;
	int created;
};

static void
push_free(struct push *p)
{
	free(p->member);
	free(p->sub);
	free(p->key);
	free(p);
}

static void
vapid_respond(struct conn *c, const char *pem)
{
	char *pub = sess_push_vapid_public(pem), *body = NULL;
	json_t *v;

	if (pub == NULL) {
		resp_fail(c, SESS_EIO, SESS_WHY_NONE, NULL,
		    "cannot read the VAPID key");
		return;
	}
	v = json_pack("{s:s}", "publicKey", pub);
	body = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	free(pub);
	if (body == NULL) {
		resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL, "out of memory");
		return;
	}
	resp_simple(c, 200, "application/json", body, strlen(body));
	free(body);
}

static int
vapid_fn(struct sess_store *st, struct job *j)
{
	struct push *p = j->arg;

	return sess_notify_key(st, 0, "vapid", sess_push_vapid_new, &p->key,
	    &j->err);
}

static void
vapid_done(struct job *j)
{
	struct push *p = j->arg;

	if (j->c != NULL) {
		if (j->rc != 0)
			resp_err(j->c, j->rc, &j->err);
		else
			vapid_respond(j->c, p->key);
	}
	push_free(p);
}

int
push_vapid(struct conn *c, const char *path, const char *qs)
{
	struct sess_err e;
	struct push *p;
	struct job *j;
	char *pem;

	if (sess_notify_key(sd->rd, 0, "vapid", NULL, &pem, &e) == 0) {
		vapid_respond(c, pem);
		free(pem);
		return 0;
	}
	/* None yet: the writer makes it, as sess-notify would. */
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (j = job_new(J_FUNC, c)) == NULL) {
		free(p);
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	}
	j->fn = vapid_fn;
	j->done = vapid_done;
	j->arg = p;
	job_submit(j);
	return 0;
}

static int
subscribe_fn(struct sess_store *st, struct job *j)
{
	struct push *p = j->arg;
	int rc;

	rc = sess_notify_channel_add(st, 0, p->member, "webpush", p->sub,
	    &j->err);
	if (rc < 0)
		return rc;
	p->created = rc;
	return 0;
}

static void
subscribe_done(struct job *j)
{
	struct push *p = j->arg;
	json_t *v;
	char *body;

	if (j->c != NULL) {
		if (j->rc != 0)
			resp_err(j->c, j->rc, &j->err);
		else {
			v = json_pack("{s:s, s:s, s:b}", "member", p->member,
			    "kind", "webpush", "created", p->created);
			body = v ? json_dumps(v, JSON_COMPACT) : NULL;
			json_decref(v);
			resp_simple(j->c, p->created ? 201 : 200,
			    "application/json", body ? body : "{}",
			    body ? strlen(body) : 2);
			free(body);
		}
	}
	push_free(p);
}

int
push_subscribe(struct conn *c, const char *path, const char *q)
{
	char member[SESS_MEMBER_MAX + 1] = "", *canon = NULL, *text;
	struct sess_err e;
	json_t *v, *sub;
	struct push *p;
	struct job *j;
	const char *subject = NULL;
	struct auth *a = NULL;

	/* With tokens, a subscription is its token's subject's own. */
	if (auth_enabled()) {
		char tok[SESS_TOKEN_MAX + 1], why[256];

		if (auth_token(c, tok, sizeof(tok)) == 0 &&
		    auth_parse(tok, &a, why, sizeof(why)) == 0)
			subject = auth_subject(a);
	}
	if ((v = sess_json_parse(c->req.body.p ? c->req.body.p : "",
	    c->req.body.len, &e)) == NULL) {
		auth_free(a);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_SUBSCRIPTION, NULL,
		    "body is not "
		    "JSON: %s", e.msg);
	}
	sub = json_object_get(v, "subscription");
	if (json_is_object(sub)) {
		const char *m = json_string_value(json_object_get(v,
		    "member"));

		snprintf(member, sizeof(member), "%s", m ? m : "");
	} else {
		sub = v;
		if (q == NULL || query_get(q, "member", member,
		    sizeof(member)) != 0)
			member[0] = '\0';
	}
	if (member[0] == '\0' && subject != NULL)
		snprintf(member, sizeof(member), "%s", subject);
	if (subject != NULL && strcmp(member, subject) != 0) {
		json_decref(v);
		resp_fail(c, SESS_EINVAL, SESS_WHY_FORBIDDEN, NULL,
		    "the token is for member "
		    "%.100s, not %.100s", subject, member);
		auth_free(a);
		return 0;
	}
	auth_free(a);
	if (member[0] == '\0') {
		json_decref(v);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NONE, NULL,
		    "say whose "
		    "subscription it is: ?member=NAME");
	}
	text = json_dumps(sub, JSON_COMPACT);
	json_decref(v);
	if (text == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	/* Checked here, so that a bad one is a 400 with the reason. */
	if (sess_notify_channel_check("webpush", text, &canon, &e) != 0) {
		free(text);
		return resp_fail(c, SESS_EINVAL, SESS_WHY_SUBSCRIPTION, NULL,
		    "%s", e.msg);
	}
	free(text);
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->member = strdup(member)) == NULL ||
	    (j = job_new(J_FUNC, c)) == NULL) {
		if (p != NULL)
			free(p->member);
		free(p);
		free(canon);
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	}
	p->sub = canon;
	j->fn = subscribe_fn;
	j->done = subscribe_done;
	j->arg = p;
	job_submit(j);
	return 0;
}
