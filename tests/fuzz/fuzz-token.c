/* fuzz-token.c: token verification and stream pattern matching. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key the corpus tokens are signed with. */
static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sess_token *t;
	struct sess_err e;
	const char *nl;
	char *s, *name;
	int cap;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* The whole input as a token, at a time when the corpus is valid. */
	t = sess_token_verify(s, size, key, sizeof(key), 1800000000LL, &e);
	if (t != NULL) {
		if (sess_token_subject(t) == NULL ||
		    sess_token_claims(t) == NULL)
			abort();
		for (cap = 1; cap <= SESS_CAP_ADMIN; cap <<= 1)
			sess_token_allows(t, "chat/alice/1", cap);
		sess_token_free(t);
	}
	/* "PATTERN\nNAME": a pattern against a name. */
	if ((nl = memchr(s, '\n', size)) != NULL) {
		name = s + (nl - s) + 1;
		s[nl - s] = '\0';
		if (sess_pattern_check(s, &e) == 0 &&
		    sess_name_check(name, strlen(name), &e) == 0) {
			int m = sess_pattern_match(s, name);

			/* Without a star a pattern is the name itself. */
			if (strchr(s, '*') == NULL && m != (strcmp(s, name) ==
			    0))
				abort();
			/* "**" matches every name. */
			if (!sess_pattern_match("**", name))
				abort();
		}
	}
	free(s);
	return 0;
}
