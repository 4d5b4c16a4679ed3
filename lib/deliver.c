/* deliver.c: one notification as a provider request (libcurl), and its outcome. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sess.h"

#define RESPONSE_MAX 1024
#define PUSH_TEXT_MAX 3000

struct sess_send {
	CURL *h;
	struct curl_slist *hdrs, *rcpt;
	struct sess_buf body, resp;
	size_t sent;              /* of body, for an SMTP upload */
	char *url;
	int smtp;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sess_send *s = arg;
	size_t len = size * n, room = RESPONSE_MAX - s->resp.len;

	/* Only the start of an answer is kept, for the error message. */
	sess_buf_add(&s->resp, p, len < room ? len : room);
	return len;
}

static size_t
on_read(char *p, size_t size, size_t n, void *arg)
{
	struct sess_send *s = arg;
	size_t len = s->body.len - s->sent;

	if (len > size * n)
		len = size * n;
	memcpy(p, s->body.p + s->sent, len);
	s->sent += len;
	return len;
}

void
sess_send_free(struct sess_send *s)
{
	if (s == NULL)
		return;
	if (s->h != NULL)
		curl_easy_cleanup(s->h);
	curl_slist_free_all(s->hdrs);
	curl_slist_free_all(s->rcpt);
	sess_buf_release(&s->body);
	sess_buf_release(&s->resp);
	free(s->url);
	free(s);
}

void *
sess_send_handle(const struct sess_send *s)
{
	return s->h;
}

static int
header(struct sess_send *s, const char *name, const char *v)
{
	struct curl_slist *l;
	char buf[4096];

	/* "Name:" with no value tells libcurl not to send that header. */
	snprintf(buf, sizeof(buf), *v ? "%s: %s" : "%s:", name, v);
	if ((l = curl_slist_append(s->hdrs, buf)) == NULL)
		return -1;
	s->hdrs = l;
	return 0;
}

/*
 * A header value from free text: control characters (CR and LF above
 * all: header injection) become spaces, and text that is not ASCII is
 * an RFC 2047 encoded word, which mail readers and ntfy decode.
 */
static char *
header_text(const char *t, size_t max)
{
	size_t n = strlen(t), i;
	char *c, *b, *out;
	int ascii = 1;

	if (n > max)
		n = max;
	if ((c = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];

		c[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
		if (ch >= 0x80)
			ascii = 0;
	}
	c[n] = '\0';
	if (ascii)
		return c;
	b = sess_b64url_encode((unsigned char *)c, n);
	free(c);
	if (b == NULL)
		return NULL;
	/* RFC 2047 wants the standard alphabet with padding. */
	for (i = 0; b[i]; i++)
		b[i] = b[i] == '-' ? '+' : b[i] == '_' ? '/' : b[i];
	if (asprintf(&out, "=?UTF-8?B?%s%s?=", b, i % 4 == 2 ? "==" :
	    i % 4 == 3 ? "=" : "") < 0)
		out = NULL;
	free(b);
	return out;
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : NULL;
}

/* The link to the event: the notification's url, else one into sessd. */
static char *
link_for(const struct sess_note *no, json_t *note, const char *base)
{
	char off[SESS_OFFSET_LEN + 1], *out, *esc;
	CURL *h;

	if (jstr(note, "url") != NULL)
		return strdup(jstr(note, "url"));
	if (base == NULL || *base == '\0')
		return NULL;
	if ((h = curl_easy_init()) == NULL)
		return NULL;
	/* The stream's events after the previous one: this one first. */
	sess_offset_fmt(no->seq - 1, off);
	esc = curl_easy_escape(h, no->stream, 0);
	if (esc == NULL || asprintf(&out, "%s/v1/stream/%s?offset=%s", base,
	    esc, off) < 0)
		out = NULL;
	/* Slashes in a stream name are path segments, kept as they are. */
	if (out != NULL) {
		char *p, *q;

		for (p = q = out; *p; p++, q++) {
			if (strncmp(p, "%2F", 3) == 0) {
				*q = '/';
				p += 2;
			} else
				*q = *p;
		}
		*q = '\0';
	}
	curl_free(esc);
	curl_easy_cleanup(h);
	return out;
}

/* The webhook body, also the -o line: the notification and its place. */
static char *
note_json(const struct sess_note *no, json_t *note, const char *link)
{
	char off[SESS_OFFSET_LEN + 1], id[64];
	json_t *v;
	char *out;

	sess_offset_fmt(no->seq, off);
	snprintf(id, sizeof(id), "%lld", (long long)no->id);
	v = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s?, s:s?, s:s?, "
	    "s:s?, s:s?, s:i}", "id", id, "stream", no->stream, "offset", off,
	    "seq", (json_int_t)no->seq, "member", no->member, "channel",
	    no->kind, "title", jstr(note, "title"), "body", jstr(note, "body"),
	    "url", jstr(note, "url"), "priority", jstr(note, "priority"),
	    "link", link, "attempt", no->attempts);
	out = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	return out;
}

char *
sess_send_line(const struct sess_note *no, const char *link_base)
{
	json_t *note = json_loads(no->note, 0, NULL);
	char *link = link_for(no, note, link_base), *out;

	out = note_json(no, note, link);
	free(link);
	json_decref(note);
	return out;
}

static int
prio_num(const char *p)
{
	if (p == NULL)
		return 3;
	if (strcmp(p, "min") == 0)
		return 1;
	if (strcmp(p, "low") == 0)
		return 2;
	if (strcmp(p, "high") == 0)
		return 4;
	if (strcmp(p, "urgent") == 0)
		return 5;
	return 3;
}

static int
set_webhook(struct sess_send *s, const struct sess_note *no, json_t *note,
    const char *link, const struct sess_send_cfg *cfg)
{
	char ts[32], sig[65], hv[128], *body, *signed_text;
	int rc = -1;

	if ((body = note_json(no, note, link)) == NULL)
		return -1;
	snprintf(ts, sizeof(ts), "%lld", (long long)(sess_now() / 1000000));
	/* The signature covers the timestamp, a dot and the body. */
	if (asprintf(&signed_text, "%s.%s", ts, body) < 0) {
		free(body);
		return -1;
	}
	sess_hmac_hex(cfg->secret, signed_text, strlen(signed_text), sig);
	free(signed_text);
	snprintf(hv, sizeof(hv), "t=%s,v1=%s", ts, sig);
	if (sess_buf_add(&s->body, body, strlen(body)) == 0 &&
	    header(s, "Content-Type", "application/json") == 0 &&
	    header(s, "Sess-Signature", hv) == 0) {
		/* The row id lets a receiver drop the at-least-once repeat. */
		snprintf(hv, sizeof(hv), "%lld", (long long)no->id);
		rc = header(s, "Sess-Notification", hv);
	}
	free(body);
	return rc;
}

static int
set_ntfy(struct sess_send *s, const struct sess_note *no, json_t *note,
    const char *link)
{
	const char *title = jstr(note, "title"), *body = jstr(note, "body");
	char *t = NULL, num[8];
	int rc = -1;

	if (body == NULL)
		body = title ? title : "";
	if (sess_buf_add(&s->body, body, strlen(body)) != 0)
		return -1;
	if (title != NULL && (t = header_text(title, SESS_NOTIFY_TITLE_MAX)) ==
	    NULL)
		return -1;
	snprintf(num, sizeof(num), "%d", prio_num(jstr(note, "priority")));
	if (header(s, "Content-Type", "text/plain; charset=utf-8") == 0 &&
	    (t == NULL || header(s, "Title", t) == 0) &&
	    header(s, "Priority", num) == 0 &&
	    header(s, "Tags", "bell,sess") == 0 &&
	    (link == NULL || header(s, "Click", link) == 0))
		rc = 0;
	free(t);
	return rc;
}

static int
set_email(struct sess_send *s, const struct sess_note *no, json_t *note,
    const char *link, const struct sess_send_cfg *cfg)
{
	const char *title = jstr(note, "title"), *body = jstr(note, "body"), *p;
	char date[64], host[64], *subj, *mid = NULL, *hdr = NULL;
	struct curl_slist *l;
	time_t now = time(NULL);
	struct tm tm;
	int rc = -1;

	if (cfg->smtp_url == NULL || *cfg->smtp_url == '\0') {
		snprintf(s->errbuf, sizeof(s->errbuf), "no SMTP server: set "
		    "SESS_SMTP_URL");
		return -2;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if ((subj = header_text(title ? title : "Notification",
	    SESS_NOTIFY_TITLE_MAX)) == NULL)
		return -1;
	if (asprintf(&mid, "<%lld.%lld.%d@%s>", (long long)no->id,
	    (long long)sess_now(), no->attempts, host) < 0)
		mid = NULL;
	if (mid != NULL && asprintf(&hdr, "Date: %s\r\nMessage-ID: %s\r\n"
	    "From: sess <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "Auto-Submitted: auto-generated\r\n\r\n", date, mid, cfg->smtp_from,
	    no->target, subj) < 0)
		hdr = NULL;
	free(subj);
	free(mid);
	if (hdr == NULL)
		return -1;
	rc = sess_buf_add(&s->body, hdr, strlen(hdr));
	free(hdr);
	/* The body in CRLF lines; libcurl escapes leading dots. */
	for (p = body ? body : ""; rc == 0 && *p; p++) {
		if (*p == '\n')
			rc = sess_buf_add(&s->body, "\r\n", 2);
		else if (*p != '\r')
			rc = sess_buf_add(&s->body, p, 1);
	}
	if (rc == 0 && link != NULL)
		rc = sess_buf_add(&s->body, "\r\n\r\n", 4) ||
		    sess_buf_add(&s->body, link, strlen(link));
	if (rc == 0)
		rc = sess_buf_add(&s->body, "\r\n", 2);
	if (rc != 0)
		return -1;
	if ((l = curl_slist_append(NULL, no->target)) == NULL)
		return -1;
	s->rcpt = l;
	s->smtp = 1;
	if ((s->url = strdup(cfg->smtp_url)) == NULL)
		return -1;
	curl_easy_setopt(s->h, CURLOPT_MAIL_FROM, cfg->smtp_from);
	curl_easy_setopt(s->h, CURLOPT_MAIL_RCPT, s->rcpt);
	curl_easy_setopt(s->h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(s->h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(s->h, CURLOPT_READDATA, s);
	curl_easy_setopt(s->h, CURLOPT_INFILESIZE, (long)s->body.len);
	if (cfg->smtp_starttls)
		curl_easy_setopt(s->h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	return 0;
}

static const char *
urgency(const char *p)
{
	if (p == NULL)
		return "normal";
	if (strcmp(p, "min") == 0)
		return "very-low";
	if (strcmp(p, "low") == 0)
		return "low";
	if (strcmp(p, "high") == 0 || strcmp(p, "urgent") == 0)
		return "high";
	return "normal";
}

static int
set_webpush(struct sess_send *s, const struct sess_note *no, json_t *note,
    const char *link, const struct sess_send_cfg *cfg)
{
	struct sess_err e;
	json_t *sub, *keys, *msg;
	char *text = NULL, *auth = NULL, ttl[24];
	const char *ep;
	int rc = -1;

	if ((sub = json_loads(no->target, 0, NULL)) == NULL)
		return -1;
	ep = jstr(sub, "endpoint");
	keys = json_object_get(sub, "keys");
	/* What the service worker shows; the body is cut to fit a record. */
	msg = json_pack("{s:s?, s:s?, s:s?, s:s, s:I}", "title",
	    jstr(note, "title"), "body", jstr(note, "body"), "url", link,
	    "stream", no->stream, "seq", (json_int_t)no->seq);
	text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	if (text != NULL && strlen(text) > PUSH_TEXT_MAX) {
		const char *b = jstr(note, "body");
		size_t over = strlen(text) - PUSH_TEXT_MAX + 3, keep;

		keep = b && strlen(b) > over ? strlen(b) - over : 0;
		/* Cut on a character boundary. */
		while (keep > 0 && ((unsigned char)b[keep] & 0xc0) == 0x80)
			keep--;
		json_object_set_new(msg, "body", json_stringn(b ? b : "",
		    keep));
		free(text);
		text = json_dumps(msg, JSON_COMPACT);
	}
	json_decref(msg);
	if (ep == NULL || text == NULL)
		goto out;
	if (sess_push_encrypt(jstr(keys, "p256dh"), jstr(keys, "auth"), text,
	    strlen(text), &s->body, &e) != 0) {
		snprintf(s->errbuf, sizeof(s->errbuf), "%.200s", e.msg);
		rc = -2;
		goto out;
	}
	if ((auth = sess_push_vapid_auth(cfg->vapid, ep, cfg->vapid_subject,
	    sess_now())) == NULL)
		goto out;
	snprintf(ttl, sizeof(ttl), "%ld", cfg->push_ttl);
	if ((s->url = strdup(ep)) == NULL ||
	    header(s, "Authorization", auth) != 0 ||
	    header(s, "Content-Encoding", "aes128gcm") != 0 ||
	    header(s, "Content-Type", "application/octet-stream") != 0 ||
	    header(s, "TTL", ttl) != 0 ||
	    header(s, "Urgency", urgency(jstr(note, "priority"))) != 0)
		goto out;
	rc = 0;
out:
	free(auth);
	free(text);
	json_decref(sub);
	return rc;
}

struct sess_send *
sess_send_new(const struct sess_note *no, const struct sess_send_cfg *cfg,
    struct sess_err *e)
{
	struct sess_send *s;
	json_t *note;
	char *link;
	int rc;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	sess_buf_init(&s->body, 1 << 20);
	sess_buf_init(&s->resp, RESPONSE_MAX + 1);
	if ((s->h = curl_easy_init()) == NULL ||
	    (note = json_loads(no->note, 0, NULL)) == NULL) {
		sess_send_free(s);
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	link = link_for(no, note, cfg->link_base);
	if (strcmp(no->kind, "webhook") == 0)
		rc = set_webhook(s, no, note, link, cfg);
	else if (strcmp(no->kind, "ntfy") == 0)
		rc = set_ntfy(s, no, note, link);
	else if (strcmp(no->kind, "email") == 0)
		rc = set_email(s, no, note, link, cfg);
	else if (strcmp(no->kind, "webpush") == 0)
		rc = set_webpush(s, no, note, link, cfg);
	else {
		snprintf(s->errbuf, sizeof(s->errbuf), "unknown channel kind "
		    "'%s'", no->kind);
		rc = -2;
	}
	free(link);
	json_decref(note);
	if (rc != 0) {
		/* -2: this row can never be sent; the reason is kept. */
		sess_err_set(e, rc == -2 ? SESS_EINVAL : SESS_ENOMEM, "%s",
		    rc == -2 ? s->errbuf : "out of memory");
		sess_send_free(s);
		return NULL;
	}
	if (!s->smtp) {
		if (s->url == NULL && (s->url = strdup(no->target)) == NULL) {
			sess_send_free(s);
			sess_err_set(e, SESS_ENOMEM, "out of memory");
			return NULL;
		}
		curl_easy_setopt(s->h, CURLOPT_POST, 1L);
		curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body.p ?
		    s->body.p : "");
		curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE, (long)s->body.len);
		/* Never "Expect: 100-continue": one round trip per send. */
		header(s, "Expect", "");
		curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
		curl_easy_setopt(s->h, CURLOPT_PROTOCOLS_STR, "http,https");
	} else
		curl_easy_setopt(s->h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(s->h, CURLOPT_URL, s->url);
	curl_easy_setopt(s->h, CURLOPT_USERAGENT, "sess-notify");
	curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
	curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS, cfg->timeout_ms);
	curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
	if (cfg->cainfo != NULL)
		curl_easy_setopt(s->h, CURLOPT_CAINFO, cfg->cainfo);
	s->errbuf[0] = '\0';
	return s;
}

/* The printable start of the provider's answer, for the error. */
static void
answer(const struct sess_send *s, char *out, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < s->resp.len && o + 1 < n && i < 120; i++) {
		unsigned char c = (unsigned char)s->resp.p[i];

		out[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

void
sess_send_result(struct sess_send *s, int code, struct sess_note *no)
{
	char ans[128];
	long status = 0;
	curl_off_t after = 0;

	no->retry_after = 0;
	no->error[0] = '\0';
	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	answer(s, ans, sizeof(ans));
	if (s->smtp) {
		if (code == CURLE_OK) {
			no->result = SESS_NOTE_SENT;
			return;
		}
		/* A 5xx reply is a permanent refusal; the rest may pass. */
		no->result = status >= 500 && status < 600 ? SESS_NOTE_FAIL :
		    SESS_NOTE_RETRY;
		snprintf(no->error, sizeof(no->error), "smtp: %.200s%s%.0ld",
		    s->errbuf[0] ? s->errbuf : curl_easy_strerror(code),
		    status ? ", reply " : "", status);
		return;
	}
	if (code != CURLE_OK) {
		/* Timeouts, refusals and TLS failures: it may pass later. */
		no->result = SESS_NOTE_RETRY;
		snprintf(no->error, sizeof(no->error), "%s",
		    s->errbuf[0] ? s->errbuf : curl_easy_strerror(code));
		return;
	}
	if (status >= 200 && status < 300) {
		no->result = SESS_NOTE_SENT;
		return;
	}
	snprintf(no->error, sizeof(no->error), "HTTP %ld%s%s", status,
	    ans[0] ? ": " : "", ans);
	if (status == 408 || status == 429 || status >= 500) {
		no->result = SESS_NOTE_RETRY;
		if (curl_easy_getinfo(s->h, CURLINFO_RETRY_AFTER, &after) ==
		    CURLE_OK && after > 0)
			no->retry_after = (int64_t)after * 1000000;
	} else if ((status == 404 || status == 410) &&
	    strcmp(no->kind, "webpush") == 0)
		no->result = SESS_NOTE_GONE;
	else
		no->result = SESS_NOTE_FAIL;
}
