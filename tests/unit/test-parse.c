/* test-parse.c: offsets, names, UTF-8, bounded buffers, line reading. */
#include <unistd.h>

#include "sess.h"
#include "unit.h"

static void
offsets(void)
{
	struct sess_err e;
	char buf[SESS_OFFSET_LEN + 1], prev[SESS_OFFSET_LEN + 1];
	int64_t seq, i;
	int kind;

	ok(sess_offset_parse("-1", &kind, &seq, &e) == 0 &&
	    kind == SESS_OFF_START && seq == 0, "-1 is the start");
	ok(sess_offset_parse("now", &kind, &seq, &e) == 0 &&
	    kind == SESS_OFF_NOW, "now is the tail");
	ok(sess_offset_parse("42", &kind, &seq, &e) == 0 &&
	    kind == SESS_OFF_SEQ && seq == 42, "a plain seq number");
	ok(sess_offset_parse("0000000000000042", &kind, &seq, &e) == 0 &&
	    seq == 42, "a full offset");
	ok(sess_offset_parse("", &kind, &seq, &e) == SESS_EINVAL,
	    "empty is refused");
	ok(sess_offset_parse("-2", &kind, &seq, &e) == SESS_EINVAL &&
	    strstr(e.msg, "negative") != NULL, "-2 is refused as negative");
	ok(sess_offset_parse("12a", &kind, &seq, &e) == SESS_EINVAL,
	    "garbage is refused");
	ok(sess_offset_parse(" 1", &kind, &seq, &e) == SESS_EINVAL,
	    "leading space is refused");
	ok(sess_offset_parse("99999999999999999", &kind, &seq, &e) ==
	    SESS_EINVAL, "17 digits are refused");
	ok(sess_offset_parse("9999999999999999", &kind, &seq, &e) == 0 &&
	    seq == SESS_SEQ_MAX, "16 nines are the largest offset");
	sess_offset_fmt(7, buf);
	ok(strcmp(buf, "0000000000000007") == 0, "offsets are zero-padded");
	ok(strlen(buf) == SESS_OFFSET_LEN, "offsets are fixed-width");
	/* Lexicographic order is numeric order, across digit counts. */
	sess_offset_fmt(0, prev);
	for (i = 1; i < 100000000000LL; i = i * 3 + 1) {
		sess_offset_fmt(i, buf);
		if (strcmp(prev, buf) >= 0)
			break;
		memcpy(prev, buf, sizeof(buf));
	}
	ok(i >= 100000000000LL, "offsets sort lexicographically");
	sess_offset_fmt(SESS_SEQ_MAX, buf);
	ok(sess_offset_parse(buf, &kind, &seq, &e) == 0 && seq ==
	    SESS_SEQ_MAX, "format and parse round-trip at the maximum");
}

static void
names(void)
{
	struct sess_err e;
	char big[SESS_NAME_MAX + 2];

	ok(sess_name_check("chat/alice/run-42", 17, &e) == 0,
	    "a path-like name");
	ok(sess_name_check("caf\xc3\xa9", 5, &e) == 0, "a UTF-8 name");
	ok(sess_name_check("", 0, &e) == SESS_EINVAL, "empty name refused");
	ok(sess_name_check("a/../b", 6, &e) == SESS_EINVAL, "'..' refused");
	ok(sess_name_check("..", 2, &e) == SESS_EINVAL, "bare '..' refused");
	ok(sess_name_check("a/./b", 5, &e) == SESS_EINVAL, "'.' refused");
	ok(sess_name_check("a..b", 4, &e) == 0, "'..' inside a segment is fine");
	ok(sess_name_check("/a", 2, &e) == SESS_EINVAL, "leading slash refused");
	ok(sess_name_check("a/", 2, &e) == SESS_EINVAL, "trailing slash refused");
	ok(sess_name_check("a//b", 4, &e) == SESS_EINVAL, "empty segment");
	ok(sess_name_check("a\tb", 3, &e) == SESS_EINVAL &&
	    strstr(e.msg, "control") != NULL, "control character refused");
	ok(sess_name_check("a\0b", 3, &e) == SESS_EINVAL, "NUL refused");
	ok(sess_name_check("a\x7f", 2, &e) == SESS_EINVAL, "DEL refused");
	ok(sess_name_check("\xff", 1, &e) == SESS_EINVAL, "bad UTF-8 refused");
	memset(big, 'x', sizeof(big));
	ok(sess_name_check(big, SESS_NAME_MAX, &e) == 0, "1024 bytes fit");
	ok(sess_name_check(big, SESS_NAME_MAX + 1, &e) == SESS_EINVAL,
	    "1025 bytes are refused");
}

static void
utf8(void)
{
	static const struct {
		const char *s;
		size_t prefix;
		long bad;
	} cases[] = {
		{ "abc", 3, -1 },
		{ "\xc3\xa9", 2, -1 },
		{ "a\xc3", 1, -1 },              /* incomplete: held back */
		{ "\xe2\x82", 0, -1 },
		{ "\xf0\x9f\x98\x80", 4, -1 },    /* emoji */
		{ "\xf0\x9f\x98", 0, -1 },
		{ "\xc0\xaf", 0, 0 },             /* overlong */
		{ "\xe0\x80\xaf", 0, 0 },         /* overlong */
		{ "\xed\xa0\x80", 0, 0 },         /* surrogate */
		{ "\xf4\x90\x80\x80", 0, 0 },     /* past U+10FFFF */
		{ "ab\xff", 2, 2 },
		{ "\xc3\x28", 0, 0 },
	};
	size_t i, n;
	long bad;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = sess_utf8_prefix((const unsigned char *)cases[i].s,
		    strlen(cases[i].s), &bad);
		ok(n == cases[i].prefix && bad == cases[i].bad,
		    "utf8 case %zu: prefix %zu bad %ld", i, n, bad);
	}
}

static void
buffers(void)
{
	struct sess_buf b;
	char chunk[100];

	memset(chunk, 'a', sizeof(chunk));
	sess_buf_init(&b, 250);
	ok(sess_buf_add(&b, chunk, 100) == 0, "add within cap");
	ok(sess_buf_add(&b, chunk, 100) == 0, "add up to 200");
	ok(sess_buf_add(&b, chunk, 100) == SESS_EINVAL, "add past cap refused");
	ok(b.len == 200, "a refused add changes nothing");
	ok(sess_buf_add(&b, chunk, 50) == 0 && b.len == 250,
	    "exactly the cap fits");
	ok(b.p[b.len] == '\0', "buffer stays NUL-terminated");
	sess_buf_consume(&b, 240);
	ok(b.len == 10 && b.p[0] == 'a', "consume moves the rest down");
	ok(sess_buf_add(&b, chunk, (size_t)-1) == SESS_EINVAL,
	    "a huge add is refused without overflow");
	sess_buf_release(&b);
}

static void
lines(void)
{
	struct sess_lines *lr;
	struct sess_err e;
	const char *line;
	size_t len;
	long lineno;
	int fds[2];

	if (pipe(fds) != 0)
		exit(111);
	lr = sess_lines_new(fds[0], 8);
	ok(write(fds[1], "abc\ndefg", 8) == 8, "write input");
	ok(sess_lines_fill(lr, 1) == 8, "fill reads what is there");
	ok(sess_lines_next(lr, &line, &len, &lineno, &e) == 1 && len == 3 &&
	    memcmp(line, "abc", 3) == 0 && lineno == 1, "first line");
	ok(sess_lines_next(lr, &line, &len, &lineno, &e) == 0,
	    "an unterminated line waits");
	ok(sess_lines_fill(lr, 0) < 0, "non-blocking fill with no data");
	ok(write(fds[1], "h\n123456789\n", 12) == 12, "write more");
	sess_lines_fill(lr, 1);
	ok(sess_lines_next(lr, &line, &len, &lineno, &e) == 1 && len == 5 &&
	    memcmp(line, "defgh", 5) == 0 && lineno == 2,
	    "a line completed by a later read");
	ok(sess_lines_next(lr, &line, &len, &lineno, &e) == SESS_EINVAL &&
	    lineno == 3 && strstr(e.msg, "longer than 8") != NULL,
	    "a line over the cap is an error with its number");
	sess_lines_free(lr);
	close(fds[0]);
	close(fds[1]);

	if (pipe(fds) != 0)
		exit(111);
	lr = sess_lines_new(fds[0], 8);
	ok(write(fds[1], "12345678\nxy", 11) == 11, "write a line at the cap");
	close(fds[1]);
	while (sess_lines_fill(lr, 1) > 0)
		;
	ok(sess_lines_next(lr, &line, &len, &lineno, &e) == 1 && len == 8,
	    "a line exactly at the cap is fine");
	ok(sess_lines_next(lr, &line, &len, &lineno, &e) == 1 && len == 2 &&
	    memcmp(line, "xy", 2) == 0, "a final line without newline");
	ok(sess_lines_done(lr), "done after the last line");
	sess_lines_free(lr);
	close(fds[0]);
}

static void
json(void)
{
	struct sess_err e;
	json_t *v;

	v = sess_json_parse("{\"a\":1}", 7, &e);
	ok(json_is_object(v), "an object parses");
	json_decref(v);
	v = sess_json_parse("42", 2, &e);
	ok(json_is_integer(v), "a bare number parses");
	json_decref(v);
	ok(sess_json_parse("{\"a\":1} 2", 9, &e) == NULL, "two values refused");
	ok(sess_json_parse("", 0, &e) == NULL, "empty text refused");
	ok(sess_json_parse("\"a\0\"", 4, &e) == NULL &&
	    strstr(e.msg, "NUL") != NULL, "NUL refused");
	ok(sess_json_parse("\"\xff\"", 3, &e) == NULL, "invalid UTF-8 refused");
	ok(sess_json_parse("{bad", 4, &e) == NULL &&
	    strstr(e.msg, "column") != NULL, "error names the column");
}

static void
scan(void)
{
	static const struct {
		const char *in, *out;
		int complex, has_type;
	} good[] = {
		{ " { \"a\" : [ 1 , 2.5e3 ] , \"b\":null } ", "{\"a\":[1,2.5e3],\"b\":null}", 0, 0 },
		{ "{\"type\":\"token\",\"i\":1}", "{\"type\":\"token\",\"i\":1}", 0, 1 },
		{ "{\"type\":\"t\\u00e9\"}", "{\"type\":\"t\\u00e9\"}", 1, 1 },
		{ "{\"type\":5}", "{\"type\":5}", 1, 0 },
		{ "{\"msg\":\"m\",\"op\":\"create\"}", "{\"msg\":\"m\",\"op\":\"create\"}", 1, 0 },
		{ "{\"a\":{\"msg\":1}}", "{\"a\":{\"msg\":1}}", 0, 0 },
		{ "\"caf\xc3\xa9 \\ud83d\\ude00\"", "\"caf\xc3\xa9 \\ud83d\\ude00\"", 0, 0 },
		{ "-0.5E-3", "-0.5E-3", 0, 0 },
		{ "9223372036854775807", "9223372036854775807", 0, 0 },
		{ "-9223372036854775808", "-9223372036854775808", 0, 0 },
		{ "[[],{}]", "[[],{}]", 0, 0 },
	};
	static const char *const bad[] = {
		"", " ", "{", "[1,]", "{\"a\"}", "01", "1.", ".5", "-", "+1",
		"9223372036854775808", "1e400", "\"\\u0000\"", "\"\\ud800\"",
		"\"\\udc00\"", "\"\\x\"", "\"a\tb\"", "\"\xff\"", "tru", "nul",
		"1 2", "{\"a\":1,}", "\"unterminated",
	};
	struct sess_buf out;
	struct sess_jscan js;
	struct sess_err e;
	size_t i;
	int rc;

	sess_buf_init(&out, 1 << 20);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		out.len = 0;
		rc = sess_json_scan(good[i].in, strlen(good[i].in), &out, &js,
		    &e);
		ok(rc == 0 && js.len == strlen(good[i].out) &&
		    memcmp(out.p + js.at, good[i].out, js.len) == 0 &&
		    js.complex == good[i].complex &&
		    js.has_type == good[i].has_type,
		    "scan accepts and compacts case %zu", i);
	}
	out.len = 0;
	sess_json_scan("{\"type\":\"token\"}", 16, &out, &js, &e);
	ok(js.type_len == 5 && memcmp(out.p + js.type_at, "token", 5) == 0,
	    "scan finds the type");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out.len = 7;
		rc = sess_json_scan(bad[i], strlen(bad[i]), &out, &js, &e);
		ok(rc == SESS_EINVAL && out.len == 7 &&
		    strncmp(e.msg, "column ", 7) == 0,
		    "scan refuses case %zu (%s)", i, e.msg);
	}
	{
		char deep[4200];

		memset(deep, '[', 2048);
		memset(deep + 2048, ']', 2048);
		out.len = 0;
		ok(sess_json_scan(deep, 4096, &out, &js, &e) == 0,
		    "2048 levels of nesting are fine");
		memset(deep, '[', 2049);
		memset(deep + 2049, ']', 2049);
		ok(sess_json_scan(deep, 4098, &out, &js, &e) == SESS_EINVAL,
		    "2049 levels are refused");
	}
	sess_buf_release(&out);
}

static void
wsframes(void)
{
	struct sess_wsframe f;
	struct sess_err e;
	unsigned char h[10], buf[32];
	int code;

	memcpy(buf, "\x81\x85\x01\x02\x03\x04iiiii", 11);
	ok(sess_wsframe_parse(buf, 11, 1 << 20, &f, &e) == 1 && f.fin &&
	    f.op == 1 && f.len == 5 && f.head == 6, "a masked text frame");
	sess_wsframe_unmask(buf + 6, 5, f.mask);
	ok(memcmp(buf + 6, "hkjmh", 5) == 0, "unmasked payload");
	ok(sess_wsframe_parse(buf, 1, 1 << 20, &f, &e) == 0 &&
	    sess_wsframe_parse(buf, 5, 1 << 20, &f, &e) == 0,
	    "a partial head needs more");
	ok(sess_wsframe_parse((const unsigned char *)"\x81\x05hello", 7,
	    1 << 20, &f, &e) == SESS_EINVAL && f.close == 1002,
	    "unmasked: 1002 (%s)", e.msg);
	ok(sess_wsframe_parse((const unsigned char *)"\xc1\x80\0\0\0\0",
	    6, 1 << 20, &f, &e) == SESS_EINVAL && f.close == 1002,
	    "RSV bits: 1002");
	ok(sess_wsframe_parse((const unsigned char *)
	    "\x81\xff\0\0\0\0\0\x20\0\0\0\0\0\0", 14, 1 << 20, &f,
	    &e) == SESS_EINVAL && f.close == 1009, "2 MiB: 1009 (%s)",
	    e.msg);
	ok(sess_wsframe_parse((const unsigned char *)"\x89\xfe\0\x80", 4,
	    1 << 20, &f, &e) == SESS_EINVAL && f.close == 1002,
	    "a long ping: 1002");
	ok(sess_wsframe_parse((const unsigned char *)"\x83\x80\0\0\0\0", 6,
	    1 << 20, &f, &e) == SESS_EINVAL, "a reserved opcode");
	ok(sess_wsframe_parse((const unsigned char *)"\x81\xfe\0\x05", 4,
	    1 << 20, &f, &e) == SESS_EINVAL, "a length not in short form");
	ok(sess_wsframe_head(h, 1, 5) == 2 && h[0] == 0x81 && h[1] == 5 &&
	    sess_wsframe_head(h, 1, 300) == 4 && h[1] == 126 &&
	    sess_wsframe_head(h, 2, 70000) == 10 && h[1] == 127 &&
	    h[7] == 1, "server heads in shortest form");
	ok(sess_wsframe_close((const unsigned char *)"\x03\xe8" "bye", 5, &code,
	    &e) == 0 && code == 1000, "close 1000 with a reason");
	ok(sess_wsframe_close((const unsigned char *)"", 0, &code, &e) == 0 &&
	    code == 1005, "close without a code");
	ok(sess_wsframe_close((const unsigned char *)"\x03\xed", 2, &code,
	    &e) != 0, "close 1005 may not be sent");
	ok(sess_wsframe_close((const unsigned char *)"\x03\xe8\xff", 3,
	    &code, &e) != 0, "close reason not UTF-8");
}

static void
base64s(void)
{
	static const struct { const char *in, *std, *url; } v[] = {
		{ "", "", "" }, { "f", "Zg==", "Zg" }, { "fo", "Zm8=", "Zm8" },
		{ "foo", "Zm9v", "Zm9v" }, { "foob", "Zm9vYg==", "Zm9vYg" },
		{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
		{ "\xfb\xff", "+/8=", "-_8" },
	};
	struct sess_buf b;
	size_t i;
	int url;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		for (url = 0; url < 2; url++) {
			sess_buf_init(&b, 64);
			ok(sess_base64(&b, v[i].in, strlen(v[i].in), url) ==
			    0 && strcmp(b.p ? b.p : "", url ? v[i].url :
			    v[i].std) == 0, "base64%s: %s",
			    url ? "url" : "", v[i].std);
			sess_buf_release(&b);
		}
	sess_buf_init(&b, 3);
	ok(sess_base64(&b, "foobar", 6, 0) == SESS_ENOMEM,
	    "base64 past the buffer's cap");
	sess_buf_release(&b);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		unsigned char raw[16];
		char *s = sess_b64url_encode((const unsigned char *)v[i].in,
		    strlen(v[i].in));
		long n;

		ok(s != NULL && strcmp(s, v[i].url) == 0,
		    "b64url_encode: %s", v[i].url);
		free(s);
		for (url = 0; url < 2; url++) {
			n = sess_b64url_decode_n(v[i].url, strlen(v[i].url),
			    raw, sizeof(raw), url);
			ok(n == (long)strlen(v[i].in) && memcmp(raw, v[i].in,
			    (size_t)n) == 0, "b64url_decode%s: %s",
			    url ? " strict" : "", v[i].url);
		}
	}
	{
		unsigned char raw[8];

		ok(sess_b64url_decode("Zm8=", raw, sizeof(raw)) == 2,
		    "b64url_decode: trailing padding tolerated");
		ok(sess_b64url_decode_n("Zm8=", 4, raw, sizeof(raw), 1) == -1,
		    "b64url_decode strict: padding refused");
		ok(sess_b64url_decode("Zm9", raw, sizeof(raw)) == -1,
		    "b64url_decode: leftover bits must be zero");
		ok(sess_b64url_decode("Zm+v", raw, sizeof(raw)) == -1,
		    "b64url_decode: '+' is not base64url");
		ok(sess_b64url_decode("Zm9vY", raw, sizeof(raw)) == -1,
		    "b64url_decode: one character too many");
		ok(sess_b64url_decode("Zm9vYmFy", raw, 5) == -1,
		    "b64url_decode: longer than out");
		ok(sess_b64url_decode("Zm=8", raw, sizeof(raw)) == -1,
		    "b64url_decode: padding inside");
	}
}

/* sess_event_own() on a parsed value and on scanned text alike. */
static int
own_text(const char *text)
{
	struct sess_buf b;
	struct sess_jscan js;
	struct sess_err e;
	int rc;

	sess_buf_init(&b, 1 << 16);
	rc = sess_json_scan(text, strlen(text), &b, &js, &e);
	if (rc == 0)
		rc = sess_event_own(NULL, b.p + js.at, js.len, js.has_type ?
		    b.p + js.type_at : NULL, js.type_len, &e);
	sess_buf_release(&b);
	return rc;
}

static int
own_value(const char *text)
{
	struct sess_err e;
	json_t *v = sess_json_parse(text, strlen(text), &e);
	int rc = sess_event_own(v, NULL, 0, NULL, 0, &e);

	json_decref(v);
	return rc;
}

static void
owned(void)
{
	static const char *const mine[] = {
		"{\"type\":\"superseded\",\"msgs\":[\"m\"]}",
		"{\"type\":\"notify.sent\",\"member\":\"bob\"}",
		"{\"type\":\"notify.failed\"}",
		"{\"type\":\"notify.skipped\"}",
		"{\"type\":\"run.end\",\"run\":\"r\",\"reason\":\"abandoned\"}",
	};
	static const char *const theirs[] = {
		"{\"type\":\"token\"}", "{\"type\":\"run.end\",\"run\":\"r\"}",
		"{\"type\":\"run.end\",\"reason\":\"done\"}",
		"{\"type\":\"notify\"}", "{\"type\":\"supersede\"}",
		"{\"reason\":\"abandoned\"}", "\"superseded\"",
		"[{\"type\":\"superseded\"}]", "{\"notify\":{\"to\":[\"b\"]}}",
	};
	struct sess_err e;
	size_t i;

	for (i = 0; i < sizeof(mine) / sizeof(mine[0]); i++) {
		ok(own_text(mine[i]) == SESS_EOWN, "store's own (text): %s",
		    mine[i]);
		ok(own_value(mine[i]) == SESS_EOWN, "store's own (value): %s",
		    mine[i]);
	}
	for (i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++) {
		ok(own_text(theirs[i]) == 0, "a writer's (text): %s",
		    theirs[i]);
		ok(own_value(theirs[i]) == 0, "a writer's (value): %s",
		    theirs[i]);
	}
	ok(own_value("{\"type\":\"supersede\\u0064\"}") == SESS_EOWN,
	    "an escaped type is the same type");
	ok(sess_event_own(NULL, NULL, 0, "superseded", 10, &e) == SESS_EOWN &&
	    strcmp(e.msg, "type \"superseded\" is the store's own: writers "
	    "cannot append it") == 0, "the message names the type: %s",
	    e.msg);
}

int
main(void)
{
	base64s();
	wsframes();
	offsets();
	names();
	utf8();
	buffers();
	lines();
	json();
	scan();
	owned();
	return unit_done();
}
