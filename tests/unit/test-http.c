/* test-http.c: lib/http.c against RFC 9112's edge cases, cut any way. */
#include "sess.h"
#include "unit.h"

static char logbuf[SESS_HTTP_HEAD_MAX + 1024];

static void
say(const char *s, size_t n)
{
	size_t len = strlen(logbuf);

	if (n == 0)
		return;
	if (n > sizeof(logbuf) - 1 - len)
		n = sizeof(logbuf) - 1 - len;
	memcpy(logbuf + len, s, n);
	logbuf[len + n] = '\0';
}

static void
says(const char *s)
{
	say(s, strlen(s));
}

/*
 * Reads requests end to end from in[0..n) as sessd does, the input
 * arriving step bytes at a time (all at once for 0).  Returns a log:
 * "METHOD TARGET [BODY];" per request, then "STATUS: why" for the
 * error that ends it, or "more" if it waits for more input.
 */
static const char *
conn(const char *in, size_t n, size_t step)
{
	struct sess_http_req r;
	struct sess_http_chunked d;
	struct sess_err e;
	size_t pos = 0, avail = 0, used, len;
	const char *data;
	char num[32];
	int64_t left = 0;
	long hl;
	int state = 0, rc;

	logbuf[0] = '\0';
	sess_http_req_init(&r);
	if (step == 0)
		step = n > 0 ? n : 1;
	while (avail < n) {
		avail = n - avail < step ? n : avail + step;
		for (;;) {
			if (state == 0) {
				if ((hl = sess_http_head(&r, in + pos,
				    avail - pos, &e)) == 0)
					break;
				if (hl < 0) {
					snprintf(num, sizeof(num), "%d: ",
					    r.status);
					says(num);
					says(e.msg);
					goto out;
				}
				pos += (size_t)hl;
				says(r.method);
				says(" ");
				says(r.target);
				if (r.authority != NULL) {
					says(" @");
					says(r.authority);
				}
				if (r.close)
					says(" close");
				says(" [");
				if (r.chunked) {
					sess_http_chunked_init(&d);
					state = 2;
				} else if (r.clen > 0) {
					left = r.clen;
					state = 1;
				} else {
					says("];");
					sess_http_req_release(&r);
				}
			} else if (state == 1) {
				len = avail - pos;
				if ((int64_t)len > left)
					len = (size_t)left;
				say(in + pos, len);
				pos += len;
				if ((left -= (int64_t)len) > 0)
					break;
				says("];");
				state = 0;
				sess_http_req_release(&r);
			} else {
				rc = sess_http_chunked(&d, in + pos,
				    avail - pos, &used, &data, &len, &e);
				say(data, len);
				pos += used;
				if (rc < 0) {
					says("] 400: ");
					says(e.msg);
					goto out;
				}
				if (rc == 1) {
					says("];");
					state = 0;
					sess_http_req_release(&r);
				} else if (pos == avail) {
					break;
				}
			}
		}
	}
	says("more");
out:
	sess_http_req_release(&r);
	return logbuf;
}

/* The log of in, read all at once and a byte at a time, is want. */
static void
reads(const char *in, size_t n, const char *want, const char *why)
{
	char whole[sizeof(logbuf)];
	int pass;

	snprintf(whole, sizeof(whole), "%s", conn(in, n, 0));
	pass = strcmp(whole, want) == 0;
	ok(pass, "%s", why);
	if (!pass)
		printf("#   got  %s\n#   want %s\n", whole, want);
	ok(strcmp(conn(in, n, 1), whole) == 0, "%s, a byte at a time", why);
	ok(strcmp(conn(in, n, 7), whole) == 0, "%s, 7 bytes at a time", why);
}

#define READS(in, want, why) reads(in, sizeof(in) - 1, want, why)

#define POST "POST /s HTTP/1.1\r\nHost: h\r\n"
#define CHUNKED POST "Transfer-Encoding: chunked\r\n\r\n"
#define NEXT "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"

static void
chunk_sizes(void)
{
	READS(CHUNKED "5\r\nhello\r\n0\r\n\r\n" NEXT,
	    "POST /s [hello];GET /next [];more", "a chunked body");
	READS(CHUNKED "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
	    "POST /s [hello world];more", "two chunks");
	READS(CHUNKED "A\r\n0123456789\r\n00\r\n\r\n",
	    "POST /s [0123456789];more", "upper-case hex, 00 ends it");
	READS(CHUNKED "0000000000000000000003\r\nabc\r\n0\r\n\r\n",
	    "POST /s [abc];more", "leading zeros are no overflow");
	READS(CHUNKED "10000000000000000\r\nabc",
	    "POST /s [] 400: chunk size too large", "a size over 64 bits");
	READS(CHUNKED "1000000000000000\r\nabc",
	    "POST /s [] 400: chunk size too large", "a size of 2^60");
	READS(CHUNKED "-5\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected '-'",
	    "a negative size");
	READS(CHUNKED "+5\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected '+'",
	    "a size with a plus sign");
	READS(CHUNKED " 5\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected byte 0x20",
	    "white space before a size");
	READS(CHUNKED "5 junk\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected 'j'",
	    "junk after a size");
	READS(CHUNKED "5 \r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected byte 0x0d",
	    "white space, then no extension");
	READS(CHUNKED "0x\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected 'x'",
	    "0x");
	READS(CHUNKED "0x76\r\n\r\n" NEXT,
	    "POST /s [] 400: malformed chunk size line: unexpected 'x'",
	    "0x76 is not the last chunk, and what follows is not read");
	READS(CHUNKED "g\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected 'g'",
	    "bad hex");
	READS(CHUNKED "\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected byte 0x0d",
	    "an empty size line");
	READS(CHUNKED "5\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected byte 0x0a",
	    "a size line ended by a bare LF");
	READS(CHUNKED "5\rhello\r\n0\r\n\r\n",
	    "POST /s [] 400: chunk size line not ended by CRLF",
	    "a size line ended by a bare CR");
	READS(CHUNKED "5\r\nhelloX\r\n0\r\n\r\n",
	    "POST /s [hello] 400: chunk data not followed by CRLF",
	    "data longer than its size");
	READS(CHUNKED "5\r\nhello\n0\r\n\r\n",
	    "POST /s [hello] 400: chunk data not followed by CRLF",
	    "data followed by a bare LF");
	READS(CHUNKED "5\r\nhello",
	    "POST /s [hellomore", "a body cut short waits for more");
}

static void
extensions(void)
{
	READS(CHUNKED "5;a\r\nhello\r\n0;last\r\n\r\n",
	    "POST /s [hello];more", "an extension without a value");
	READS(CHUNKED "5;a=b;c=d\r\nhello\r\n0\r\n\r\n",
	    "POST /s [hello];more", "two token extensions");
	READS(CHUNKED "5 ; a = \"q \\\" ;x\"\r\nhello\r\n0\r\n\r\n",
	    "POST /s [hello];more", "BWS and a quoted value with a quote");
	READS(CHUNKED "5;\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected byte 0x0d",
	    "a ';' without a name");
	READS(CHUNKED "5;a=\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected byte 0x0d",
	    "an '=' without a value");
	READS(CHUNKED "5;a b\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected 'b'",
	    "two words for a name");
	READS(CHUNKED "5;a=\"open\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected byte 0x0d",
	    "a quoted value left open");
	READS(CHUNKED "5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected 'y'",
	    "junk after a quoted value");
	READS(CHUNKED "5;a=b\0\r\nhello\r\n0\r\n\r\n",
	    "POST /s [] 400: malformed chunk size line: unexpected byte 0x00",
	    "NUL in an extension");
}

static void
trailers(void)
{
	char big[6000 + sizeof(CHUNKED) + 16];
	int n;

	READS(CHUNKED "5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-B:\r\n\r\n" NEXT,
	    "POST /s [hello];GET /next [];more", "trailer fields");
	READS(CHUNKED "0\r\nnot a field\r\n\r\n" NEXT,
	    "POST /s [] 400: malformed chunked trailer field: unexpected "
	    "byte 0x20", "a trailer line without a colon");
	READS(CHUNKED "0\r\nX : 1\r\n\r\n",
	    "POST /s [] 400: malformed chunked trailer field: unexpected "
	    "byte 0x20", "white space before a trailer's colon");
	READS(CHUNKED "0\r\nX: 1\r\n 2\r\n\r\n",
	    "POST /s [] 400: malformed chunked trailer field: unexpected "
	    "byte 0x20", "obs-fold in the trailers");
	READS(CHUNKED "0\r\nX: 1\n\r\n",
	    "POST /s [] 400: malformed chunked trailer field: unexpected "
	    "byte 0x0a", "a trailer ended by a bare LF");
	READS(CHUNKED "0\r\n\n",
	    "POST /s [] 400: malformed chunked trailer field: unexpected "
	    "byte 0x0a", "the body ended by a bare LF");
	READS(CHUNKED "0\r\nX: a\001b\r\n\r\n",
	    "POST /s [] 400: malformed chunked trailer field: unexpected "
	    "byte 0x01", "a control byte in a trailer");
	n = snprintf(big, sizeof(big), "%s1;", CHUNKED);
	memset(big + n, 'a', 5000);
	memcpy(big + n + 5000, "\r\nx\r\n", 6);
	reads(big, strlen(big), "POST /s [] 400: chunk size line too long",
	    "a size line of 5000 bytes");
}

static void
heads(void)
{
	READS("GET /a?b=c HTTP/1.1\r\nHost: h\r\n\r\n", "GET /a?b=c [];more",
	    "a GET");
	READS("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET / [];more",
	    "empty lines before the request line");
	READS("GET / HTTP/1.1\nHost: h\n\n",
	    "400: LF without CR in the request head", "bare LF");
	READS("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
	    "400: CR without LF in the request head", "bare CR");
	READS("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
	    "400: obsolete line folding in the request head", "obs-fold");
	READS("GET / HTTP/1.1\r\n Host: h\r\n\r\n",
	    "400: obsolete line folding in the request head",
	    "white space before the first field");
	READS("GET / HTTP/1.1\r\nHost : h\r\n\r\n",
	    "400: malformed header field name", "white space before a colon");
	READS("GET / HTTP/1.1\r\nHost: h\r\nX: a\001\r\n\r\n",
	    "400: control byte in a header field", "a control byte in a field");
	READS("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n",
	    "400: NUL byte in the request head", "NUL in the target");
	READS("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n",
	    "400: control byte in the request target", "TAB in the target");
	READS("GET /a\177b HTTP/1.1\r\nHost: h\r\n\r\n",
	    "400: control byte in the request target", "DEL in the target");
	READS("GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
	    "400: malformed request line", "two spaces");
	READS("GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
	    "400: malformed HTTP version", "a space after the version");
	READS("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", "400: malformed method",
	    "a method that is not a token");
	READS("GET / HTTP/2.0\r\nHost: h\r\n\r\n",
	    "505: only HTTP/1.0 and HTTP/1.1 are served", "HTTP/2.0");
	READS("GET / HTTP/1.10\r\nHost: h\r\n\r\n",
	    "400: malformed HTTP version", "HTTP/1.10");
	READS("GET / HTTP/1.1\r\n\r\n", "400: no Host field",
	    "HTTP/1.1 without Host");
	READS("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	    "400: more than one Host field", "two Host fields");
	READS("GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n",
	    "417: only Expect: 100-continue is understood", "Expect: 200-ok");
	READS("GET / HTTP/1.1\r\nHost: h\r\nConnection: x, Close\r\n\r\n",
	    "GET / close [];more", "Connection: close");
}

static void
absolute(void)
{
	READS("GET http://example.com:8080/v1/s?o=1 HTTP/1.1\r\n"
	    "Host: other\r\n\r\n", "GET /v1/s?o=1 @example.com:8080 [];more",
	    "an absolute-form target: path, query and authority");
	READS("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n",
	    "GET / @h [];more", "an absolute-form target without a path");
	READS("GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
	    "GET /?x=1 @h [];more", "an absolute-form target, a query only");
	READS("GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n",
	    "400: request target has user info", "user info");
	READS("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n",
	    "400: request target has no host", "no host");
	READS("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n",
	    "400: request target is not a path or an http URI", "ftp");
	READS("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS * [];more",
	    "OPTIONS *");
	READS("GET * HTTP/1.1\r\nHost: h\r\n\r\n",
	    "400: only OPTIONS may ask for *", "GET *");
}

static void
framing(void)
{
	struct sess_http_req r;
	struct sess_err e;
	static const char two[] = POST "Content-Length: 3\r\n"
	    "Content-Length: 3\r\n\r\nabc";

	READS(POST "Content-Length: 5\r\n\r\nhello" NEXT,
	    "POST /s [hello];GET /next [];more", "a Content-Length body");
	READS(POST "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\n" NEXT,
	    "400: both Content-Length and Transfer-Encoding", "CL and TE");
	READS(POST "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n",
	    "400: both Content-Length and Transfer-Encoding", "TE and CL");
	READS(POST "Content-Length: 6\r\nContent-Length: 0\r\n\r\n" NEXT,
	    "400: differing Content-Lengths", "two differing Content-Lengths");
	READS(POST "Content-Length: 3, 4\r\n\r\nabc",
	    "400: differing Content-Lengths", "a list of differing lengths");
	READS(two, "POST /s [abc];more", "two equal Content-Lengths are one");
	READS(POST "Content-Length: 3 , 3\r\n\r\nabc", "POST /s [abc];more",
	    "a list of equal lengths is one");
	READS(POST "Content-Length: -1\r\n\r\n",
	    "400: malformed Content-Length", "a negative Content-Length");
	READS(POST "Content-Length: +1\r\n\r\nx",
	    "400: malformed Content-Length", "a Content-Length with a sign");
	READS(POST "Content-Length: 0x10\r\n\r\n",
	    "400: malformed Content-Length", "a hex Content-Length");
	READS(POST "Content-Length:\r\n\r\n",
	    "400: malformed Content-Length", "an empty Content-Length");
	READS(POST "Content-Length: 9999999999999999999\r\n\r\n",
	    "400: Content-Length too large", "19 digits");
	READS(POST "Transfer-Encoding: gzip, chunked\r\n\r\n",
	    "501: only chunked transfer coding is understood", "gzip first");
	READS(POST "Transfer-Encoding: chunked, gzip\r\n\r\n",
	    "400: chunked is not the last transfer coding", "chunked first");
	READS(POST "Transfer-Encoding: gzip\r\n\r\n",
	    "400: chunked is not the last transfer coding", "no chunked");
	READS(POST "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    "400: chunked is not the last transfer coding", "chunked twice");
	READS(POST "Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
	    "POST /s [];more", "CHUNKED in capitals");
	READS("POST /s HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\n", "400: Transfer-Encoding in HTTP/1.0",
	    "Transfer-Encoding in HTTP/1.0");
	sess_http_req_init(&r);
	ok(sess_http_head(&r, two, sizeof(two) - 1, &e) ==
	    (long)sizeof(two) - 4 && r.clen == 3,
	    "two equal Content-Lengths: the length is 3");
	sess_http_req_release(&r);
}

static void
keepalive(void)
{
	READS("GET /a HTTP/1.0\r\n\r\n", "GET /a close [];more",
	    "HTTP/1.0 closes");
	READS("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	    "GET /b HTTP/1.0\r\n\r\n", "GET /a [];GET /b close [];more",
	    "HTTP/1.0 with keep-alive stays open");
	READS("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "GET /a [];more",
	    "HTTP/1.1 stays open");
}

static void
pipelined(void)
{
	READS(NEXT POST "Content-Length: 2\r\n\r\nhi" CHUNKED "2\r\nyo\r\n0"
	    "\r\n\r\n" NEXT,
	    "GET /next [];POST /s [hi];POST /s [yo];GET /next [];more",
	    "good requests end to end");
	READS(NEXT CHUNKED "5 junk\r\nhello\r\n0\r\n\r\n" NEXT,
	    "GET /next [];POST /s [] 400: malformed chunk size line: "
	    "unexpected 'j'", "a bad request ends the connection");
	READS(NEXT "GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n" NEXT,
	    "GET /next [];400: LF without CR in the request head",
	    "a bad head after a good one");
}

static void
limits(void)
{
	static char big[SESS_HTTP_HEAD_MAX + 4096];
	struct sess_http_req r;
	struct sess_err e;
	int i, n;

	n = snprintf(big, sizeof(big), "GET /");
	memset(big + n, 'a', SESS_HTTP_TARGET_MAX + 100);
	reads(big, strlen(big), "414: request target too long",
	    "a target over the limit, its line not yet ended");
	snprintf(big + n + SESS_HTTP_TARGET_MAX, 64, " HTTP/1.1\r\n"
	    "Host: h\r\n\r\n");
	reads(big, strlen(big), "414: request target too long",
	    "a target one byte over the limit");
	snprintf(big + n + SESS_HTTP_TARGET_MAX - 1, 64, " HTTP/1.1\r\n"
	    "Host: h\r\n\r\n");
	conn(big, strlen(big), 0);
	ok(strncmp(logbuf, "GET /aaa", 8) == 0 && strlen(logbuf) ==
	    SESS_HTTP_TARGET_MAX + 12, "a target at the limit is read");
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\nX: ");
	memset(big + n, 'a', SESS_HTTP_HEAD_MAX);
	reads(big, strlen(big), "431: request headers too large",
	    "a head over the limit");
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 0; i < SESS_HTTP_FIELDS_MAX; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "X: %d\r\n", i);
	snprintf(big + n, sizeof(big) - (size_t)n, "\r\n");
	reads(big, strlen(big), "431: too many header fields",
	    "one field too many");
	sess_http_req_init(&r);
	ok(sess_http_head(&r, "GET / HTTP/1.1\r\nHost: h\r\n\r", 26, &e) == 0,
	    "a head without its last LF waits for more");
	sess_http_req_release(&r);
}

int
main(void)
{
	chunk_sizes();
	extensions();
	trailers();
	heads();
	absolute();
	framing();
	keepalive();
	pipelined();
	limits();
	return unit_done();
}
