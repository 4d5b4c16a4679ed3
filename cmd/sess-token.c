/* sess-token: make keys, mint and verify sessd's access tokens. */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "tool.h"

#define DEFAULT_EXPIRY 3600
#define MAX_EXPIRY (3650LL * 86400)

static void
usage(FILE *f)
{
	fprintf(f, "usage: sess-token -g KEYFILE\n"
	    "       sess-token -k KEYFILE -s SUBJECT [-e SECS] [-a PATTERN] "
	    "[-p PATTERN]\n"
	    "                  [-r PATTERN] [-w PATTERN]\n"
	    "       sess-token -k KEYFILE -v TOKEN\n");
	exit(f == stdout ? 0 : EXIT_USAGE);
}

static const struct option longopts[] = {
	{ "admin", required_argument, NULL, 'a' },
	{ "expires", required_argument, NULL, 'e' },
	{ "generate", required_argument, NULL, 'g' },
	{ "help", no_argument, NULL, 'h' },
	{ "key", required_argument, NULL, 'k' },
	{ "presence", required_argument, NULL, 'p' },
	{ "read", required_argument, NULL, 'r' },
	{ "subject", required_argument, NULL, 's' },
	{ "verify", required_argument, NULL, 'v' },
	{ "write", required_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 },
};

/* Each pattern once, with every capability given for it. */
static struct sess_grant grants[SESS_GRANTS_MAX];
static size_t ngrants;

static void
grant(const char *pattern, int cap, int c)
{
	struct sess_err e;
	size_t i;

	if (sess_pattern_check(pattern, &e) != 0)
		errx(EXIT_USAGE, "-%c %s", c, e.msg);
	for (i = 0; i < ngrants; i++)
		if (strcmp(grants[i].pattern, pattern) == 0)
			break;
	if (i == ngrants) {
		if (ngrants == SESS_GRANTS_MAX)
			errx(EXIT_USAGE, "more than %d patterns",
			    SESS_GRANTS_MAX);
		grants[ngrants++].pattern = pattern;
	}
	grants[i].caps |= cap;
}

/* SECS, or a number with a unit: s, m, h or d. */
static long long
duration(const char *s)
{
	char num[32];
	size_t n = strlen(s);
	long long v, mul = 1;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'd':
		mul *= 24;
		/* FALLTHROUGH */
	case 'h':
		mul *= 60;
		/* FALLTHROUGH */
	case 'm':
		mul *= 60;
		/* FALLTHROUGH */
	case 's':
		num[n - 1] = '\0';
		break;
	}
	if ((v = tool_num(num, MAX_EXPIRY)) < 1 || v > MAX_EXPIRY / mul)
		return -1;
	return v * mul;
}

static void
load_key(const char *path, unsigned char *key, size_t *len)
{
	struct sess_err e;

	if (sess_key_load(path, key, len, &e) != 0)
		tool_die(&e);
}

/* Reads the token from the first line of stdin. */
static char *
token_stdin(void)
{
	static char line[SESS_TOKEN_MAX + 2];
	size_t n;

	if (fgets(line, sizeof(line), stdin) == NULL)
		errx(EXIT_USAGE, "<stdin>: no token");
	n = strlen(line);
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	else if (!feof(stdin))
		errx(EXIT_USAGE, "<stdin>: token longer than %d bytes",
		    SESS_TOKEN_MAX);
	return line;
}

static int
verify(const char *keyfile, const char *tok)
{
	unsigned char key[SESS_KEY_MAX];
	struct sess_token *t;
	struct sess_err e;
	size_t keylen;
	char *claims;
	int rc;

	load_key(keyfile, key, &keylen);
	if (strcmp(tok, "-") == 0)
		tok = token_stdin();
	t = sess_token_verify(tok, strlen(tok), key, keylen,
	    (int64_t)time(NULL), &e);
	OPENSSL_cleanse(key, sizeof(key));
	if (t == NULL) {
		warnx("invalid token: %s", e.msg);
		return EXIT_NO;
	}
	if ((claims = json_dumps(sess_token_claims(t), JSON_COMPACT)) ==
	    NULL)
		errx(EXIT_TEMP, "out of memory");
	sess_token_free(t);
	rc = tool_write(claims, strlen(claims));
	if (rc == 0)
		tool_write("\n", 1);
	free(claims);
	return 0;
}

static int
mint(const char *keyfile, const char *subject, long long secs)
{
	unsigned char key[SESS_KEY_MAX];
	struct sess_err e;
	size_t keylen;
	int64_t now = (int64_t)time(NULL);
	char *tok;

	if (ngrants == 0)
		errx(EXIT_USAGE, "no stream given: use -r, -w, -p or -a");
	load_key(keyfile, key, &keylen);
	if (sess_token_sign(key, keylen, subject, now, now + secs, grants,
	    ngrants, &tok, &e) != 0) {
		OPENSSL_cleanse(key, sizeof(key));
		tool_die(&e);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (tool_write(tok, strlen(tok)) == 0)
		tool_write("\n", 1);
	free(tok);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *gen = NULL, *keyfile = NULL, *subject = NULL, *tok = NULL;
	long long secs = DEFAULT_EXPIRY;
	struct sess_err e;
	int c, expiry = 0;

	if (tool_init() != 0)
		errx(EXIT_TEMP, "stdout is closed");
	while ((c = getopt_long(argc, argv, "a:e:g:hk:p:r:s:v:w:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			grant(optarg, SESS_CAP_ADMIN, c);
			break;
		case 'e':
			if ((secs = duration(optarg)) < 0)
				errx(EXIT_USAGE, "-e %s: not seconds from 1 to "
				    "%lld (or with a unit: s, m, h, d)", optarg,
				    MAX_EXPIRY);
			expiry = 1;
			break;
		case 'g':
			gen = optarg;
			break;
		case 'h':
			usage(stdout);
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'p':
			grant(optarg, SESS_CAP_PRESENCE, c);
			break;
		case 'r':
			grant(optarg, SESS_CAP_READ, c);
			break;
		case 's':
			subject = optarg;
			break;
		case 'v':
			tok = optarg;
			break;
		case 'w':
			grant(optarg, SESS_CAP_WRITE, c);
			break;
		default:
			usage(stderr);
		}
	}
	if (optind != argc)
		usage(stderr);
	/* Three modes; options of one are no options of another. */
	if (gen != NULL) {
		if (keyfile || subject || tok || expiry || ngrants)
			usage(stderr);
		if (sess_key_generate(gen, &e) != 0)
			tool_die(&e);
		return tool_finish(0);
	}
	if (keyfile == NULL)
		usage(stderr);
	if (tok != NULL) {
		if (subject || expiry || ngrants)
			usage(stderr);
		return tool_finish(verify(keyfile, tok));
	}
	if (subject == NULL)
		usage(stderr);
	return tool_finish(mint(keyfile, subject, secs));
}
