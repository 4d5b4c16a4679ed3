/* sessd-writer.c: the writer thread: queued writes share one commit. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sessd.h"

/*
 * Every write goes through one thread with its own store handle.  It
 * takes all the jobs queued since its last commit, runs each in a
 * savepoint of one transaction and commits once, so concurrent appends
 * share one fsync; a lone append is committed at once.  Results go back
 * to the loop thread, which lws_cancel_service() wakes, and only then
 * are the responses sent: nothing is acknowledged before its commit.
 */

#define BATCH_MAX 4096

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *pending, *done;
	int stop, running;
	int inflight;                 /* submitted, not collected */
	struct sess_store *st;        /* NULL while the store cannot open */
	const char *db;
	int flags;
	/*
	 * After a read-only failure the handle is opened again before the
	 * next batch: SQLite opens a file it may not write read-only and
	 * keeps it so, even once the permission or the mount is fixed.
	 */
	int stale;
	struct sess_err openerr;      /* why st is NULL */
	atomic_int reopened;          /* counts fresh handles, for readers */
} W = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

struct job *
job_new(int kind, struct conn *c)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->kind = kind;
	j->c = c;
	j->req.ttl = -1;
	j->req.fork_offset = -1;
	sess_buf_init(&j->body, 0);
	return j;
}

void
job_free(struct job *j)
{
	size_t i;
	int k;

	if (j == NULL)
		return;
	for (k = 0; k < j->nown; k++)
		free(j->own[k]);
	for (i = 0; j->items != NULL && i < j->n; i++)
		json_decref(j->items[i].value);
	free(j->items);
	free(j->acks);
	sess_buf_release(&j->body);
	free(j);
}

const char *
job_str(struct job *j, const char *s)
{
	char *p;

	if (s == NULL || j->nown == (int)(sizeof(j->own) / sizeof(j->own[0])))
		return NULL;
	if ((p = strdup(s)) == NULL)
		return NULL;
	j->own[j->nown++] = p;
	return p;
}

void
job_submit(struct job *j)
{
	struct job **pp;

	if (j->c != NULL)
		j->c->job = j;
	W.inflight++;
	pthread_mutex_lock(&W.mu);
	for (pp = &W.pending; *pp != NULL; pp = &(*pp)->next)
		;
	j->next = NULL;
	*pp = j;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
}

static void
fail(struct job *j, int rc, const struct sess_err *e)
{
	j->rc = rc;
	j->err = *e;
	/* Only a store error has a store failure behind it. */
	switch (rc) {
	case SESS_EINVAL:
	case SESS_EOWN:
	case SESS_ENOENT:
	case SESS_ESTALE:
	case SESS_EGAP:
	case SESS_ECONFLICT:
		j->failure = 0;
		break;
	default:
		j->failure = W.st != NULL ? sess_store_write_failure(W.st) :
		    e->failure;
		break;
	}
	j->err.failure = j->failure;
	if (j->failure == SESS_WRITE_READONLY)
		W.stale = 1;
}

/*
 * Opens the store again; the old handle stays if that fails.  Returns
 * whether there is a handle to write with.
 */
static int
reopen(void)
{
	struct sess_store *st;
	struct sess_err e;
	char why[sizeof(e.msg)];

	memset(&e, 0, sizeof(e));
	W.stale = 0;
	if ((st = sess_store_open(W.db, W.flags, &e)) != NULL) {
		sess_store_close(W.st);
		W.st = st;
		atomic_fetch_add(&W.reopened, 1);
		return 1;
	}
	if (W.st != NULL)
		return 1;
	if (e.failure == SESS_WRITE_READONLY) {
		memcpy(why, e.msg, sizeof(why));
		sess_err_set(&e, e.code, "store is read-only: %s", why);
		e.failure = SESS_WRITE_READONLY;
	}
	W.openerr = e;
	return 0;
}

/* Runs one job inside the open batch. */
static void
run(struct job *j)
{
	struct sess_err e;
	int rc = 0;

	memset(&e, 0, sizeof(e));
	switch (j->kind) {
	case J_CREATE:
		rc = sess_ds_create(W.st, &j->req, &j->ack, &e);
		break;
	case J_APPEND:
		rc = sess_ds_append(W.st, &j->req, &j->ack, &e);
		break;
	case J_DELETE:
		rc = sess_ds_delete(W.st, j->req.stream, &j->ack, &e);
		break;
	case J_TOUCH:
		rc = sess_ds_touch(W.st, j->req.stream, &e);
		break;
	case J_EXPIRE:
		rc = sess_ds_expire(W.st, 256, NULL, NULL, &e);
		if (rc > 0) {
			j->expired = rc;
			rc = 0;
		}
		break;
	case J_FUNC:
		rc = j->fn(W.st, j);
		e = j->err;
		break;
	}
	if (rc != 0)
		fail(j, rc, &e);
}

static void
finish_batch(struct job *first, struct job *stop, int open)
{
	struct sess_err e;
	struct job *j;
	int rc;

	if (!open)
		return;
	if ((rc = sess_batch_commit(W.st, &e)) == 0)
		return;
	/* Nothing of the batch was written: every job fails with it. */
	for (j = first; j != stop; j = j->next)
		if (j->kind != J_SESS_APPEND)
			fail(j, rc, &e);
}

static void
run_all(struct job *list)
{
	struct job *j, *first = list;
	struct sess_err e;
	int open = 0, rc;

	if ((W.st == NULL || W.stale) && !reopen()) {
		/* No store to write to: every job fails with why. */
		for (j = list; j != NULL; j = j->next) {
			j->rc = W.openerr.code;
			j->err = W.openerr;
			j->failure = W.openerr.failure;
		}
		return;
	}
	for (j = list; j != NULL; j = j->next) {
		if (j->kind == J_SESS_APPEND) {
			/* sess_append() commits by itself. */
			finish_batch(first, j, open);
			open = 0;
			rc = sess_append(W.st, j->req.stream, j->flags,
			    j->has_pr ? &j->pr : NULL, j->items, j->n, j->acks,
			    &e);
			if (rc != 0)
				fail(j, rc, &e);
			first = j->next;
			continue;
		}
		if (!open) {
			if ((rc = sess_batch_begin(W.st, &e)) != 0) {
				fail(j, rc, &e);
				first = j->next;
				continue;
			}
			open = 1;
			first = j;
		}
		run(j);
	}
	finish_batch(first, NULL, open);
}

static void *
writer_main(void *arg)
{
	struct job *list, *j, *last, **pp;
	int n;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&W.mu);
		while (W.pending == NULL && !W.stop)
			pthread_cond_wait(&W.cv, &W.mu);
		if (W.pending == NULL) {
			pthread_mutex_unlock(&W.mu);
			break;
		}
		/* Take what is queued, up to a batch. */
		list = W.pending;
		for (n = 1, last = list; last->next != NULL && n < BATCH_MAX;
		    n++)
			last = last->next;
		W.pending = last->next;
		last->next = NULL;
		pthread_mutex_unlock(&W.mu);

		run_all(list);

		pthread_mutex_lock(&W.mu);
		for (pp = &W.done; *pp != NULL; pp = &(*pp)->next)
			;
		*pp = list;
		pthread_mutex_unlock(&W.mu);
		lws_cancel_service(sd->ctx);
	}
	(void)j;
	return NULL;
}

int
writer_start(const char *db, int flags, struct sess_err *e)
{
	W.db = db;
	W.flags = flags;
	memset(e, 0, sizeof(*e));
	if ((W.st = sess_store_open(db, flags, e)) == NULL) {
		/*
		 * A store sessd may not write is served read-only; writes
		 * fail with 503 until the store can be opened for them.
		 */
		if (e->failure != SESS_WRITE_READONLY)
			return e->code;
		logx("%s; serving it read-only", e->msg);
		W.stale = 1;
	}
	if (pthread_create(&W.thread, NULL, writer_main, NULL) != 0) {
		sess_store_close(W.st);
		return sess_err_set(e, SESS_EIO, "cannot start the writer");
	}
	W.running = 1;
	return 0;
}

/* Waits for the queue to drain, then stops the thread. */
void
writer_stop(void)
{
	if (!W.running)
		return;
	pthread_mutex_lock(&W.mu);
	W.stop = 1;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
	pthread_join(W.thread, NULL);
	W.running = 0;
	writer_collect();
	sess_store_close(W.st);
	W.st = NULL;
}

int
writer_idle(void)
{
	return W.inflight == 0;
}

int
writer_inflight(void)
{
	return W.inflight;
}

/*
 * An immutable reader (a store on a read-only mount) sees no change:
 * once the writer has opened the store afresh, so may the reader.
 */
static void
reader_refresh(void)
{
	static int seen;
	struct sess_store *st;
	struct sess_err e;
	int n = atomic_load(&W.reopened);

	if (n == seen || sd->rd == NULL || !sess_store_immutable(sd->rd))
		return;
	seen = n;
	if ((st = sess_store_open(sd->db, sd->sync | SESS_RDFALLBACK,
	    &e)) == NULL) {
		logx("%s", e.msg);
		return;
	}
	sess_store_close(sd->rd);
	sd->rd = st;
}

/* On the loop thread: hands finished jobs to their connections. */
void
writer_collect(void)
{
	struct job *list, *j, *next;

	pthread_mutex_lock(&W.mu);
	list = W.done;
	W.done = NULL;
	pthread_mutex_unlock(&W.mu);
	reader_refresh();
	/*
	 * The writers are answered first, then live readers get the new
	 * events: an append's answer does not wait for the fan-out.  Both
	 * are written out together when this callback ends.
	 */
	for (j = list; j != NULL; j = next) {
		next = j->next;
		W.inflight--;
		if (j->c != NULL)
			j->c->job = NULL;
		if (j->done != NULL)
			j->done(j);
		job_free(j);
	}
	if (list != NULL)
		sd->wake();
}
