/* test-token.c: HS256 tokens, key files and stream patterns. */
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sess.h"
#include "unit.h"

#define NOW 1800000000LL

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[32] = "fedcba9876543210fedcba9876543210";

/* Base64url of p[0..n), unpadded, into out (a static buffer). */
static void
b64(const void *p, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_";
	const unsigned char *s = p;
	size_t i, k = 0;
	unsigned v;

	for (i = 0; i < n; i += 3) {
		v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 :
		    0) | (i + 2 < n ? s[i + 2] : 0);
		out[k++] = a[v >> 18 & 63];
		out[k++] = a[v >> 12 & 63];
		if (i + 1 < n)
			out[k++] = a[v >> 6 & 63];
		if (i + 2 < n)
			out[k++] = a[v & 63];
	}
	out[k] = '\0';
}

/* A token of any header and claims, signed with k (NULL: no signature). */
static char *
craft(const char *header, const char *claims, const unsigned char *k)
{
	static char tok[16384];
	unsigned char sig[32];
	unsigned int len;
	size_t n;

	b64(header, strlen(header), tok);
	n = strlen(tok);
	tok[n++] = '.';
	b64(claims, strlen(claims), tok + n);
	n = strlen(tok);
	if (k != NULL) {
		HMAC(EVP_sha256(), k, 32, (unsigned char *)tok, n, sig, &len);
		tok[n++] = '.';
		b64(sig, 32, tok + n);
	} else {
		tok[n++] = '.';
		tok[n] = '\0';
	}
	return tok;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GRANT "\"streams\":[{\"pattern\":\"chat/alice/*\",\"caps\":[\"read\"]}]"

static struct sess_token *
verify(const char *tok, struct sess_err *e)
{
	return sess_token_verify(tok, strlen(tok), key, sizeof(key), NOW, e);
}

/* Verification fails with a message containing want. */
static int
refused(const char *tok, const char *want)
{
	struct sess_err e;
	struct sess_token *t = verify(tok, &e);

	if (t != NULL) {
		sess_token_free(t);
		return 0;
	}
	if (e.code != SESS_EINVAL || strstr(e.msg, want) == NULL) {
		printf("# got '%s', want '%s'\n", e.msg, want);
		return 0;
	}
	return 1;
}

static void
patterns(void)
{
	static const struct {
		const char *pat, *name;
		int want;
	} m[] = {
		{ "chat/alice/1", "chat/alice/1", 1 },
		{ "chat/alice/1", "chat/alice/12", 0 },
		{ "chat/alice/1", "chat/alice", 0 },
		{ "chat/alice/*", "chat/alice/1", 1 },
		{ "chat/alice/*", "chat/bob/1", 0 },
		{ "chat/alice/*", "chat/alice/1/x", 0 },
		{ "chat/alice/*", "chat/alice", 0 },
		{ "chat/*/1", "chat/bob/1", 1 },
		{ "chat/*/1", "chat/bob/2", 0 },
		{ "chat/run-*", "chat/run-42", 1 },
		{ "chat/run-*", "chat/run-", 1 },
		{ "chat/run-*", "chat/walk-42", 0 },
		{ "chat/*-end", "chat/a-b-end", 1 },
		{ "chat/a*b*c", "chat/aXbYbZc", 1 },
		{ "chat/a*b*c", "chat/aXbYbZ", 0 },
		{ "chat/**", "chat/alice/1", 1 },
		{ "chat/**", "chat/a", 1 },
		{ "chat/**", "chat", 1 },
		{ "chat/**", "chatter/a", 0 },
		{ "**", "anything/at/all", 1 },
		{ "**", "x", 1 },
		{ "**/1", "chat/alice/1", 1 },
		{ "**/1", "1", 1 },
		{ "**/1", "chat/alice/2", 0 },
		{ "chat/**/log", "chat/log", 1 },
		{ "chat/**/log", "chat/a/b/c/log", 1 },
		{ "chat/**/log", "chat/a/b/c/log/x", 0 },
		{ "a/**/b/**/c", "a/x/b/y/b/z/c", 1 },
		{ "a/**/b/**/c", "a/x/c/y/b", 0 },
		{ "a/**/*/c", "a/c", 0 },
		{ "a/**/*/c", "a/x/y/c", 1 },
		{ "*", "a", 1 },
		{ "*", "a/b", 0 },
		{ "caf\xc3\xa9/*", "caf\xc3\xa9/1", 1 },
	};
	struct sess_err e;
	size_t i;
	char big[2048];

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		ok(sess_pattern_match(m[i].pat, m[i].name) == m[i].want,
		    "'%s' %s '%s'", m[i].pat, m[i].want ? "matches" :
		    "does not match", m[i].name);
	ok(sess_pattern_check("chat/**/x", &e) == 0, "** as a segment");
	ok(sess_pattern_check("chat/a**", &e) == SESS_EINVAL &&
	    strstr(e.msg, "whole segment") != NULL,
	    "** inside a segment is refused");
	ok(sess_pattern_check("***", &e) == SESS_EINVAL, "*** is refused");
	ok(sess_pattern_check("chat//x", &e) == SESS_EINVAL &&
	    strstr(e.msg, "empty segment") != NULL,
	    "an empty segment is refused");
	ok(sess_pattern_check("chat/../x", &e) == SESS_EINVAL,
	    "a .. segment is refused");
	ok(sess_pattern_check("", &e) == SESS_EINVAL, "empty is refused");
	/*
	 * Many globstars over a long name stay linear-ish: this returns
	 * at once rather than exploring every split.
	 */
	for (i = 0; i + 2 < sizeof(big) / 2; i += 2)
		memcpy(big + i, "a/", 2);
	big[i] = 'b';
	big[i + 1] = '\0';
	ok(sess_pattern_match("**/**/**/**/**/**/**/**/c", big) == 0,
	    "many ** against a long name");
	ok(sess_pattern_match("**/**/**/**/**/**/**/**/b", big) == 1,
	    "many ** against a long name that matches");
}

static void
caps(void)
{
	ok(sess_cap_parse("read") == SESS_CAP_READ, "read");
	ok(sess_cap_parse("write") == SESS_CAP_WRITE, "write");
	ok(sess_cap_parse("presence") == SESS_CAP_PRESENCE, "presence");
	ok(sess_cap_parse("admin") == SESS_CAP_ADMIN, "admin");
	ok(sess_cap_parse("Read") == 0 && sess_cap_parse("") == 0,
	    "capability names are exact");
	ok(strcmp(sess_cap_name(SESS_CAP_ADMIN), "admin") == 0 &&
	    sess_cap_name(3) == NULL, "names of single capabilities");
}

static void
roundtrip(void)
{
	struct sess_grant g[] = {
		{ "chat/alice/*", SESS_CAP_READ | SESS_CAP_WRITE },
		{ "chat/**", SESS_CAP_PRESENCE },
		{ "admin/x", SESS_CAP_ADMIN },
	};
	struct sess_err e;
	struct sess_token *t;
	char *tok, *claims;

	ok(sess_token_sign(key, sizeof(key), "alice", NOW, NOW + 3600, g, 3,
	    &tok, &e) == 0, "sign");
	ok(strncmp(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0,
	    "the header is HS256 JWT");
	t = verify(tok, &e);
	ok(t != NULL, "verify what was signed");
	if (t == NULL) {
		printf("# %s\n", e.msg);
		free(tok);
		return;
	}
	ok(strcmp(sess_token_subject(t), "alice") == 0, "subject");
	ok(sess_token_expires(t) == NOW + 3600, "expiry");
	claims = json_dumps(sess_token_claims(t), JSON_COMPACT);
	ok(strcmp(claims, "{\"sub\":\"alice\",\"iat\":1800000000,\"exp\":"
	    "1800003600,\"streams\":[{\"pattern\":\"chat/alice/*\",\"caps\":"
	    "[\"read\",\"write\"]},{\"pattern\":\"chat/**\",\"caps\":"
	    "[\"presence\"]},{\"pattern\":\"admin/x\",\"caps\":[\"admin\"]}]}")
	    == 0, "claims: %s", claims);
	free(claims);
	ok(sess_token_allows(t, "chat/alice/1", SESS_CAP_READ), "read own");
	ok(sess_token_allows(t, "chat/alice/1", SESS_CAP_WRITE), "write own");
	ok(sess_token_allows(t, "chat/alice/1", SESS_CAP_READ |
	    SESS_CAP_PRESENCE), "read and presence from two grants");
	ok(!sess_token_allows(t, "chat/bob/1", SESS_CAP_READ),
	    "no read on another's");
	ok(sess_token_allows(t, "chat/bob/1", SESS_CAP_PRESENCE),
	    "presence on another's");
	ok(!sess_token_allows(t, "chat/alice/1", SESS_CAP_ADMIN),
	    "no admin where not given");
	ok(sess_token_allows(t, "admin/x", SESS_CAP_ADMIN) &&
	    !sess_token_allows(t, "admin/x", SESS_CAP_READ),
	    "admin does not imply read");
	ok(sess_token_allows(t, "anything", 0), "no capability: any token");
	ok(!sess_token_allows(t, "chat//x", SESS_CAP_PRESENCE),
	    "a bad stream name is never allowed");
	ok(!sess_token_allows(NULL, "chat/alice/1", SESS_CAP_READ),
	    "no token allows nothing");
	sess_token_free(t);

	t = sess_token_verify(tok, strlen(tok), other, sizeof(other), NOW, &e);
	ok(t == NULL && strstr(e.msg, "signature does not match") != NULL,
	    "another key: refused");
	t = sess_token_verify(tok, strlen(tok), key, sizeof(key), NOW + 3600 +
	    SESS_TOKEN_LEEWAY - 1, &e);
	ok(t != NULL, "just expired, within the leeway: accepted");
	sess_token_free(t);
	t = sess_token_verify(tok, strlen(tok), key, sizeof(key), NOW + 3600 +
	    SESS_TOKEN_LEEWAY, &e);
	ok(t == NULL && strstr(e.msg, "token expired") != NULL,
	    "past the leeway: expired");
	t = sess_token_verify(tok, strlen(tok), key, sizeof(key), NOW -
	    SESS_TOKEN_LEEWAY - 1, &e);
	ok(t == NULL && strstr(e.msg, "future") != NULL,
	    "issued in the future: refused");
	/* Every single-character change of the signature is caught. */
	{
		size_t n = strlen(tok), i, caught = 0, tried = 0;
		char c;

		for (i = n - 43; i < n; i++) {
			c = tok[i];
			tok[i] = c == 'A' ? 'B' : 'A';
			t = verify(tok, &e);
			tried++;
			caught += t == NULL;
			sess_token_free(t);
			tok[i] = c;
		}
		ok(caught == tried, "forged signatures refused (%zu of %zu)",
		    caught, tried);
	}
	free(tok);

	ok(sess_token_sign(key, sizeof(key), "", NOW, NOW + 1, g, 1, &tok,
	    &e) == SESS_EINVAL, "an empty subject is not signed");
	ok(sess_token_sign(key, sizeof(key), "a", NOW, NOW, g, 1, &tok,
	    &e) == SESS_EINVAL, "an expiry at issue is not signed");
	ok(sess_token_sign(key, 16, "a", NOW, NOW + 1, g, 1, &tok,
	    &e) == SESS_EINVAL, "a short key does not sign");
	g[0].pattern = "a**";
	ok(sess_token_sign(key, sizeof(key), "a", NOW, NOW + 1, g, 1, &tok,
	    &e) == SESS_EINVAL, "a bad pattern is not signed");
	g[0].pattern = "a";
	g[0].caps = 0;
	ok(sess_token_sign(key, sizeof(key), "a", NOW, NOW + 1, g, 1, &tok,
	    &e) == SESS_EINVAL, "a pattern without capability is not signed");
	ok(sess_token_sign(key, sizeof(key), "a", NOW, NOW + 1, NULL, 0, &tok,
	    &e) == 0, "a token without streams");
	free(tok);
}

static void
bad_tokens(void)
{
	const char *full = "{\"sub\":\"alice\",\"exp\":1800003600," GRANT "}";
	struct sess_token *t;
	struct sess_err e;
	char buf[16384], *tok;

	t = verify(craft(HS256, full, key), &e);
	ok(t != NULL, "a crafted token verifies");
	sess_token_free(t);
	t = verify(craft("{\"alg\":\"HS256\"}", full, key), &e);
	ok(t != NULL, "typ is optional");
	sess_token_free(t);

	ok(refused(craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", full, NULL),
	    "alg 'none' is not HS256"), "alg none refused");
	ok(refused(craft("{\"alg\":\"none\"}", full, key),
	    "alg 'none' is not HS256"), "alg none with a signature refused");
	ok(refused(craft("{\"alg\":\"HS512\"}", full, key),
	    "alg 'HS512' is not HS256"), "HS512 refused");
	ok(refused(craft("{\"alg\":\"RS256\"}", full, key),
	    "is not HS256"), "RS256 refused");
	ok(refused(craft("{\"alg\":\"hs256\"}", full, key),
	    "is not HS256"), "alg is case-sensitive");
	ok(refused(craft("{\"typ\":\"JWT\"}", full, key), "no alg"),
	    "no alg refused");
	ok(refused(craft("{\"alg\":1}", full, key), "no alg"),
	    "alg not a string refused");
	ok(refused(craft("{\"alg\":\"HS256\",\"typ\":\"JWS\"}", full, key),
	    "typ"), "another typ refused");
	ok(refused(craft("{\"alg\":\"HS256\",\"crit\":[\"x\"]}", full, key),
	    "crit"), "crit refused");
	ok(refused(craft("{\"alg\":\"HS256\",\"alg\":\"none\"}", full, key),
	    "not JSON"), "duplicate header keys refused");
	ok(refused(craft("[1]", full, key), "not a JSON object"),
	    "a header array refused");
	ok(refused(craft("{\"alg\":", full, key), "header is not JSON"),
	    "a broken header refused");

	ok(refused(craft(HS256, "{\"sub\":", key), "claims is not JSON"),
	    "broken claims JSON refused");
	ok(refused(craft(HS256, "\"x\"", key), "not a JSON object"),
	    "claims not an object refused");
	ok(refused(craft(HS256, "{\"sub\":\"alice\"," GRANT "}", key),
	    "no exp"), "missing exp refused");
	ok(refused(craft(HS256, "{\"sub\":\"alice\",\"exp\":1.8e9," GRANT "}",
	    key), "exp is not"), "a real exp refused");
	ok(refused(craft(HS256, "{\"sub\":\"alice\",\"exp\":\"1800003600\","
	    GRANT "}", key), "exp is not"), "a string exp refused");
	ok(refused(craft(HS256, "{\"sub\":\"alice\",\"exp\":-1," GRANT "}",
	    key), "exp is not"), "a negative exp refused");
	ok(refused(craft(HS256, "{\"sub\":\"alice\",\"exp\":1799990000,"
	    GRANT "}", key), "token expired (exp 1799990000)"),
	    "an expired token refused");
	ok(refused(craft(HS256, "{\"sub\":\"alice\",\"exp\":"
	    "9223372036854775807," GRANT "}", key) , "") == 0,
	    "the largest exp is fine");
	ok(refused(craft(HS256, "{\"sub\":\"alice\",\"exp\":1800003600,"
	    "\"nbf\":1800001000," GRANT "}", key), "not valid before"),
	    "nbf in the future refused");
	ok(refused(craft(HS256, "{\"exp\":1800003600," GRANT "}", key),
	    "no sub"), "missing sub refused");
	ok(refused(craft(HS256, "{\"sub\":7,\"exp\":1800003600," GRANT "}",
	    key), "no sub"), "a number sub refused");
	ok(refused(craft(HS256, "{\"sub\":\"\",\"exp\":1800003600," GRANT "}",
	    key), "subject must be"), "an empty sub refused");
	ok(refused(craft(HS256, "{\"sub\":\"a\\nb\",\"exp\":1800003600,"
	    GRANT "}", key), "control character"), "a sub with a newline");
	ok(refused(craft(HS256, "{\"sub\":\"a\\u0000b\",\"exp\":1800003600,"
	    GRANT "}", key), "not JSON"), "a sub with a NUL");
	ok(refused(craft(HS256, "{\"sub\":\"a\",\"exp\":1800003600}", key),
	    "no streams"), "missing streams refused");
	ok(refused(craft(HS256, "{\"sub\":\"a\",\"exp\":1800003600,"
	    "\"streams\":{}}", key), "not an array"), "streams an object");
	ok(refused(craft(HS256, "{\"sub\":\"a\",\"exp\":1800003600,"
	    "\"streams\":[\"chat/**\"]}", key), "not an object"),
	    "a grant that is a string");
	ok(refused(craft(HS256, "{\"sub\":\"a\",\"exp\":1800003600,"
	    "\"streams\":[{\"caps\":[\"read\"]}]}", key), "no pattern"),
	    "a grant without pattern");
	ok(refused(craft(HS256, "{\"sub\":\"a\",\"exp\":1800003600,"
	    "\"streams\":[{\"pattern\":\"a**\",\"caps\":[\"read\"]}]}", key),
	    "whole segment"), "a grant with a bad pattern");
	ok(refused(craft(HS256, "{\"sub\":\"a\",\"exp\":1800003600,"
	    "\"streams\":[{\"pattern\":\"a\",\"caps\":[]}]}", key),
	    "non-empty array"), "a grant without caps");
	ok(refused(craft(HS256, "{\"sub\":\"a\",\"exp\":1800003600,"
	    "\"streams\":[{\"pattern\":\"a\",\"caps\":[\"root\"]}]}", key),
	    "unknown capability"), "an unknown capability");
	ok(refused(craft(HS256, "{\"sub\":\"a\",\"exp\":1800003600,"
	    "\"streams\":[{\"pattern\":\"a\",\"cap\":[\"read\"]}]}", key),
	    "unknown field"), "a misspelt caps field");
	ok(refused(craft(HS256, "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":"
	    "1800003600," GRANT "}", key), "not JSON"),
	    "duplicate claims refused");

	/* The shape of the token itself. */
	ok(refused("", "empty token"), "empty");
	ok(refused("abc", "three base64url parts"), "one part");
	ok(refused("a.b", "three base64url parts"), "two parts");
	ok(refused("a.b.c.d", "three base64url parts"), "four parts");
	tok = craft(HS256, full, key);
	snprintf(buf, sizeof(buf), "%s=", tok);
	ok(refused(buf, "not an HS256 signature"), "padding refused");
	snprintf(buf, sizeof(buf), "%s", tok);
	buf[strlen(buf) - 1] = buf[strlen(buf) - 1] == 'A' ? 'B' : 'A';
	ok(refused(buf, ""), "a changed last character refused");
	snprintf(buf, sizeof(buf), "%s", tok);
	buf[strlen(buf) - 5] = '+';
	ok(refused(buf, "not an HS256 signature"), "'+' is not base64url");
	snprintf(buf, sizeof(buf), "%s", tok);
	memmove(buf + 1, buf, strlen(buf) + 1);
	buf[0] = ' ';
	ok(refused(buf, "not base64url"), "leading white space refused");
	/* "eyJ" + "x" is 4n+1 characters: never base64url. */
	snprintf(buf, sizeof(buf), "eyJhbGciOiJIUzI1NiJ9x%s", strchr(tok,
	    '.'));
	ok(refused(buf, "not base64url"), "a header of 4n+1 characters");
	/* Non-zero unused bits: "fQ" and "fR" both decode to "}". */
	{
		const char *h = "{\"alg\":\"HS256\" }";
		char hb[64];

		b64(h, strlen(h), hb);
		ok(strlen(h) % 3 == 1 && hb[strlen(hb) - 1] == 'Q',
		    "the header ends in a character with unused bits");
		hb[strlen(hb) - 1]++;
		snprintf(buf, sizeof(buf), "%s%s", hb, strchr(tok, '.'));
		ok(refused(buf, "not base64url"),
		    "non-zero unused bits refused");
	}
	memset(buf, 'A', sizeof(buf));
	buf[sizeof(buf) - 1] = '\0';
	ok(refused(buf, "longer than"), "an oversized token refused");
	/* A signature over the claims by another key. */
	ok(refused(craft(HS256, full, other), "signature does not match"),
	    "wrong key refused");
}

static void
keys(void)
{
	char *dir = unit_tmpdir(), path[512], path2[512];
	unsigned char k[SESS_KEY_MAX];
	struct sess_err e;
	struct stat sb;
	size_t len = 0;
	int fd;

	umask(022);
	snprintf(path, sizeof(path), "%s/key", dir);
	ok(sess_key_generate(path, &e) == 0, "generate a key");
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600 &&
	    sb.st_size == SESS_KEY_MIN, "mode 0600, %d bytes", SESS_KEY_MIN);
	ok(sess_key_load(path, k, &len, &e) == 0 && len == SESS_KEY_MIN,
	    "load it");
	ok(sess_key_generate(path, &e) == SESS_ECONFLICT &&
	    strstr(e.msg, "not overwritten") != NULL,
	    "an existing file is not overwritten");
	snprintf(path2, sizeof(path2), "%s/nodir/key", dir);
	ok(sess_key_generate(path2, &e) == SESS_EINVAL,
	    "no such directory");
	ok(sess_key_load(path2, k, &len, &e) == SESS_EINVAL &&
	    strstr(e.msg, "No such file") != NULL, "a missing key file");
	ok(sess_key_load(dir, k, &len, &e) == SESS_EINVAL,
	    "a directory is no key file");
	snprintf(path2, sizeof(path2), "%s/short", dir);
	fd = open(path2, O_WRONLY | O_CREAT, 0600);
	ok(write(fd, "short", 5) == 5, "write a short key");
	close(fd);
	ok(sess_key_load(path2, k, &len, &e) == SESS_EINVAL &&
	    strstr(e.msg, "5 bytes, a key has at least 32") != NULL,
	    "a short key is refused: %s", e.msg);
	unlink(path2);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	patterns();
	caps();
	roundtrip();
	bad_tokens();
	keys();
	return unit_done();
}
