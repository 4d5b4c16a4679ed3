/* fuzz-jsonl.c: the JSON-lines reader, parser and event conventions. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sess_lines *lr;
	struct sess_evinfo in;
	struct sess_err e;
	const char *line;
	size_t len;
	long lineno;
	json_t *v;
	int fd, rc;

	/* The first byte picks a small line cap, to reach the overflow paths. */
	if (size == 0 || (fd = memfd_create("fuzz", 0)) < 0)
		return 0;
	if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1) ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return 0;
	}
	lr = sess_lines_new(fd, 1 + data[0] % 64);
	while (!sess_lines_done(lr)) {
		if (sess_lines_fill(lr, 1) < 0)
			break;
		while ((rc = sess_lines_next(lr, &line, &len, &lineno, &e)) == 1) {
			if ((v = sess_json_parse(line, len, &e)) == NULL)
				continue;
			sess_event_check(v, &in, &e);
			json_decref(v);
		}
		if (rc < 0)
			break;
	}
	sess_lines_free(lr);
	close(fd);
	return 0;
}
