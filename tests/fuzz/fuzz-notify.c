/* fuzz-notify.c: channel targets (PushSubscription JSON, addresses, URLs) and base64url. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = { "webhook", "ntfy", "email",
		"webpush", "stdout", "other" };
	unsigned char bytes[4096];
	struct sess_err e;
	char *s, *canon, *again;
	long n;
	size_t i;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (sess_notify_channel_check(kinds[i], s, &canon, &e) == 0) {
			/* A canonical target is accepted as it is. */
			char *c2;

			if (sess_notify_channel_check(kinds[i], canon, &c2,
			    &e) != 0 || strcmp(canon, c2) != 0)
				abort();
			free(c2);
		}
		free(canon);
	}
	/* Whatever decodes encodes back to the same text, unpadded. */
	n = sess_b64url_decode(s, bytes, sizeof(bytes));
	if (n >= 0 && strchr(s, '=') == NULL) {
		if ((again = sess_b64url_encode(bytes, (size_t)n)) == NULL ||
		    strcmp(again, s) != 0)
			abort();
		free(again);
	}
	free(s);
	return 0;
}
