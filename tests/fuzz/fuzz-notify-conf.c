/* fuzz-notify-conf.c: the channel file (FILE.notify) and notes as JSON. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sess.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A note read from JSON is written back as the same note. */
static void
note_round_trip(const uint8_t *data, size_t size)
{
	struct sess_note a, b;
	struct sess_err e;
	json_t *v, *w;

	if ((v = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return;
	if (sess_note_from_json(v, &a, &e) == 0) {
		if ((w = sess_note_to_json(&a)) == NULL ||
		    sess_note_from_json(w, &b, &e) != 0 || a.id != b.id ||
		    a.seq != b.seq || a.channel != b.channel ||
		    a.attempts != b.attempts || a.result != b.result ||
		    strcmp(a.stream, b.stream) != 0 ||
		    strcmp(a.target, b.target) != 0 ||
		    strcmp(a.error, b.error) != 0)
			abort();
		json_decref(w);
		sess_note_free(&a);
		sess_note_free(&b);
	}
	json_decref(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct sess_err e;
	char path[64];
	int rc;

	note_round_trip(data, size);
	if (fd < 0 && (fd = memfd_create("notify-conf", 0)) < 0)
		return 0;
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) !=
	    (ssize_t)size)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* Checking only: the store is never touched. */
	rc = sess_notify_config_sync(NULL, path, 1, &e);
	if (rc != 0 && (rc != SESS_EINVAL || strncmp(e.msg, path,
	    strlen(path)) != 0 || e.msg[strlen(path)] != ':'))
		abort();
	return 0;
}
