/* json.c: a strict one-pass JSON validator that also compacts the text. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

/*
 * It accepts exactly what jansson's decoder accepts (RFC 8259, valid
 * UTF-8, no \u0000, integers within int64, reals that do not overflow,
 * nesting up to 2048 deep), so a value taken on this fast path reads
 * back with jansson everywhere else.  Strings and numbers are copied as
 * written; only insignificant white space is dropped.
 */
#define MAX_DEPTH 2048

struct scan {
	const unsigned char *p, *end, *start;
	struct sess_buf *out;
	struct sess_jscan *info;
	struct sess_err *e;
	int depth;
};

static int
fail(struct scan *s, const char *what)
{
	return sess_err_set(s->e, SESS_EINVAL, "column %ld: %s",
	    (long)(s->p - s->start) + 1, what);
}

static void
ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
emit(struct scan *s, const unsigned char *from, size_t n)
{
	if (sess_buf_add(s->out, from, n) != 0)
		return sess_err_set(s->e, SESS_EINVAL, "value too large");
	return 0;
}

static int
hex4(const unsigned char *p, unsigned *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		unsigned c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		*v = *v << 4 | d;
	}
	return 0;
}

/* A string at s->p; *escaped tells whether it holds any escape. */
static int
string(struct scan *s, int *escaped)
{
	const unsigned char *from = s->p;
	long bad;
	unsigned u, lo;

	*escaped = 0;
	s->p++;
	for (;;) {
		while (s->p < s->end && *s->p >= 0x20 && *s->p != '"' &&
		    *s->p != '\\' && *s->p < 0x80)
			s->p++;
		if (s->p >= s->end)
			return fail(s, "unterminated string");
		if (*s->p == '"')
			break;
		if (*s->p < 0x20)
			return fail(s, "control character in string");
		if (*s->p >= 0x80) {
			/* One multi-byte sequence, checked on its own. */
			size_t len = *s->p >= 0xf0 ? 4 : *s->p >= 0xe0 ? 3 : 2;

			if ((size_t)(s->end - s->p) < len ||
			    sess_utf8_prefix(s->p, len, &bad) != len)
				return fail(s, "invalid UTF-8 in string");
			s->p += len;
			continue;
		}
		/* A backslash escape. */
		*escaped = 1;
		if (s->p + 1 >= s->end)
			return fail(s, "unterminated string");
		switch (s->p[1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			s->p += 2;
			break;
		case 'u':
			if (s->end - s->p < 6 || hex4(s->p + 2, &u) != 0)
				return fail(s, "invalid \\u escape");
			if (u == 0)
				return fail(s, "\\u0000 is not allowed");
			if (u >= 0xdc00 && u <= 0xdfff)
				return fail(s, "invalid Unicode escape (lone "
				    "low surrogate)");
			s->p += 6;
			if (u >= 0xd800 && u <= 0xdbff) {
				if (s->end - s->p < 6 || s->p[0] != '\\' ||
				    s->p[1] != 'u' || hex4(s->p + 2, &lo) !=
				    0 || lo < 0xdc00 || lo > 0xdfff)
					return fail(s, "invalid Unicode escape "
					    "(lone high surrogate)");
				s->p += 6;
			}
			break;
		default:
			return fail(s, "invalid escape in string");
		}
	}
	s->p++;
	return emit(s, from, (size_t)(s->p - from));
}

static int
digits(struct scan *s)
{
	const unsigned char *from = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > from;
}

static int
number(struct scan *s)
{
	const unsigned char *from = s->p, *int_start;
	int real = 0;
	char buf[64], *tmp;
	size_t n;

	if (*s->p == '-')
		s->p++;
	int_start = s->p;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!digits(s))
		return fail(s, "invalid number");
	if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		return fail(s, "invalid number (leading zero)");
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		real = 1;
		if (!digits(s))
			return fail(s, "invalid number");
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		real = 1;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return fail(s, "invalid number");
	}
	n = (size_t)(s->p - from);
	if (!real) {
		/* Within int64, as jansson requires. */
		size_t nd = (size_t)(s->p - int_start);
		const char *lim = *from == '-' ? "9223372036854775808" :
		    "9223372036854775807";

		if (nd > 19 || (nd == 19 && memcmp(int_start, lim, 19) > 0))
			return fail(s, "too big integer");
	} else {
		tmp = n < sizeof(buf) ? buf : malloc(n + 1);
		if (tmp == NULL)
			return sess_err_set(s->e, SESS_ENOMEM, "out of memory");
		memcpy(tmp, from, n);
		tmp[n] = '\0';
		if (isinf(strtod(tmp, NULL))) {
			if (tmp != buf)
				free(tmp);
			return fail(s, "real number overflow");
		}
		if (tmp != buf)
			free(tmp);
	}
	return emit(s, from, n);
}

static int
word(struct scan *s, const char *w, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return fail(s, "invalid token");
	s->p += n;
	return emit(s, (const unsigned char *)w, n);
}

/* Which top-level key a raw key string (with quotes) is. */
static void
note_key(struct scan *s, const unsigned char *k, size_t n, int escaped,
    const unsigned char **val)
{
	struct sess_jscan *in = s->info;

	*val = NULL;
	if (escaped) {
		in->complex = 1; /* a key spelt with escapes: be careful */
		return;
	}
	if (n == 6 && memcmp(k, "\"type\"", 6) == 0)
		*val = (const unsigned char *)"type";
	else if ((n == 5 && memcmp(k, "\"msg\"", 5) == 0) ||
	    (n == 4 && memcmp(k, "\"op\"", 4) == 0))
		in->complex = 1;
}

static int value(struct scan *s);

static int
container(struct scan *s)
{
	unsigned char close = *s->p == '{' ? '}' : ']';
	int object = close == '}', top = s->depth == 0, esc, rc, first = 1;
	const unsigned char *key, *which;
	size_t at;

	if (++s->depth > MAX_DEPTH)
		return fail(s, "maximum parsing depth reached");
	if ((rc = emit(s, s->p, 1)) != 0)
		return rc;
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return emit(s, &close, 1);
	}
	for (;;) {
		if (!first && (rc = emit(s, (const unsigned char *)",", 1)) !=
		    0)
			return rc;
		first = 0;
		which = NULL;
		if (object) {
			ws(s);
			if (s->p >= s->end || *s->p != '"')
				return fail(s, "string or '}' expected");
			key = s->p;
			if ((rc = string(s, &esc)) != 0)
				return rc;
			if (top)
				note_key(s, key, (size_t)(s->p - key), esc,
				    &which);
			ws(s);
			if (s->p >= s->end || *s->p != ':')
				return fail(s, "':' expected");
			s->p++;
			if ((rc = emit(s, (const unsigned char *)":", 1)) != 0)
				return rc;
		}
		ws(s);
		at = s->out->len;
		if (which != NULL && s->p < s->end && *s->p == '"') {
			/* The type, kept as a span of the output. */
			if ((rc = string(s, &esc)) != 0)
				return rc;
			if (esc)
				s->info->complex = 1;
			s->info->type_at = at + 1;
			s->info->type_len = s->out->len - at - 2;
			s->info->has_type = 1;
		} else {
			if (which != NULL)
				s->info->complex = 1; /* non-string type */
			if ((rc = value(s)) != 0)
				return rc;
		}
		ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == close) {
			s->p++;
			s->depth--;
			return emit(s, &close, 1);
		}
		return fail(s, object ? "',' or '}' expected" :
		    "',' or ']' expected");
	}
}

static int
value(struct scan *s)
{
	int esc;

	if (s->p >= s->end)
		return fail(s, "unexpected end of input");
	switch (*s->p) {
	case '{':
	case '[':
		return container(s);
	case '"':
		return string(s, &esc);
	case 't':
		return word(s, "true", 4);
	case 'f':
		return word(s, "false", 5);
	case 'n':
		return word(s, "null", 4);
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return number(s);
		return fail(s, "invalid token");
	}
}

int
sess_json_scan(const char *p, size_t n, struct sess_buf *out,
    struct sess_jscan *info, struct sess_err *e)
{
	struct scan s;
	size_t start = out->len;
	int rc;

	memset(info, 0, sizeof(*info));
	s.p = s.start = (const unsigned char *)p;
	s.end = s.p + n;
	s.out = out;
	s.info = info;
	s.e = e;
	s.depth = 0;
	ws(&s);
	info->object = s.p < s.end && *s.p == '{';
	if ((rc = value(&s)) == 0) {
		ws(&s);
		if (s.p < s.end)
			rc = fail(&s, "end of input expected");
	}
	if (rc != 0) {
		out->len = start;
		if (out->p != NULL)
			out->p[start] = '\0';
		return rc;
	}
	info->at = start;
	info->len = out->len - start;
	return 0;
}
