/* remote.c: the store operations over HTTP to a sessd, with libcurl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "sess.h"

#define MAX_RESPONSE (64 << 20)

struct sess_remote {
	CURL *curl;
	CURLM *multi;            /* runs every transfer: see perform() */
	int hup;                 /* see sess_remote_hangup(), or -1 */
	char *base;              /* without a trailing slash */
	struct sess_buf body;    /* the last response body */
	long status;
	int64_t next;            /* Stream-Next-Offset, or -1 */
	int uptodate;
	char *authz;             /* "Authorization: Bearer TOKEN", or NULL */
	char error[CURL_ERROR_SIZE];
};

/*
 * SESS_TOKEN, if set, is sent with every request, for a sessd that
 * wants tokens (sessd -k).  It must be one header-safe word.
 */
static int
token_header(struct sess_remote *rm, struct sess_err *e)
{
	const char *tok = getenv("SESS_TOKEN");
	size_t i, n;

	if (tok == NULL || *tok == '\0')
		return 0;
	n = strlen(tok);
	if (n > SESS_TOKEN_MAX)
		return sess_err_set(e, SESS_EINVAL, "SESS_TOKEN: longer than %d "
		    "bytes", SESS_TOKEN_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)tok[i] <= ' ' || (unsigned char)tok[i] >=
		    0x7f)
			return sess_err_set(e, SESS_EINVAL, "SESS_TOKEN: not a "
			    "token (byte %zu)", i + 1);
	if ((rm->authz = malloc(n + 32)) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	snprintf(rm->authz, n + 32, "Authorization: Bearer %s", tok);
	return 0;
}

struct sess_remote *
sess_remote_open(const char *url, struct sess_err *e)
{
	static int inited;
	struct sess_remote *rm;
	size_t n = strlen(url);

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) !=
	    0) {
		sess_err_set(e, SESS_EINVAL, "%s: not an http(s) URL", url);
		return NULL;
	}
	if (!inited) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = 1;
	}
	if ((rm = calloc(1, sizeof(*rm))) == NULL ||
	    (rm->base = strdup(url)) == NULL ||
	    (rm->curl = curl_easy_init()) == NULL ||
	    (rm->multi = curl_multi_init()) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		sess_remote_close(rm);
		return NULL;
	}
	rm->hup = -1;
	while (n > 0 && rm->base[n - 1] == '/')
		rm->base[--n] = '\0';
	sess_buf_init(&rm->body, MAX_RESPONSE);
	if (token_header(rm, e) != 0) {
		sess_remote_close(rm);
		return NULL;
	}
	return rm;
}

void
sess_remote_hangup(struct sess_remote *rm, int fd)
{
	rm->hup = fd;
}

void
sess_remote_close(struct sess_remote *rm)
{
	if (rm == NULL)
		return;
	if (rm->multi != NULL)
		curl_multi_cleanup(rm->multi);
	if (rm->curl != NULL)
		curl_easy_cleanup(rm->curl);
	sess_buf_release(&rm->body);
	free(rm->base);
	free(rm->authz);
	free(rm);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sess_remote *rm = arg;

	if (sess_buf_add(&rm->body, p, size * n) != 0)
		return 0; /* too large: curl fails the transfer */
	return size * n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sess_remote *rm = arg;
	size_t len = size * n;
	char v[64];

	if (len > 19 && strncasecmp(p, "Stream-Next-Offset:", 19) == 0) {
		snprintf(v, sizeof(v), "%.*s", (int)(len - 19), p + 19);
		rm->next = strtoll(v, NULL, 10);
	} else if (len > 18 && strncasecmp(p, "Stream-Up-To-Date:", 18) == 0) {
		rm->uptodate = 1;
	}
	return len;
}

/* Appends "/<kind>/<stream>" to base with each segment percent-encoded. */
static char *
url_for(struct sess_remote *rm, const char *kind, const char *stream,
    const char *query)
{
	struct sess_buf u;
	const char *seg = stream, *slash;
	char *enc;

	sess_buf_init(&u, 16384);
	sess_buf_add(&u, rm->base, strlen(rm->base));
	sess_buf_add(&u, kind, strlen(kind));
	for (;;) {
		slash = strchr(seg, '/');
		enc = curl_easy_escape(rm->curl, seg, slash ? (int)(slash -
		    seg) : (int)strlen(seg));
		if (enc == NULL || sess_buf_add(&u, "/", 1) != 0 ||
		    sess_buf_add(&u, enc, strlen(enc)) != 0) {
			curl_free(enc);
			sess_buf_release(&u);
			return NULL;
		}
		curl_free(enc);
		if (slash == NULL)
			break;
		seg = slash + 1;
	}
	if (query != NULL && sess_buf_add(&u, query, strlen(query)) != 0) {
		sess_buf_release(&u);
		return NULL;
	}
	return u.p;
}

/*
 * The server's JSON error body, if it sent one, else the status: read
 * back through the error table (status.c), so an error reads the same
 * as it does in the embedded tools.
 */
static int
http_error(struct sess_remote *rm, const char *what, struct sess_err *e)
{
	json_t *v = NULL, *err, *m, *n;
	const char *msg = NULL, *name = NULL;
	int code;

	if (rm->body.len > 0)
		v = json_loadb(rm->body.p, rm->body.len, 0, NULL);
	err = json_object_get(v, "error");
	m = json_is_object(err) ? json_object_get(err, "message") : err;
	n = json_object_get(err, "code");
	if (json_is_string(m))
		msg = json_string_value(m);
	if (json_is_string(n))
		name = json_string_value(n);
	/* A HEAD answer has no body: its 403 is the token's. */
	code = sess_status_error((int)rm->status, name);
	if (msg == NULL && rm->status == 403)
		msg = "the token (SESS_TOKEN) does not allow this";
	if (msg == NULL && rm->status == 401)
		msg = "a valid token (SESS_TOKEN) is needed";
	sess_err_set(e, code, "%s: %s: HTTP %ld%s%s", rm->base, what,
	    rm->status, msg ? ": " : "", msg ? msg : "");
	json_decref(v);
	return code;
}

/*
 * Runs the transfer set up on rm->curl.  It goes through a multi handle
 * (which keeps the connection between requests) so that a read can also
 * wait on rm->hup and be dropped as soon as the reader of our output has
 * gone, instead of at the end of a long-poll.
 */
static int
perform(struct sess_remote *rm, int abandon, CURLcode *result)
{
	struct curl_waitfd wfd;
	CURLMsg *msg;
	int running = 1, left, rc = 0;

	*result = CURLE_OK;
	if (curl_multi_add_handle(rm->multi, rm->curl) != CURLM_OK) {
		*result = CURLE_OUT_OF_MEMORY;
		return 0;
	}
	for (;;) {
		if (curl_multi_perform(rm->multi, &running) != CURLM_OK) {
			*result = CURLE_OUT_OF_MEMORY;
			break;
		}
		if (running == 0)
			break;
		wfd.fd = rm->hup;
		wfd.events = 0;   /* poll reports POLLERR and POLLHUP anyway */
		wfd.revents = 0;
		curl_multi_poll(rm->multi, &wfd, abandon ? 1 : 0, 1000, NULL);
		/* curl does not pass those on in revents: look ourselves. */
		if (abandon && sess_hangup_wait(rm->hup, 0)) {
			rc = SESS_EPIPE;
			break;
		}
	}
	while ((msg = curl_multi_info_read(rm->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == rm->curl)
			*result = msg->data.result;
	curl_multi_remove_handle(rm->multi, rm->curl);
	return rc;
}

/*
 * One request.  Returns 0 with rm->status and rm->body filled, or
 * SESS_EIO if the server could not be reached (retrying may help).
 */
static int
request(struct sess_remote *rm, const char *method, const char *url,
    struct curl_slist *hdrs, const char *body, size_t len, long timeout_ms,
    struct sess_err *e)
{
	struct curl_slist *own = NULL;
	CURLcode rc;
	int gone;

	rm->body.len = 0;
	rm->status = 0;
	rm->next = -1;
	rm->uptodate = 0;
	rm->error[0] = '\0';
	curl_easy_reset(rm->curl);
	curl_easy_setopt(rm->curl, CURLOPT_URL, url);
	curl_easy_setopt(rm->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(rm->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(rm->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(rm->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(rm->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(rm->curl, CURLOPT_ERRORBUFFER, rm->error);
	curl_easy_setopt(rm->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(rm->curl, CURLOPT_WRITEDATA, rm);
	curl_easy_setopt(rm->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(rm->curl, CURLOPT_HEADERDATA, rm);
	if (rm->authz != NULL) {
		/* Added to the caller's list, which frees it with the rest. */
		if (hdrs != NULL)
			curl_slist_append(hdrs, rm->authz);
		else
			hdrs = own = curl_slist_append(NULL, rm->authz);
	}
	curl_easy_setopt(rm->curl, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(rm->curl, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(rm->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(rm->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)len);
	}
	gone = perform(rm, rm->hup >= 0 && (strcmp(method, "GET") == 0 ||
	    strcmp(method, "HEAD") == 0), &rc);
	curl_easy_setopt(rm->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(own);
	if (gone != 0)
		return sess_err_set(e, gone, "%s: the output's reader has gone",
		    rm->base);
	if (rc != CURLE_OK)
		return sess_err_set(e, SESS_EIO, "%s: %s", rm->base,
		    rm->error[0] ? rm->error : curl_easy_strerror(rc));
	curl_easy_getinfo(rm->curl, CURLINFO_RESPONSE_CODE, &rm->status);
	return 0;
}

int
sess_remote_append(struct sess_remote *rm, const char *stream, int flags,
    const struct sess_producer *pr, struct sess_item *items, size_t n,
    struct sess_ack *acks, struct sess_err *e)
{
	struct curl_slist *h = NULL;
	struct sess_buf body;
	char hdr[1200], *url = NULL, *text, *line, *end;
	size_t i, got = 0;
	int rc;

	sess_buf_init(&body, (size_t)1 << 30);
	rc = sess_buf_add(&body, "[", 1);
	for (i = 0; rc == 0 && i < n; i++) {
		if (i > 0)
			rc = sess_buf_add(&body, ",", 1);
		if (items[i].value != NULL) {
			text = json_dumps(items[i].value, JSON_COMPACT |
			    JSON_ENCODE_ANY);
			rc = text ? sess_buf_add(&body, text, strlen(text)) :
			    SESS_ENOMEM;
			free(text);
		} else if (rc == 0) {
			rc = sess_buf_add(&body, items[i].json, items[i].len);
		}
	}
	if (rc == 0)
		rc = sess_buf_add(&body, "]", 1);
	if (rc != 0) {
		rc = sess_err_set(e, rc, "batch too large");
		goto out;
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Sess-Append: 1");
	if (flags & SESS_NOCREATE)
		h = curl_slist_append(h, "Sess-No-Create: 1");
	if (pr != NULL) {
		snprintf(hdr, sizeof(hdr), "Producer-Id: %s", pr->id);
		h = curl_slist_append(h, hdr);
		snprintf(hdr, sizeof(hdr), "Producer-Epoch: %lld",
		    (long long)pr->epoch);
		h = curl_slist_append(h, hdr);
		snprintf(hdr, sizeof(hdr), "Producer-Seq: %lld",
		    (long long)items[0].pseq);
		h = curl_slist_append(h, hdr);
		if (n == 1 && items[0].units != 1) {
			snprintf(hdr, sizeof(hdr), "Sess-Units: %lld",
			    (long long)items[0].units);
			h = curl_slist_append(h, hdr);
		}
	}
	if ((url = url_for(rm, "/v1/stream", stream, NULL)) == NULL) {
		rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = request(rm, "POST", url, h, body.p, body.len, 60000L,
	    e)) != 0)
		goto out;
	if (rm->status != 200) {
		rc = http_error(rm, stream, e);
		goto out;
	}
	/* One acknowledgement line per value. */
	for (line = rm->body.p; got < n && line != NULL && *line != '\0';
	    line = end ? end + 1 : NULL) {
		json_t *v;

		end = strchr(line, '\n');
		v = json_loadb(line, end ? (size_t)(end - line) : strlen(line),
		    0, NULL);
		if (!json_is_integer(json_object_get(v, "seq"))) {
			json_decref(v);
			break;
		}
		acks[got].seq = json_integer_value(json_object_get(v, "seq"));
		acks[got].duplicate = json_is_true(json_object_get(v,
		    "duplicate"));
		got++;
		json_decref(v);
	}
	if (got != n)
		rc = sess_err_set(e, SESS_EIO, "%s: %s: the server's answer "
		    "does not acknowledge each value", rm->base, stream);
out:
	curl_slist_free_all(h);
	free(url);
	sess_buf_release(&body);
	return rc;
}

int
sess_remote_stream_get(struct sess_remote *rm, const char *stream,
    struct sess_stream *out, struct sess_err *e)
{
	char *url;
	int rc;

	if ((url = url_for(rm, "/v1/stream", stream, NULL)) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	rc = request(rm, "HEAD", url, NULL, NULL, 0, 30000L, e);
	free(url);
	if (rc != 0)
		return rc;
	if (rm->status == 404)
		return sess_err_set(e, SESS_ENOENT, "%s: no such stream",
		    stream);
	if (rm->status != 200)
		return http_error(rm, stream, e);
	memset(out, 0, sizeof(*out));
	out->tail = rm->next > 0 ? rm->next : 0;
	return 0;
}

int
sess_remote_events(struct sess_remote *rm, const char *stream, int64_t after,
    const char *const *types, int wait_ms, struct sess_buf *lines,
    int *uptodate, struct sess_err *e)
{
	struct sess_buf q;
	char part[64], *url, *t;
	int rc = 0;

	sess_buf_init(&q, 4096);
	snprintf(part, sizeof(part), "?offset=%0*lld", SESS_OFFSET_LEN,
	    (long long)after);
	rc = sess_buf_add(&q, part, strlen(part));
	/* Several types: several type= parameters, any of which matches. */
	for (; rc == 0 && types != NULL && *types != NULL; types++) {
		if ((t = curl_easy_escape(rm->curl, *types, 0)) == NULL) {
			rc = SESS_ENOMEM;
			break;
		}
		if ((rc = sess_buf_add(&q, "&type=", 6)) == 0)
			rc = sess_buf_add(&q, t, strlen(t));
		curl_free(t);
	}
	if (rc == 0 && wait_ms > 0) {
		snprintf(part, sizeof(part), "&live=long-poll&timeout=%d",
		    wait_ms);
		rc = sess_buf_add(&q, part, strlen(part));
	}
	url = rc == 0 ? url_for(rm, "/v1/events", stream, q.p) : NULL;
	sess_buf_release(&q);
	if (rc == SESS_EINVAL)
		return sess_err_set(e, rc, "%s: too many types for one "
		    "request", stream);
	if (url == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	rc = request(rm, "GET", url, NULL, NULL, 0, 30000L + wait_ms, e);
	free(url);
	if (rc != 0)
		return rc;
	*uptodate = rm->uptodate;
	if (rm->status == 204)
		return 0;
	if (rm->status != 200)
		return http_error(rm, stream, e);
	if (sess_buf_add(lines, rm->body.p, rm->body.len) != 0)
		return sess_err_set(e, SESS_EINVAL, "response too large");
	return 0;
}

int
sess_remote_get(struct sess_remote *rm, const char *kind, const char *stream,
    struct sess_buf *out, struct sess_err *e)
{
	char *url;
	int rc;

	if ((url = url_for(rm, kind, stream, NULL)) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	rc = request(rm, "GET", url, NULL, NULL, 0, 60000L, e);
	free(url);
	if (rc != 0)
		return rc;
	if (rm->status != 200)
		return http_error(rm, stream, e);
	if (sess_buf_add(out, rm->body.p, rm->body.len) != 0)
		return sess_err_set(e, SESS_EINVAL, "response too large");
	return 0;
}

int
sess_remote_call(struct sess_remote *rm, const char *method, const char *kind,
    const char *stream, const char *query, const char *body, size_t len,
    long timeout_ms, struct sess_buf *out, int64_t *next, struct sess_err *e)
{
	struct curl_slist *h = NULL;
	char *url;
	int rc;

	if ((url = url_for(rm, kind, stream, query)) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	if (body != NULL)
		h = curl_slist_append(h, "Content-Type: application/json");
	rc = request(rm, method, url, h, body, len, timeout_ms, e);
	curl_slist_free_all(h);
	free(url);
	if (rc != 0)
		return rc;
	if (rm->status < 200 || rm->status > 299)
		return http_error(rm, stream, e);
	if (next != NULL)
		*next = rm->next;
	if (out != NULL && sess_buf_add(out, rm->body.p, rm->body.len) != 0)
		return sess_err_set(e, SESS_EINVAL, "response too large");
	return 0;
}

int
sess_remote_cursor(struct sess_remote *rm, const char *stream,
    const char *member, int64_t seq, struct sess_cursor *out,
    struct sess_err *e)
{
	struct sess_buf body;
	json_t *v = NULL, *c, *o;
	char *m, *q = NULL, text[64];
	int rc, kind;

	if ((m = curl_easy_escape(rm->curl, member, 0)) == NULL ||
	    asprintf(&q, "?member=%s", m) < 0) {
		curl_free(m);
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	}
	curl_free(m);
	sess_buf_init(&body, 1 << 20);
	if (seq >= 0)
		snprintf(text, sizeof(text), "{\"offset\":\"%0*lld\"}",
		    SESS_OFFSET_LEN, (long long)seq);
	rc = sess_remote_call(rm, seq >= 0 ? "PUT" : "GET", "/v1/cursors",
	    stream, q, seq >= 0 ? text : NULL, seq >= 0 ? strlen(text) : 0,
	    30000L, &body, NULL, e);
	free(q);
	if (rc != 0)
		goto out;
	v = json_loadb(body.p, body.len, 0, NULL);
	c = json_is_array(v) ? json_array_get(v, 0) : v;
	o = json_object_get(c, "offset");
	memset(out, 0, sizeof(*out));
	if (!json_is_string(o) || sess_offset_parse(json_string_value(o),
	    &kind, &out->seq, NULL) != 0 ||
	    !json_is_integer(json_object_get(c, "unread"))) {
		rc = sess_err_set(e, SESS_EIO, "%s: %s: the server's answer is "
		    "not a cursor", rm->base, stream);
		goto out;
	}
	out->unread = json_integer_value(json_object_get(c, "unread"));
	if (json_is_string(json_object_get(c, "time")))
		sess_time_parse(json_string_value(json_object_get(c, "time")),
		    &out->time);
out:
	json_decref(v);
	sess_buf_release(&body);
	return rc;
}

/* Presence: /v1/presence/STREAM, as presence.c's functions. */

int
sess_remote_presence_set(struct sess_remote *rm, const char *stream,
    const char *member, const char *conn, const char *event,
    const char *data, int64_t *grace_us, struct sess_err *e)
{
	struct sess_buf out;
	json_t *v, *g;
	char *body;
	int rc;

	v = json_pack("{s:s, s:s, s:s}", "event", event, "member", member,
	    "conn", conn);
	if (v != NULL && data != NULL && strcmp(event, "leave") != 0)
		json_object_set_new(v, "data", json_loads(data, 0, NULL));
	body = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (body == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	sess_buf_init(&out, 1 << 20);
	rc = sess_remote_call(rm, "POST", "/v1/presence", stream, NULL, body,
	    strlen(body), 30000L, &out, NULL, e);
	free(body);
	if (rc == 0 && grace_us != NULL &&
	    (v = json_loadb(out.p, out.len, 0, NULL)) != NULL) {
		/* The server's grace is the lease. */
		g = json_object_get(v, "grace");
		if (json_is_integer(g) && json_integer_value(g) > 0)
			*grace_us = (int64_t)json_integer_value(g) * 1000000;
		json_decref(v);
	}
	sess_buf_release(&out);
	return rc;
}

json_t *
sess_remote_presence_members(struct sess_remote *rm, const char *stream,
    struct sess_err *e)
{
	struct sess_buf out;
	json_t *v;

	sess_buf_init(&out, (size_t)64 << 20);
	if (sess_remote_call(rm, "GET", "/v1/presence", stream, NULL, NULL, 0,
	    30000L, &out, NULL, e) != 0) {
		sess_buf_release(&out);
		return NULL;
	}
	v = json_loadb(out.p, out.len, 0, NULL);
	sess_buf_release(&out);
	if (!json_is_array(v)) {
		json_decref(v);
		sess_err_set(e, SESS_EIO, "%s: %s: the server's answer is not "
		    "a list of members", rm->base, stream);
		return NULL;
	}
	return v;
}

int
sess_remote_presence_log(struct sess_remote *rm, const char *stream,
    int64_t after, int wait_ms, int (*fn)(int64_t seq, const char *line,
    size_t len, void *arg), void *arg, int64_t *next, struct sess_err *e)
{
	struct sess_buf body;
	const char *line, *nl, *end;
	char q[128];
	json_t *v, *s;
	int rc, n = 0;

	if (after < 0)
		snprintf(q, sizeof(q), "?log=1&after=now");
	else
		snprintf(q, sizeof(q), "?log=1&after=%lld", (long long)after);
	if (wait_ms > 0)
		snprintf(q + strlen(q), sizeof(q) - strlen(q),
		    "&live=long-poll&timeout=%d", wait_ms);
	sess_buf_init(&body, (size_t)64 << 20);
	if ((rc = sess_remote_call(rm, "GET", "/v1/presence", stream, q, NULL,
	    0, 30000L + (wait_ms > 0 ? wait_ms : 0), &body, next, e)) != 0) {
		sess_buf_release(&body);
		return rc;
	}
	end = body.p + body.len;
	for (line = body.p; line != NULL && line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if (nl == line)
			continue;
		v = json_loadb(line, (size_t)(nl - line), 0, NULL);
		s = json_object_get(v, "seq");
		if (!json_is_integer(s)) {
			json_decref(v);
			rc = sess_err_set(e, SESS_EIO, "%s: %s: the server's "
			    "answer is not transition lines", rm->base, stream);
			break;
		}
		n++;
		rc = fn != NULL ? fn(json_integer_value(s), line,
		    (size_t)(nl - line), arg) : 1;
		json_decref(v);
		if (rc != 0) {
			rc = 0;
			break;
		}
	}
	sess_buf_release(&body);
	return rc < 0 ? rc : n;
}

/*
 * The notify outbox through sessd: a JSON request to /v1/notify/WHAT
 * (claim, finish, keys, channels), its answer (new).
 */
json_t *
sess_remote_notify(struct sess_remote *rm, const char *method,
    const char *what, json_t *body, long timeout_ms, struct sess_err *e)
{
	struct sess_buf out;
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *v;
	int rc;

	if (body != NULL && text == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	sess_buf_init(&out, (size_t)256 << 20);
	rc = sess_remote_call(rm, method, "/v1/notify", what, NULL,
	    text ? text : "{}", text ? strlen(text) : 2, timeout_ms, &out,
	    NULL, e);
	free(text);
	if (rc != 0) {
		sess_buf_release(&out);
		return NULL;
	}
	v = json_loadb(out.p ? out.p : "", out.len, 0, NULL);
	sess_buf_release(&out);
	if (!json_is_object(v)) {
		json_decref(v);
		sess_err_set(e, SESS_EIO, "%s: the answer to %s is not JSON",
		    rm->base, what);
		return NULL;
	}
	return v;
}
