/* sessd-route.c: the route table: which handler serves a request, and what it needs first. */
#include <stdio.h>
#include <string.h>

#include "sessd.h"

/*
 * Every request goes through this table, top to bottom: the first row
 * whose path matches and whose method is the request's serves it.  Before
 * its handler runs, the router has decoded and checked the stream name
 * (P_STREAM, P_NAME), answered a method the path does not take (405, its
 * Allow the methods of every row of that path), and checked the token for
 * the row's capability.  A handler with AUTH_OWN checks the token itself,
 * because what it needs depends on the body or on whom it acts for.
 *
 * The handlers sit below the router: the Durable Streams protocol
 * (sessd-ds.c), the sess extensions (sessd-ext.c), presence and cursors
 * (sessd-presence.c), Web Push (sessd-push.c), the notify outbox
 * (sessd-notify.c), webhook subscriptions (sessd-sub.c), WebSocket
 * (sessd-ws.c) and the demo page's files (sessd-www.c).
 */

#define BIT(m) (1u << (m))
#define READ (BIT(M_GET) | BIT(M_HEAD))
#define ANY (~0u & ~BIT(M_OPTIONS))

enum {
	P_EXACT,    /* the path itself */
	P_STREAM,   /* the prefix, then a stream name (not reserved) */
	P_RESERVED, /* the prefix, then __ds or __ds/REST */
	P_NAME,     /* the prefix, then a stream name */
	P_WWW,      /* one of the demo page's files */
};

enum {
	AUTH_PUBLIC = -1, /* nothing: the demo page's files */
	AUTH_OWN = -2,    /* the handler checks */
	AUTH_TOKEN = 0,   /* a valid token, if sessd takes tokens */
};

struct route {
	unsigned methods;   /* BIT(M_*) */
	const char *path;   /* the path, or its prefix */
	int match;          /* P_* */
	int cap;            /* SESS_CAP_* on the stream or the scope, AUTH_* */
	const char *scope;  /* what cap is checked on, if not the stream */
	const char *header; /* a header the request must have, if not NULL */
	route_fn *fn;
};

static const struct route routes[] = {
	{ READ, NULL, P_WWW, AUTH_PUBLIC, NULL, NULL, www_serve },
	{ ANY, "/v1/ws", P_EXACT, AUTH_OWN, NULL, NULL, ws_upgrade },
	{ ANY, "/v1/stream/", P_RESERVED, AUTH_OWN, NULL, NULL, sub_route },
	{ READ, "/v1/stream/", P_STREAM, SESS_CAP_READ, NULL, NULL, ds_read },
	{ BIT(M_POST), "/v1/stream/", P_STREAM, SESS_CAP_WRITE, NULL,
	    "Sess-Append", ext_append },
	{ BIT(M_POST), "/v1/stream/", P_STREAM, SESS_CAP_WRITE, NULL, NULL,
	    ds_post },
	{ BIT(M_PUT), "/v1/stream/", P_STREAM, SESS_CAP_WRITE, NULL, NULL,
	    ds_put },
	{ BIT(M_DELETE), "/v1/stream/", P_STREAM, SESS_CAP_ADMIN, NULL, NULL,
	    ds_delete },
	{ READ, "/v1/events/", P_NAME, SESS_CAP_READ, NULL, NULL, ext_events },
	{ READ, "/v1/messages/", P_NAME, SESS_CAP_READ, NULL, NULL,
	    ext_messages },
	{ READ, "/v1/metrics", P_EXACT, AUTH_TOKEN, NULL, NULL, ext_metrics },
	{ READ, "/v1/presence/", P_NAME, SESS_CAP_READ, NULL, NULL,
	    presence_get },
	/* And, to act for another member, admin (the handler checks). */
	{ BIT(M_POST), "/v1/presence/", P_NAME, SESS_CAP_PRESENCE, NULL, NULL,
	    presence_post },
	{ READ | BIT(M_PUT), "/v1/cursors/", P_NAME, SESS_CAP_READ, NULL, NULL,
	    cursors_http },
	{ READ, "/v1/push/vapid", P_EXACT, AUTH_PUBLIC, NULL, NULL,
	    push_vapid },
	{ BIT(M_POST), "/v1/push/subscriptions", P_EXACT, AUTH_TOKEN, NULL,
	    NULL, push_subscribe },
	/* The whole outbox: admin on every stream. */
	{ BIT(M_POST), "/v1/notify/claim", P_EXACT, SESS_CAP_ADMIN, "**", NULL,
	    notify_http },
	{ BIT(M_POST), "/v1/notify/finish", P_EXACT, SESS_CAP_ADMIN, "**",
	    NULL, notify_http },
	{ BIT(M_POST), "/v1/notify/keys", P_EXACT, SESS_CAP_ADMIN, "**", NULL,
	    notify_http },
	{ BIT(M_POST) | BIT(M_DELETE), "/v1/notify/channels", P_EXACT,
	    SESS_CAP_ADMIN, "**", NULL, notify_http },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static int
same_path(const struct route *a, const struct route *b)
{
	if (a->match != b->match)
		return 0;
	if (a->path == NULL || b->path == NULL)
		return a->path == b->path;
	return strcmp(a->path, b->path) == 0;
}

/*
 * Whether path is row r's, and its argument: the decoded stream name, the
 * reserved rest, or the path.  Returns 1 on a match, 0 if not, and -1 if
 * it matched but the name was refused (answered).
 */
static int
path_of(struct conn *c, const struct route *r, const char *path, char *arg,
    size_t size)
{
	struct sess_err e;
	size_t plen;
	long n;
	int reserved;

	if (r->match == P_WWW || r->match == P_EXACT) {
		if ((r->match == P_WWW ? www_find(path) == NULL :
		    strcmp(path, r->path) != 0) || strlen(path) >= size)
			return 0;
		memcpy(arg, path, strlen(path) + 1);
		return 1;
	}
	plen = strlen(r->path);
	if (strncmp(path, r->path, plen) != 0)
		return 0;
	if ((n = pct_decode(path + plen, strlen(path + plen), arg, size, 0)) <
	    0)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NAME, NULL, "stream "
		    "name is too long or has a bad %%-escape"), -1;
	reserved = strncmp(arg, "__ds/", 5) == 0 || strcmp(arg, "__ds") == 0;
	if (r->match == P_RESERVED) {
		if (!reserved)
			return 0;
		if (memchr(arg, '\0', (size_t)n) != NULL)
			return resp_fail(c, SESS_EINVAL, SESS_WHY_REQUEST, NULL,
			    "bad path"), -1;
		memmove(arg, arg + 4 + (arg[4] != '\0'), (size_t)n - 3);
		return 1;
	}
	if (r->match == P_STREAM && reserved)
		return 0;
	if (sess_name_check(arg, (size_t)n, &e) != 0)
		return resp_fail(c, SESS_EINVAL, SESS_WHY_NAME, NULL, "%s",
		    e.msg), -1;
	return 1;
}

/* The methods every row of row r's path takes, for Allow. */
static void
allow_of(const struct route *r, char *out, size_t size)
{
	static const char *names[] = { "GET", "HEAD", "POST", "PUT", "DELETE" };
	unsigned m = 0, i;
	size_t len = 0;

	for (i = 0; i < NROUTES; i++)
		if (same_path(&routes[i], r))
			m |= routes[i].methods;
	out[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (m & BIT(i) && len < size)
			len += (size_t)snprintf(out + len, size - len, "%s, ",
			    names[i]);
	if (len < size)
		snprintf(out + len, size - len, "OPTIONS");
}

/* The token allows what row r needs on arg; else answered, -1. */
static int
allowed(struct conn *c, const struct route *r, const char *arg)
{
	if (r->cap == AUTH_PUBLIC || r->cap == AUTH_OWN)
		return 0;
	if (r->cap == AUTH_TOKEN)
		return auth_http(c, NULL, 0);
	return auth_http(c, r->scope != NULL ? r->scope : arg, r->cap);
}

static int
dispatch(struct conn *c, const char *path, const char *qs)
{
	char arg[SESS_NAME_MAX + 1], allow[64], extra[96];
	const struct route *r, *seen = NULL;
	unsigned bit = BIT(c->req.method);
	size_t i;
	int m;

	if (c->req.method == M_OPTIONS)
		return ds_options(c, path, qs);
	for (i = 0; i < NROUTES; i++) {
		r = &routes[i];
		if (seen != NULL && !same_path(r, seen))
			continue;
		if ((m = path_of(c, r, path, arg, sizeof(arg))) < 0)
			return 0;
		if (m == 0)
			continue;
		seen = r;
		if (!(r->methods & bit) || (r->header != NULL &&
		    req_header(&c->req, r->header) == NULL))
			continue;
		if (allowed(c, r, arg) != 0)
			return 0;
		return r->fn(c, arg, qs);
	}
	if (seen == NULL)
		return resp_fail(c, SESS_ENOENT, SESS_WHY_NONE, NULL,
		    "no such path");
	allow_of(seen, allow, sizeof(allow));
	snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
	return resp_fail(c, SESS_EINVAL, SESS_WHY_METHOD, extra,
	    "%s is not served on %s", c->req.method_name, path);
}

void
route(struct conn *c)
{
	char path[SESS_HTTP_TARGET_MAX + 1];
	const char *target = c->req.target, *qs = strchr(target, '?');
	size_t n = qs != NULL ? (size_t)(qs - target) : strlen(target);

	/* The target stays whole, for the log; the handlers see the path. */
	if (n > SESS_HTTP_TARGET_MAX)
		n = SESS_HTTP_TARGET_MAX;
	memcpy(path, target, n);
	path[n] = '\0';
	(void)dispatch(c, path, qs != NULL ? qs + 1 : "");
}
