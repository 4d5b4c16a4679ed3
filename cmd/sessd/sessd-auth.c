/* sessd-auth.c: access tokens on requests (sessd -k KEYFILE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "sessd.h"

/*
 * With a key, every request but the public ones (the demo page and its
 * script, CORS preflights, the webhook JWKS) carries a token: in an
 * "Authorization: Bearer" header, or in a "token" query parameter for
 * EventSource and WebSocket, which cannot set headers.  A request
 * without a valid token is answered 401 before anything about its
 * stream is looked at; one whose token lacks the capability, 403.  The
 * two answers do not depend on whether the stream exists.
 */

struct auth {
	struct sess_token *t;
};

static struct {
	int on;
	unsigned char key[SESS_KEY_MAX];
	size_t keylen;
} A;

int
auth_init(const char *keyfile, struct sess_err *e)
{
	if (sess_key_load(keyfile, A.key, &A.keylen, e) != 0)
		return -1;
	A.on = 1;
	return 0;
}

void
auth_fini(void)
{
	OPENSSL_cleanse(A.key, sizeof(A.key));
	A.on = 0;
}

int
auth_enabled(void)
{
	return A.on;
}

int
auth_parse(const char *token, struct auth **out, char *why, size_t size)
{
	struct sess_err e;
	struct auth *a;

	*out = NULL;
	if (!A.on) {
		snprintf(why, size, "auth is off");
		return -1;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(why, size, "out of memory");
		return -1;
	}
	if ((a->t = sess_token_verify(token, strlen(token), A.key, A.keylen,
	    (int64_t)time(NULL), &e)) == NULL) {
		snprintf(why, size, "%s", e.msg);
		free(a);
		return -1;
	}
	*out = a;
	return 0;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	sess_token_free(a->t);
	free(a);
}

int
auth_allows(const struct auth *a, const char *stream, int cap)
{
	if (!A.on)
		return 1;
	return a != NULL && sess_token_allows(a->t, stream, cap);
}

const char *
auth_subject(const struct auth *a)
{
	return a != NULL ? sess_token_subject(a->t) : NULL;
}

int64_t
auth_expires(const struct auth *a)
{
	return a != NULL ? sess_token_expires(a->t) : 0;
}

int
auth_token(struct conn *c, char *out, size_t size)
{
	const char *h = req_header(&c->req, "Authorization");

	if (h != NULL) {
		if (strncasecmp(h, "Bearer ", 7) != 0)
			return -1;
		for (h += 7; *h == ' '; h++)
			;
		if (strlen(h) >= size)
			return -1;
		memcpy(out, h, strlen(h) + 1);
		return 0;
	}
	return query_get(c->req.query, "token", out, size);
}

static const char *
cap_word(int cap)
{
	const char *n = sess_cap_name(cap);

	return n != NULL ? n : "access";
}

/* The request's token, verified; 401 and NULL if there is none. */
static struct auth *
request_auth(struct conn *c)
{
	char tok[SESS_TOKEN_MAX + 1], why[512];
	struct auth *a;

	if (auth_token(c, tok, sizeof(tok)) != 0) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_AUTH,
		    "WWW-Authenticate: Bearer realm=\"sessd\"\r\n",
		    "%s", req_header(&c->req, "Authorization") != NULL ?
		    "the Authorization header is not a bearer token" :
		    "a token is required (Authorization: Bearer TOKEN, or "
		    "?token=TOKEN)");
		return NULL;
	}
	if (auth_parse(tok, &a, why, sizeof(why)) != 0) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_AUTH,
		    "WWW-Authenticate: Bearer realm=\"sessd\", "
		    "error=\"invalid_token\"\r\n", "%s", why);
		return NULL;
	}
	return a;
}

int
auth_http(struct conn *c, const char *stream, int cap)
{
	struct auth *a;
	int ok;

	if (!A.on)
		return 0;
	if ((a = request_auth(c)) == NULL)
		return -1;
	ok = cap == 0 || auth_allows(a, stream, cap);
	auth_free(a);
	if (!ok) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_FORBIDDEN, NULL,
		    "the token does not allow %s "
		    "on %.200s", cap_word(cap), stream);
		return -1;
	}
	return 0;
}

int
auth_http_member(struct conn *c, const char *stream, int cap,
    const char *member)
{
	struct auth *a;
	int ok;

	if (!A.on)
		return 0;
	if ((a = request_auth(c)) == NULL)
		return -1;
	ok = auth_allows(a, stream, cap);
	if (ok && member != NULL && strcmp(member, auth_subject(a)) != 0 &&
	    !auth_allows(a, stream, SESS_CAP_ADMIN)) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_FORBIDDEN, NULL,
		    "the token is for member "
		    "%.100s: acting for another needs admin on %.200s",
		    auth_subject(a), stream);
		auth_free(a);
		return -1;
	}
	auth_free(a);
	if (!ok) {
		resp_fail(c, SESS_EINVAL, SESS_WHY_FORBIDDEN, NULL,
		    "the token does not allow %s "
		    "on %.200s", cap_word(cap), stream);
		return -1;
	}
	return 0;
}

const char *
auth_log_target(const char *target, char *buf, size_t size)
{
	const char *q = strchr(target, '?'), *p, *end;
	size_t n = 0, k;

	if (q == NULL || strstr(q, "token=") == NULL)
		return target;
	/* Copies target with each token's value left out. */
	for (p = target; *p != '\0' && n + 1 < size; p = end) {
		end = p + 1 + strcspn(p + 1, "?&");
		k = (size_t)(end - p);
		if (p >= q && strncmp(p + 1, "token=", 6) == 0)
			k = 7;
		if (k > size - n - 1)
			k = size - n - 1;
		memcpy(buf + n, p, k);
		n += k;
		if (p >= q && strncmp(p + 1, "token=", 6) == 0 && n + 3 < size) {
			memcpy(buf + n, "...", 3);
			n += 3;
		}
	}
	buf[n] = '\0';
	return buf;
}
