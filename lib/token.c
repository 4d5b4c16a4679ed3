/* token.c: access tokens: HS256 JWTs, key files, stream patterns. */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sess.h"

#define SIG_LEN 32 /* HMAC-SHA256 */

struct grant {
	const char *pattern;   /* borrowed from claims */
	int caps;
};

struct sess_token {
	json_t *claims;
	const char *sub;       /* borrowed from claims */
	int64_t iat, exp;
	struct grant *grants;
	size_t n;
};

static const char *const cap_names[] = { "read", "write", "presence",
	"admin" };

int
sess_cap_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (strcmp(name, cap_names[i]) == 0)
			return 1 << i;
	return 0;
}

const char *
sess_cap_name(int cap)
{
	size_t i;

	for (i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (cap == 1 << i)
			return cap_names[i];
	return NULL;
}

int
sess_pattern_check(const char *pattern, struct sess_err *e)
{
	const char *s;
	size_t len = strlen(pattern), sl;
	struct sess_err ne;

	if (sess_name_check(pattern, len, &ne) != 0)
		return sess_err_set(e, SESS_EINVAL, "pattern '%.64s': %s",
		    pattern, ne.msg);
	for (s = pattern; *s != '\0'; s += sl + (s[sl] == '/')) {
		sl = strcspn(s, "/");
		if (sl != 2 && memmem(s, sl, "**", 2) != NULL)
			return sess_err_set(e, SESS_EINVAL, "pattern '%.64s': "
			    "** must be a whole segment", pattern);
	}
	return 0;
}

/* Whether segment s[0..sn) matches p[0..pn), where '*' is any run. */
static int
seg_match(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, sp = 0, ss = 0;
	int star = 0;

	/* One backtracking point suffices: each star is tried greedily. */
	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = 1;
			sp = ++pi;
			ss = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star) {
			pi = sp;
			si = ++ss;
		} else {
			return 0;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

static const char *
seg_next(const char *s, size_t len)
{
	return s + len + (s[len] == '/');
}

static int
is_globstar(const char *p, size_t len)
{
	return len == 2 && p[0] == '*' && p[1] == '*';
}

int
sess_pattern_match(const char *pattern, const char *name)
{
	const char *p = pattern, *n = name, *bp = NULL, *bn = NULL;
	size_t pl, nl;

	/*
	 * The same greedy walk as within a segment, over segments: "**"
	 * is the star, any other segment matches exactly one segment.
	 */
	while (*n != '\0') {
		pl = strcspn(p, "/");
		nl = strcspn(n, "/");
		if (*p != '\0' && is_globstar(p, pl)) {
			bp = p = seg_next(p, pl);
			bn = n;
		} else if (*p != '\0' && seg_match(p, pl, n, nl)) {
			p = seg_next(p, pl);
			n = seg_next(n, nl);
		} else if (bp != NULL) {
			p = bp;
			bn = seg_next(bn, strcspn(bn, "/"));
			n = bn;
		} else {
			return 0;
		}
	}
	while (*p != '\0' && is_globstar(p, strcspn(p, "/")))
		p = seg_next(p, 2);
	return *p == '\0';
}

int
sess_key_load(const char *path, unsigned char *key, size_t *len,
    struct sess_err *e)
{
	struct stat sb;
	ssize_t r;
	size_t n = 0;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return sess_err_set(e, errno == ENOENT || errno == EACCES ||
		    errno == EISDIR ? SESS_EINVAL : SESS_EIO,
		    "key file %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0) {
		rc = sess_err_set(e, SESS_EIO, "key file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = sess_err_set(e, SESS_EINVAL, "key file %s: not a regular "
		    "file", path);
		goto out;
	}
	for (;;) {
		r = read(fd, key + n, SESS_KEY_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = sess_err_set(e, SESS_EIO, "key file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == SESS_KEY_MAX) {
			char c;

			if (read(fd, &c, 1) != 0) {
				rc = sess_err_set(e, SESS_EINVAL, "key file "
				    "%s: longer than %d bytes", path,
				    SESS_KEY_MAX);
				goto out;
			}
			break;
		}
	}
	if (n < SESS_KEY_MIN)
		rc = sess_err_set(e, SESS_EINVAL, "key file %s: %zu bytes, a "
		    "key has at least %d", path, n, SESS_KEY_MIN);
	*len = n;
out:
	if (rc != 0)
		OPENSSL_cleanse(key, SESS_KEY_MAX);
	close(fd);
	return rc;
}

int
sess_key_generate(const char *path, struct sess_err *e)
{
	unsigned char key[SESS_KEY_MIN];
	size_t n = 0;
	ssize_t r;
	int fd, rc = 0;

	while (n < sizeof(key)) {
		r = getrandom(key + n, sizeof(key) - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sess_err_set(e, SESS_EIO, "getrandom: %s",
			    strerror(errno));
		n += (size_t)r;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) < 0) {
		rc = sess_err_set(e, errno == EEXIST ? SESS_ECONFLICT :
		    errno == ENOENT || errno == EACCES || errno == EISDIR ?
		    SESS_EINVAL : SESS_EIO, "key file %s: %s%s", path,
		    strerror(errno), errno == EEXIST ? " (not overwritten)" :
		    "");
		goto out;
	}
	/* Whatever the umask: the key is the owner's alone. */
	if (fchmod(fd, 0600) != 0 || write(fd, key, sizeof(key)) !=
	    (ssize_t)sizeof(key) || fsync(fd) != 0) {
		rc = sess_err_set(e, SESS_EIO, "key file %s: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	if (close(fd) != 0) {
		rc = sess_err_set(e, SESS_EIO, "key file %s: %s", path,
		    strerror(errno));
		unlink(path);
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

static int
hmac(const unsigned char *key, size_t keylen, const char *p, size_t n,
    unsigned char *sig)
{
	unsigned int len = 0;

	if (keylen > SESS_KEY_MAX || HMAC(EVP_sha256(), key, (int)keylen,
	    (const unsigned char *)p, n, sig, &len) == NULL || len != SIG_LEN)
		return -1;
	return 0;
}

/* {"alg":"HS256","typ":"JWT"} */
static const char header64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

static int
subject_check(const char *sub, struct sess_err *e)
{
	size_t i, n = strlen(sub);

	if (n == 0 || n > SESS_SUBJECT_MAX)
		return sess_err_set(e, SESS_EINVAL, "subject must be 1 to %d "
		    "bytes", SESS_SUBJECT_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)sub[i] < 0x20 || sub[i] == 0x7f)
			return sess_err_set(e, SESS_EINVAL, "subject has a "
			    "control character");
	return 0;
}

int
sess_token_sign(const unsigned char *key, size_t keylen, const char *subject,
    int64_t iat, int64_t exp, const struct sess_grant *grants, size_t n,
    char **out, struct sess_err *e)
{
	unsigned char sig[SIG_LEN];
	struct sess_buf b;
	json_t *claims = NULL, *streams, *caps, *s;
	char *payload = NULL;
	size_t i;
	int rc = 0, bit;

	*out = NULL;
	sess_buf_init(&b, SESS_TOKEN_MAX);
	if (keylen < SESS_KEY_MIN)
		return sess_err_set(e, SESS_EINVAL, "a key has at least %d "
		    "bytes", SESS_KEY_MIN);
	if ((rc = subject_check(subject, e)) != 0)
		return rc;
	if (exp <= iat)
		return sess_err_set(e, SESS_EINVAL, "the token would expire "
		    "before it is issued");
	if (n > SESS_GRANTS_MAX)
		return sess_err_set(e, SESS_EINVAL, "more than %d patterns",
		    SESS_GRANTS_MAX);
	claims = json_pack("{s:s, s:I, s:I, s:[]}", "sub", subject, "iat",
	    (json_int_t)iat, "exp", (json_int_t)exp, "streams");
	if (claims == NULL) {
		rc = sess_err_set(e, SESS_EINVAL, "subject is not UTF-8");
		goto out;
	}
	streams = json_object_get(claims, "streams");
	for (i = 0; i < n; i++) {
		if ((rc = sess_pattern_check(grants[i].pattern, e)) != 0)
			goto out;
		if (grants[i].caps == 0 || (grants[i].caps & ~0xf) != 0) {
			rc = sess_err_set(e, SESS_EINVAL, "pattern '%.64s': "
			    "no capability", grants[i].pattern);
			goto out;
		}
		caps = json_array();
		for (bit = 1; bit <= SESS_CAP_ADMIN; bit <<= 1)
			if (grants[i].caps & bit)
				json_array_append_new(caps,
				    json_string(sess_cap_name(bit)));
		s = json_pack("{s:s, s:o}", "pattern", grants[i].pattern,
		    "caps", caps);
		if (s == NULL || json_array_append_new(streams, s) != 0) {
			rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((payload = json_dumps(claims, JSON_COMPACT)) == NULL) {
		rc = sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto out;
	}
	if (sess_buf_add(&b, header64, strlen(header64)) != 0 ||
	    sess_buf_add(&b, ".", 1) != 0 ||
	    sess_base64(&b, payload, strlen(payload), 1) != 0) {
		rc = sess_err_set(e, SESS_EINVAL, "token longer than %d bytes",
		    SESS_TOKEN_MAX);
		goto out;
	}
	if (hmac(key, keylen, b.p, b.len, sig) != 0) {
		rc = sess_err_set(e, SESS_EIO, "HMAC failed");
		goto out;
	}
	if (sess_buf_add(&b, ".", 1) != 0 || sess_base64(&b, sig,
	    sizeof(sig), 1) != 0) {
		rc = sess_err_set(e, SESS_EINVAL, "token longer than %d bytes",
		    SESS_TOKEN_MAX);
		goto out;
	}
	*out = b.p;
	sess_buf_init(&b, 0);
out:
	free(payload);
	json_decref(claims);
	sess_buf_release(&b);
	return rc;
}

/* Decodes part p[0..n) of a token and parses it as a JSON object. */
static json_t *
part_json(const char *what, const char *p, size_t n, struct sess_err *e)
{
	unsigned char *raw;
	json_error_t jerr;
	json_t *v = NULL;
	long len;

	if ((raw = malloc(n * 3 / 4 + 1)) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	if ((len = sess_b64url_decode_n(p, n, raw, n * 3 / 4 + 1, 1)) < 0) {
		sess_err_set(e, SESS_EINVAL, "token %s is not base64url", what);
		goto out;
	}
	if (memchr(raw, '\0', (size_t)len) != NULL) {
		sess_err_set(e, SESS_EINVAL, "token %s is not JSON", what);
		goto out;
	}
	v = json_loadb((const char *)raw, (size_t)len, JSON_DECODE_ANY |
	    JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL) {
		sess_err_set(e, SESS_EINVAL, "token %s is not JSON: %s", what,
		    jerr.text);
		goto out;
	}
	if (!json_is_object(v)) {
		sess_err_set(e, SESS_EINVAL, "token %s is not a JSON object",
		    what);
		json_decref(v);
		v = NULL;
	}
out:
	free(raw);
	return v;
}

static int
header_check(json_t *h, struct sess_err *e)
{
	const char *alg = json_string_value(json_object_get(h, "alg"));
	json_t *typ = json_object_get(h, "typ");

	if (alg == NULL)
		return sess_err_set(e, SESS_EINVAL, "token header has no alg");
	/* Only what we sign with: never "none", never another algorithm. */
	if (strcmp(alg, "HS256") != 0)
		return sess_err_set(e, SESS_EINVAL, "token alg '%.32s' is not "
		    "HS256", alg);
	if (typ != NULL && (!json_is_string(typ) ||
	    strcasecmp(json_string_value(typ), "JWT") != 0))
		return sess_err_set(e, SESS_EINVAL, "token typ is not JWT");
	/* Extensions we do not know must be refused (RFC 7515 4.1.11). */
	if (json_object_get(h, "crit") != NULL)
		return sess_err_set(e, SESS_EINVAL, "token header has crit");
	return 0;
}

/* An integer claim; 0 absent, 1 present, negative if malformed. */
static int
int_claim(json_t *claims, const char *name, int64_t *out,
    struct sess_err *e)
{
	json_t *v = json_object_get(claims, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return sess_err_set(e, SESS_EINVAL, "token claim %s is not a "
		    "non-negative integer", name);
	*out = json_integer_value(v);
	return 1;
}

static int
grants_parse(struct sess_token *t, json_t *streams, struct sess_err *e)
{
	json_t *g, *caps, *c;
	const char *key, *pat;
	size_t i, k;
	int bit, rc;

	if (!json_is_array(streams))
		return sess_err_set(e, SESS_EINVAL, "token claim streams is "
		    "not an array");
	if (json_array_size(streams) > SESS_GRANTS_MAX)
		return sess_err_set(e, SESS_EINVAL, "token has more than %d "
		    "patterns", SESS_GRANTS_MAX);
	if ((t->grants = calloc(json_array_size(streams) + 1,
	    sizeof(*t->grants))) == NULL)
		return sess_err_set(e, SESS_ENOMEM, "out of memory");
	json_array_foreach(streams, i, g) {
		json_t *v;

		if (!json_is_object(g))
			return sess_err_set(e, SESS_EINVAL, "token streams[%zu] "
			    "is not an object", i);
		/* A misspelt field must not pass for a narrower grant. */
		json_object_foreach(g, key, v)
			if (strcmp(key, "pattern") != 0 &&
			    strcmp(key, "caps") != 0)
				return sess_err_set(e, SESS_EINVAL, "token "
				    "streams[%zu] has an unknown field", i);
		pat = json_string_value(json_object_get(g, "pattern"));
		caps = json_object_get(g, "caps");
		if (pat == NULL)
			return sess_err_set(e, SESS_EINVAL, "token streams[%zu] "
			    "has no pattern", i);
		if ((rc = sess_pattern_check(pat, e)) != 0)
			return rc;
		if (!json_is_array(caps) || json_array_size(caps) == 0)
			return sess_err_set(e, SESS_EINVAL, "token streams[%zu] "
			    "caps is not a non-empty array", i);
		t->grants[i].pattern = pat;
		json_array_foreach(caps, k, c) {
			if (!json_is_string(c) || (bit = sess_cap_parse(
			    json_string_value(c))) == 0)
				return sess_err_set(e, SESS_EINVAL, "token "
				    "streams[%zu] has an unknown capability",
				    i);
			t->grants[i].caps |= bit;
		}
		t->n = i + 1;
	}
	return 0;
}

struct sess_token *
sess_token_verify(const char *token, size_t len, const unsigned char *key,
    size_t keylen, int64_t now, struct sess_err *e)
{
	unsigned char sig[SIG_LEN], want[SIG_LEN];
	struct sess_token *t = NULL;
	const char *dot1, *dot2;
	json_t *h = NULL, *sub;
	int64_t nbf;
	int rc;

	if (len == 0) {
		sess_err_set(e, SESS_EINVAL, "empty token");
		return NULL;
	}
	if (len > SESS_TOKEN_MAX) {
		sess_err_set(e, SESS_EINVAL, "token longer than %d bytes",
		    SESS_TOKEN_MAX);
		return NULL;
	}
	if ((dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) ==
	    NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) !=
	    NULL) {
		sess_err_set(e, SESS_EINVAL, "token is not three base64url "
		    "parts");
		return NULL;
	}
	if ((h = part_json("header", token, (size_t)(dot1 - token), e)) ==
	    NULL || header_check(h, e) != 0)
		goto bad;
	/* The signature is checked before anything of the claims is read. */
	if (len - (size_t)(dot2 + 1 - token) != 43 ||
	    sess_b64url_decode_n(dot2 + 1, 43, sig, SIG_LEN, 1) != SIG_LEN) {
		sess_err_set(e, SESS_EINVAL, "token signature is not an "
		    "HS256 signature");
		goto bad;
	}
	if (hmac(key, keylen, token, (size_t)(dot2 - token), want) != 0) {
		sess_err_set(e, SESS_EINVAL, "bad key");
		goto bad;
	}
	if (CRYPTO_memcmp(sig, want, SIG_LEN) != 0) {
		sess_err_set(e, SESS_EINVAL, "token signature does not match");
		goto bad;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		goto bad;
	}
	if ((t->claims = part_json("claims", dot1 + 1, (size_t)(dot2 - dot1 -
	    1), e)) == NULL)
		goto bad;
	sub = json_object_get(t->claims, "sub");
	if (!json_is_string(sub)) {
		sess_err_set(e, SESS_EINVAL, "token has no sub");
		goto bad;
	}
	t->sub = json_string_value(sub);
	if (subject_check(t->sub, e) != 0)
		goto bad;
	if ((rc = int_claim(t->claims, "exp", &t->exp, e)) <= 0) {
		if (rc == 0)
			sess_err_set(e, SESS_EINVAL, "token has no exp");
		goto bad;
	}
	if ((rc = int_claim(t->claims, "iat", &t->iat, e)) < 0)
		goto bad;
	if (rc > 0 && t->iat > now + SESS_TOKEN_LEEWAY) {
		sess_err_set(e, SESS_EINVAL, "token issued in the future "
		    "(iat %lld)", (long long)t->iat);
		goto bad;
	}
	if ((rc = int_claim(t->claims, "nbf", &nbf, e)) < 0)
		goto bad;
	if (rc > 0 && nbf > now + SESS_TOKEN_LEEWAY) {
		sess_err_set(e, SESS_EINVAL, "token not valid before %lld",
		    (long long)nbf);
		goto bad;
	}
	if (now - SESS_TOKEN_LEEWAY >= t->exp) {
		sess_err_set(e, SESS_EINVAL, "token expired (exp %lld)",
		    (long long)t->exp);
		goto bad;
	}
	if (json_object_get(t->claims, "streams") == NULL) {
		sess_err_set(e, SESS_EINVAL, "token has no streams");
		goto bad;
	}
	if (grants_parse(t, json_object_get(t->claims, "streams"), e) != 0)
		goto bad;
	json_decref(h);
	return t;
bad:
	json_decref(h);
	sess_token_free(t);
	return NULL;
}

void
sess_token_free(struct sess_token *t)
{
	if (t == NULL)
		return;
	free(t->grants);
	json_decref(t->claims);
	free(t);
}

int
sess_token_allows(const struct sess_token *t, const char *stream, int caps)
{
	size_t i;
	int have = 0;

	if (t == NULL)
		return 0;
	if (caps == 0)
		return 1;
	if (stream == NULL || sess_name_check(stream, strlen(stream), NULL) !=
	    0)
		return 0;
	for (i = 0; i < t->n && (have & caps) != caps; i++)
		if ((t->grants[i].caps & caps & ~have) != 0 &&
		    sess_pattern_match(t->grants[i].pattern, stream))
			have |= t->grants[i].caps;
	return (have & caps) == caps;
}

const char *
sess_token_subject(const struct sess_token *t)
{
	return t->sub;
}

int64_t
sess_token_expires(const struct sess_token *t)
{
	return t->exp;
}

json_t *
sess_token_claims(const struct sess_token *t)
{
	return t->claims;
}
