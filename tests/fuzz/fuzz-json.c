/* fuzz-json.c: the fast JSON scanner against jansson's decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Both must accept and refuse the same texts, and what the scanner
 * writes must decode to the same value as the input.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sess_jscan in;
	struct sess_err e;
	struct sess_buf out;
	json_t *a, *b, *t;
	int rc;

	sess_buf_init(&out, (size_t)1 << 24);
	rc = sess_json_scan((const char *)data, size, &out, &in, &e);
	a = sess_json_parse((const char *)data, size, &e);
	if ((rc == 0) != (a != NULL))
		abort();
	if (rc == 0) {
		b = sess_json_parse(out.p + in.at, in.len, &e);
		if (b == NULL || !json_equal(a, b))
			abort();
		if (memchr(out.p + in.at, '\n', in.len) != NULL)
			abort();
		if (in.has_type && !in.complex) {
			t = json_object_get(a, "type");
			if (!json_is_string(t) || json_string_length(t) !=
			    in.type_len || memcmp(json_string_value(t),
			    out.p + in.type_at, in.type_len) != 0)
				abort();
		}
		if (!in.complex && json_is_object(a) &&
		    (json_object_get(a, "msg") || json_object_get(a, "op")))
			abort();
		json_decref(b);
	}
	json_decref(a);
	sess_buf_release(&out);
	return 0;
}
