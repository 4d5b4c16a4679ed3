/* http.c: HTTP/1.1 request heads and chunked bodies (RFC 9112), no I/O. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sess.h"

/*
 * Where a server and something in front of it could read one byte
 * stream as different requests, a request can be smuggled past the
 * front.  So this parser accepts the grammar of RFC 9112 and nothing
 * looser: lines end in CRLF (a bare LF or CR is refused rather than
 * guessed at, as 2.2 allows), a field line that starts with white space
 * (obs-fold) is refused (5.2), and a message is framed by one
 * Content-Length or by chunked, never by both (6.1, 6.3).
 */

static int
is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A byte of a field value: VCHAR, SP, HTAB or obs-text. */
static int
is_vbyte(int c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

int
sess_http_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
fail(struct sess_http_req *r, int status, struct sess_err *e,
    const char *msg)
{
	r->status = status;
	return sess_err_set(e, SESS_EINVAL, "%s", msg);
}

void
sess_http_req_init(struct sess_http_req *r)
{
	memset(r, 0, sizeof(*r));
	r->clen = -1;
}

void
sess_http_req_release(struct sess_http_req *r)
{
	free(r->head);
	sess_http_req_init(r);
}

const char *
sess_http_field(const struct sess_http_req *r, const char *name)
{
	int i;

	for (i = 0; i < r->nfields; i++)
		if (strcasecmp(r->fields[i].name, name) == 0)
			return r->fields[i].value;
	return NULL;
}

int
sess_http_has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);
	const char *p = list;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, tok, n) == 0 && (p[n] == '\0' || p[n] ==
		    ',' || p[n] == ' ' || p[n] == '\t'))
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

/*
 * Looks for the end of the head in p[r->scan..n), refusing bytes no head
 * may hold on the way.  Returns the head's length, 0 if it is not all
 * there yet, or SESS_EINVAL.  Every refusal depends on the bytes up to
 * where it is found only, so the result is the same however the input
 * is cut into reads.
 */
static long
head_end(struct sess_http_req *r, const char *p, size_t n,
    struct sess_err *e)
{
	size_t i;

	for (i = r->scan; i < n; i++) {
		if (i >= SESS_HTTP_HEAD_MAX)
			return fail(r, 431, e, "request headers too large");
		if (!r->line && i - r->skip > SESS_HTTP_TARGET_MAX + 32)
			return fail(r, 414, e, "request target too long");
		if (p[i] == '\0')
			return fail(r, 400, e, "NUL byte in the request head");
		if (p[i] == '\r') {
			if (i + 1 < n && p[i + 1] != '\n')
				return fail(r, 400, e, "CR without LF in the "
				    "request head");
			continue;
		}
		if (p[i] != '\n')
			continue;
		if (i == 0 || p[i - 1] != '\r')
			return fail(r, 400, e, "LF without CR in the "
			    "request head");
		/* Empty lines before the request line are skipped (2.2). */
		if (!r->line && i + 1 == r->skip + 2) {
			r->skip = i + 1;
			continue;
		}
		if (!r->line)
			r->line = i + 1;
		if (i >= r->skip + 3 && p[i - 2] == '\n' && p[i - 3] == '\r') {
			r->scan = i + 1;
			return (long)(i + 1);
		}
	}
	/* A CR last in p is looked at again with what follows it. */
	r->scan = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
	return 0;
}

/*
 * An absolute-form target (3.2.2) becomes its origin form in place, its
 * authority kept apart for the Host field it replaces.
 */
static int
absolute_form(struct sess_http_req *r, struct sess_err *e)
{
	char *t = r->target, *a, *end;
	size_t skip, alen;

	if (strncasecmp(t, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(t, "https://", 8) == 0)
		skip = 8;
	else
		return fail(r, 400, e, "request target is not a path or an "
		    "http URI");
	a = t + skip;
	alen = strcspn(a, "/?#");
	end = a + alen;
	if (alen == 0)
		return fail(r, 400, e, "request target has no host");
	if (memchr(a, '@', alen) != NULL)
		return fail(r, 400, e, "request target has user info");
	/* The authority moves to the front, to make room for a '/'. */
	memmove(t, a, alen);
	t[alen] = '\0';
	r->authority = t;
	if (*end == '/') {
		r->target = end;
	} else {
		end[-1] = '/';
		r->target = end - 1;
	}
	return 0;
}

/* The request line "METHOD SP target SP HTTP/x.y", NUL-terminated. */
static int
request_line(struct sess_http_req *r, char *line, struct sess_err *e)
{
	char *sp, *ver;
	size_t i;

	if ((sp = strchr(line, ' ')) == NULL || sp == line)
		return fail(r, 400, e, "malformed request line");
	*sp = '\0';
	for (i = 0; line[i] != '\0'; i++)
		if (!is_tchar((unsigned char)line[i]))
			return fail(r, 400, e, "malformed method");
	r->method = line;
	r->target = sp + 1;
	if ((ver = strchr(r->target, ' ')) == NULL || ver == r->target)
		return fail(r, 400, e, "malformed request line");
	*ver++ = '\0';
	if ((size_t)(ver - r->target) - 1 > SESS_HTTP_TARGET_MAX)
		return fail(r, 414, e, "request target too long");
	for (i = 0; r->target[i] != '\0'; i++)
		if ((unsigned char)r->target[i] < ' ' ||
		    (unsigned char)r->target[i] == 0x7f)
			return fail(r, 400, e, "control byte in the request "
			    "target");
	if (strncmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' ||
	    ver[6] != '.' || ver[7] < '0' || ver[7] > '9' || ver[8] != '\0')
		return fail(r, 400, e, "malformed HTTP version");
	if (ver[5] != '1')
		return fail(r, 505, e, "only HTTP/1.0 and HTTP/1.1 are served");
	r->minor = ver[7] - '0';
	if (r->minor > 1)
		r->minor = 1;
	if (strcmp(r->target, "*") == 0) {
		if (strcmp(r->method, "OPTIONS") != 0)
			return fail(r, 400, e, "only OPTIONS may ask for *");
	} else if (r->target[0] != '/' && absolute_form(r, e) != 0) {
		return -1;
	}
	if ((r->query = strchr(r->target, '?')) != NULL)
		r->query++;
	return 0;
}

/* One field line "name: value" (5.1), NUL-terminated, into r->fields. */
static int
field_line(struct sess_http_req *r, char *line, struct sess_err *e)
{
	char *colon, *v, *end, *p;

	if (*line == ' ' || *line == '\t')
		return fail(r, 400, e, "obsolete line folding in the request "
		    "head");
	if ((colon = strchr(line, ':')) == NULL || colon == line)
		return fail(r, 400, e, "malformed header field");
	for (p = line; p < colon; p++)
		if (!is_tchar((unsigned char)*p))
			return fail(r, 400, e, "malformed header field name");
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (p = v; *p != '\0'; p++)
		if (!is_vbyte((unsigned char)*p))
			return fail(r, 400, e, "control byte in a header "
			    "field");
	end = p;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (r->nfields == SESS_HTTP_FIELDS_MAX)
		return fail(r, 431, e, "too many header fields");
	r->fields[r->nfields].name = line;
	r->fields[r->nfields].value = v;
	r->fields[r->nfields].len = (size_t)(end - v);
	r->nfields++;
	return 0;
}

/*
 * Content-Length: digits, or a list of the same digits (RFC 9110, 8.6),
 * agreeing with what an earlier field said.
 */
static int
content_length(struct sess_http_req *r, const char *v, struct sess_err *e)
{
	int64_t n;
	int digits;

	do {
		while (*v == ' ' || *v == '\t')
			v++;
		for (n = 0, digits = 0; *v >= '0' && *v <= '9'; v++) {
			if (++digits > 18)
				return fail(r, 400, e, "Content-Length too "
				    "large");
			n = n * 10 + (*v - '0');
		}
		while (*v == ' ' || *v == '\t')
			v++;
		if (digits == 0 || (*v != ',' && *v != '\0'))
			return fail(r, 400, e, "malformed Content-Length");
		if (r->clen >= 0 && r->clen != n)
			return fail(r, 400, e, "differing Content-Lengths");
		r->clen = n;
	} while (*v++ == ',');
	return 0;
}

/*
 * Transfer-Encoding: chunked, once and last (6.1); another coding
 * before it is one sessd does not implement.
 */
static int
transfer_encoding(struct sess_http_req *r, const char *v,
    struct sess_err *e)
{
	size_t n;

	do {
		while (*v == ' ' || *v == '\t')
			v++;
		n = strcspn(v, ", \t");
		if (n == 0)
			return fail(r, 400, e, "malformed Transfer-Encoding");
		if (r->chunked)
			return fail(r, 400, e, "chunked is not the last "
			    "transfer coding");
		if (n == 7 && strncasecmp(v, "chunked", 7) == 0)
			r->chunked = 1;
		else
			r->other_coding = 1;
		v += n;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != ',' && *v != '\0')
			return fail(r, 400, e, "malformed Transfer-Encoding");
	} while (*v++ == ',');
	return 0;
}

/* What the fields say about framing and the connection. */
static int
fields_meaning(struct sess_http_req *r, struct sess_err *e)
{
	const char *name, *v;
	int i, hosts = 0, te = 0;

	for (i = 0; i < r->nfields; i++) {
		name = r->fields[i].name;
		v = r->fields[i].value;
		if (strcasecmp(name, "content-length") == 0) {
			if (content_length(r, v, e) != 0)
				return -1;
		} else if (strcasecmp(name, "transfer-encoding") == 0) {
			te = 1;
			if (transfer_encoding(r, v, e) != 0)
				return -1;
		} else if (strcasecmp(name, "host") == 0) {
			hosts++;
		} else if (strcasecmp(name, "connection") == 0) {
			if (sess_http_has_token(v, "close"))
				r->close = 1;
			if (sess_http_has_token(v, "keep-alive"))
				r->keepalive = 1;
		} else if (strcasecmp(name, "expect") == 0) {
			if (strcasecmp(v, "100-continue") != 0)
				return fail(r, 417, e, "only Expect: "
				    "100-continue is understood");
			r->expect = 1;
		}
	}
	if (hosts > 1)
		return fail(r, 400, e, "more than one Host field");
	if (hosts == 0 && r->minor == 1)
		return fail(r, 400, e, "no Host field");
	if (te && r->clen >= 0)
		return fail(r, 400, e, "both Content-Length and "
		    "Transfer-Encoding");
	if (te && r->minor == 0)
		return fail(r, 400, e, "Transfer-Encoding in HTTP/1.0");
	if (te && !r->chunked)
		return fail(r, 400, e, "chunked is not the last transfer "
		    "coding");
	if (r->other_coding)
		return fail(r, 501, e, "only chunked transfer coding is "
		    "understood");
	if (r->minor == 0 && !r->keepalive)
		r->close = 1;
	return 0;
}

/* Parses the complete head in r->head, len bytes. */
static int
head_parse(struct sess_http_req *r, size_t len, struct sess_err *e)
{
	char *p = r->head + r->skip, *end = r->head + len - 2, *nl;

	/* Each line ends in CRLF (head_end made sure): cut there. */
	nl = strstr(p, "\r\n");
	*nl = '\0';
	if (request_line(r, p, e) != 0)
		return -1;
	for (p = nl + 2; p < end; p = nl + 2) {
		nl = strstr(p, "\r\n");
		*nl = '\0';
		if (field_line(r, p, e) != 0)
			return -1;
	}
	return fields_meaning(r, e);
}

long
sess_http_head(struct sess_http_req *r, const char *p, size_t n,
    struct sess_err *e)
{
	long len;

	if (r->head != NULL)
		return fail(r, 500, e, "request head parsed already");
	if ((len = head_end(r, p, n, e)) <= 0)
		return len;
	if ((size_t)len > SESS_HTTP_HEAD_MAX)
		return fail(r, 431, e, "request headers too large");
	if ((r->head = malloc((size_t)len + 1)) == NULL) {
		r->status = 503;
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	}
	memcpy(r->head, p, (size_t)len);
	r->head[len] = '\0';
	if (head_parse(r, (size_t)len, e) != 0)
		return SESS_EINVAL;
	return len;
}

/*
 * The chunked body (7.1), byte by byte, so that nothing needs to be
 * kept between calls but the state: the chunk-size line with its
 * extensions, the data, the CRLF after it, and the trailer fields after
 * the last chunk, which are read for their syntax and dropped.
 */
enum {
	CK_SIZE0,      /* the first hex digit of a chunk size */
	CK_SIZE,       /* more hex digits */
	CK_WS,         /* BWS before a ';' */
	CK_NAME0,      /* BWS, then an extension's name */
	CK_NAME,
	CK_NAME_WS,    /* BWS after a name: '=' or ';' */
	CK_VAL0,       /* BWS, then a value */
	CK_TOKEN,
	CK_QUOTED,
	CK_QPAIR,
	CK_QEND,       /* after a quoted value */
	CK_LF,         /* the LF ending the size line */
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TRAILER0,   /* a trailer line's first byte, or CR of the end */
	CK_TNAME,
	CK_TVALUE,
	CK_TLF,
	CK_END_LF,
	CK_DONE,
};

/* Bounds on what a size line and the trailer section may take. */
#define CK_LINE_MAX 4096

void
sess_http_chunked_init(struct sess_http_chunked *d)
{
	memset(d, 0, sizeof(*d));
	d->state = CK_SIZE0;
}

/* The state after byte c of a size line, or -1 if c breaks it. */
static int
size_line(struct sess_http_chunked *d, int c)
{
	int s = d->state;

	switch (s) {
	case CK_SIZE0:
	case CK_SIZE:
		if (sess_http_hexval(c) >= 0) {
			/* Sizes stay below 2^60 bytes: far past any cap. */
			if (d->left >> 56 != 0)
				return -2;
			d->left = d->left * 16 + (uint64_t)sess_http_hexval(c);
			return CK_SIZE;
		}
		if (s == CK_SIZE0)
			return -1;
		break;
	case CK_NAME0:
	case CK_VAL0:
		if (c == ' ' || c == '\t')
			return s;
		if (is_tchar(c))
			return s == CK_NAME0 ? CK_NAME : CK_TOKEN;
		if (c == '"' && s == CK_VAL0)
			return CK_QUOTED;
		return -1;
	case CK_NAME:
		if (is_tchar(c))
			return s;
		if (c == '=')
			return CK_VAL0;
		if (c == ' ' || c == '\t')
			return CK_NAME_WS;
		break;
	case CK_NAME_WS:
		if (c == '=')
			return CK_VAL0;
		if (c == ';')
			return CK_NAME0;
		return c == ' ' || c == '\t' ? s : -1;
	case CK_TOKEN:
		if (is_tchar(c))
			return s;
		break;
	case CK_QUOTED:
		if (c == '"')
			return CK_QEND;
		if (c == '\\')
			return CK_QPAIR;
		return is_vbyte(c) ? s : -1;
	case CK_QPAIR:
		return is_vbyte(c) ? CK_QUOTED : -1;
	case CK_WS:
		if (c == ';')
			return CK_NAME0;
		return c == ' ' || c == '\t' ? s : -1;
	}
	/* After a size, a name, a token or a quoted value. */
	if (c == ';')
		return CK_NAME0;
	if (c == ' ' || c == '\t')
		return CK_WS;
	if (c == '\r')
		return CK_LF;
	return -1;
}

/* The state after byte c of the trailer section, or -1. */
static int
trailer(struct sess_http_chunked *d, int c)
{
	switch (d->state) {
	case CK_TRAILER0:
		if (c == '\r')
			return CK_END_LF;
		return is_tchar(c) ? CK_TNAME : -1;
	case CK_TNAME:
		if (c == ':')
			return CK_TVALUE;
		return is_tchar(c) ? CK_TNAME : -1;
	case CK_TVALUE:
		if (c == '\r')
			return CK_TLF;
		return is_vbyte(c) ? CK_TVALUE : -1;
	case CK_TLF:
		return c == '\n' ? CK_TRAILER0 : -1;
	case CK_END_LF:
		return c == '\n' ? CK_DONE : -1;
	}
	return -1;
}

int
sess_http_chunked(struct sess_http_chunked *d, const char *p, size_t n,
    size_t *used, const char **data, size_t *len, struct sess_err *e)
{
	size_t i = 0;
	int c, s;

	*data = NULL;
	*len = 0;
	for (; i < n && d->state != CK_DONE; i++) {
		c = (unsigned char)p[i];
		if (d->state == CK_DATA) {
			*data = p + i;
			*len = n - i < d->left ? n - i : (size_t)d->left;
			d->left -= *len;
			if (d->left == 0)
				d->state = CK_DATA_CR;
			i += *len;
			break;
		}
		if (d->state == CK_DATA_CR || d->state == CK_DATA_LF) {
			if (c != (d->state == CK_DATA_CR ? '\r' : '\n')) {
				*used = i;
				return sess_err_set(e, SESS_EINVAL, "chunk "
				    "data not followed by CRLF");
			}
			d->state = d->state == CK_DATA_CR ? CK_DATA_LF :
			    CK_SIZE0;
			d->line = 0;
			continue;
		}
		if (d->state == CK_LF) {
			if (c != '\n') {
				*used = i;
				return sess_err_set(e, SESS_EINVAL, "chunk "
				    "size line not ended by CRLF");
			}
			d->state = d->left == 0 ? CK_TRAILER0 : CK_DATA;
			d->line = 0;
			continue;
		}
		if (++d->line > CK_LINE_MAX * (d->state >= CK_TRAILER0 ?
		    4 : 1)) {
			*used = i;
			return sess_err_set(e, SESS_EINVAL, "%s too long",
			    d->state >= CK_TRAILER0 ? "chunked trailer "
			    "section" : "chunk size line");
		}
		s = d->state < CK_LF ? size_line(d, c) : trailer(d, c);
		if (s < 0) {
			*used = i;
			if (s == -2)
				return sess_err_set(e, SESS_EINVAL, "chunk "
				    "size too large");
			return sess_err_set(e, SESS_EINVAL, c > ' ' &&
			    c < 0x7f ? "%s: unexpected '%c'" : "%s: "
			    "unexpected byte 0x%02x", d->state < CK_LF ?
			    "malformed chunk size line" : "malformed "
			    "chunked trailer field", c);
		}
		d->state = s;
	}
	*used = i;
	return d->state == CK_DONE;
}
