/* watch.c: learn of other processes' commits, and of a reader's going. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "internal.h"

/*
 * Without inotify (or the wake file) a watch still works, by waking up
 * at this interval; that is the fallback, not the way it normally runs.
 */
#define FALLBACK_MS 100

struct sess_watch {
	int fd;
};

struct sess_watch *
sess_watch_open(struct sess_store *st, struct sess_err *e)
{
	struct sess_watch *w;
	int fd;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		sess_err_set(e, SESS_ENOMEM, "out of memory");
		return NULL;
	}
	w->fd = -1;
	/* The wake file must exist to be watched; creating it is harmless. */
	if ((fd = open(st->wakepath, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0)
		close(fd);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd >= 0 && inotify_add_watch(w->fd, st->wakepath,
	    IN_MODIFY | IN_ATTRIB) < 0) {
		close(w->fd);
		w->fd = -1;
	}
	return w;
}

void
sess_watch_close(struct sess_watch *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}

int
sess_watch_fd(const struct sess_watch *w)
{
	return w->fd;
}

void
sess_watch_drain(struct sess_watch *w)
{
	char buf[4096];

	if (w->fd < 0)
		return;
	while (read(w->fd, buf, sizeof(buf)) > 0)
		;
}

/*
 * Whether poll's revents say that the reader of a descriptor we write
 * has gone: POLLERR on a pipe whose read end is closed, POLLHUP on a
 * socket whose peer is, or on a terminal that hung up.  A regular file
 * or /dev/null never says so.
 */
static int
gone(short revents)
{
	return (revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
}

int
sess_hangup_wait(int fd, int ms)
{
	struct pollfd pfd;
	int rc;

	pfd.fd = fd;
	pfd.events = 0;     /* the errors are reported whatever is asked */
	pfd.revents = 0;
	do
		rc = poll(&pfd, fd >= 0 ? 1 : 0, ms);
	while (rc < 0 && errno == EINTR);
	return rc > 0 && gone(pfd.revents);
}

int
sess_watch_wait(struct sess_watch *w, int ms, int hup)
{
	struct pollfd pfd[2];
	int rc, n = 0;

	if (w->fd >= 0) {
		pfd[n].fd = w->fd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	} else if (ms < 0 || ms > FALLBACK_MS) {
		ms = FALLBACK_MS;
	}
	if (hup >= 0) {
		pfd[n].fd = hup;
		pfd[n].events = 0;
		pfd[n++].revents = 0;
	}
	do
		rc = poll(pfd, (nfds_t)n, ms);
	while (rc < 0 && errno == EINTR);
	if (hup >= 0 && rc > 0 && gone(pfd[n - 1].revents))
		return SESS_EPIPE;
	if (w->fd < 0)
		return 1;
	if (rc <= 0 || pfd[0].revents == 0)
		return 0;
	sess_watch_drain(w);
	return 1;
}
