/* internal.h: what the library's files share and callers never see. */
#ifndef SESS_INTERNAL_H
#define SESS_INTERNAL_H

#include <sqlite3.h>

#include "sess.h"

/* Slots of the prepared-statement cache, one per statement text. */
enum {
	STMT_STREAM_GET,
	STMT_STREAM_NEW,
	STMT_STREAM_TAIL,
	STMT_EVENT_PUT,
	STMT_PRODUCER_GET,
	STMT_PRODUCER_PUT,
	STMT_PRODUCER_DUP,
	STMT_MSG_SUPERSEDED,
	STMT_MSG_DROP,
	STMT_MSG_EACH,
	STMT_MSG_FINISHED,
	STMT_DS_GET,    /* ds.c */
	STMT_DS_PARENT,
	STMT_DS_READ,
	STMT_DS_PUT,
	STMT_DS_DELETED,
	STMT_DS_EVENT,
	STMT_DS_CHILDREN,
	STMT_DS_INSERT,
	STMT_DS_SAVE,
	STMT_DS_RELEASE,
	STMT_DS_ROLLBACK,
	STMT_RUN_START, /* log.c: run leases */
	STMT_RUN_RENEW,
	STMT_RUN_END,
	STMT_STATE,     /* SESS_OP_* slots follow, for two tables */
	STMT_MAX = STMT_STATE + 2 * 8,
};

struct sess_store {
	sqlite3 *db;
	char *path;
	char *wakepath;
	int wakefd;
	int flags;
	int immutable;            /* opened immutable: SESS_RDFALLBACK */
	int failure;              /* SESS_WRITE_* of the last error, or 0 */
	sqlite3_stmt *stmt[STMT_MAX];
	struct sess_buf scratch;  /* serialized event values */
};

/* The cached statement for slot, prepared from sql on first use, reset. */
sqlite3_stmt *sess_stmt(struct sess_store *st, int slot, const char *sql,
    struct sess_err *e);
/*
 * Maps an SQLite result code to SESS_E* with a message naming what, and
 * records whether it means a full or read-only store (st->failure and
 * e->failure), before a rollback can reset SQLite's error state.
 */
int sess_dberr(struct sess_store *st, int rc, const char *what,
    struct sess_err *e);
int sess_tx_begin(struct sess_store *st, struct sess_err *e);
int sess_tx_commit(struct sess_store *st, struct sess_err *e);
void sess_tx_rollback(struct sess_store *st);
/*
 * A write of its own (BEGIN IMMEDIATE ... COMMIT, touching the wake
 * file) when no transaction is open, else a savepoint inside the
 * caller's batch (sessd's writer), which commits it.  end commits or,
 * if rc != 0, rolls back; it returns rc or the commit's error.
 */
int sess_write_begin(struct sess_store *st, int *own, struct sess_err *e);
int sess_write_end(struct sess_store *st, int own, int rc,
    struct sess_err *e);

/*
 * log.c: the pieces of an append that ds.c shares.  A producer's state
 * is its epoch and the next position it may write.
 */
struct sess_pstate {
	int found;
	int64_t epoch, next;
};

/*
 * producer.c: admission.  A write by producer id at (epoch, pseq) taking
 * units positions (1, or a text chunk's bytes), against its state ps
 * (found 0 if none yet): 0 when admitted, with verdict WRITE (ps moved
 * past it; skip positions of it were already written, a partial rerun)
 * or DUPLICATE (all written; ps unchanged), and supersede set when the
 * write starts a higher epoch (old_epoch the one it ends).  Errors, ps
 * unchanged: SESS_ESTALE an older epoch (fenced; ps->epoch is the
 * current one), SESS_EINVAL a higher epoch not at 0, SESS_EGAP a
 * position past the next (expected says which).
 */
enum { SESS_ADMIT_WRITE, SESS_ADMIT_DUPLICATE };
struct sess_admit {
	int verdict;
	int supersede;
	int64_t old_epoch, skip, expected;
};
int sess_producer_admit(struct sess_pstate *ps, const char *id,
    int64_t epoch, int64_t pseq, int64_t units, struct sess_admit *out,
    struct sess_err *e);

int sess_log_producer_get(struct sess_store *st, int64_t stream,
    const char *id, struct sess_pstate *ps, struct sess_err *e);
int sess_log_producer_put(struct sess_store *st, int64_t stream,
    const char *id, const struct sess_pstate *ps, struct sess_err *e);
/*
 * Writes item as event ++ss->tail at producer position start and applies
 * its conventions; the caller updates the stream's tail afterwards.
 */
int sess_log_put_item(struct sess_store *st, struct sess_stream *ss,
    const struct sess_producer *pr, struct sess_item *it, int64_t start,
    int64_t now, int64_t *seq, struct sess_err *e);
/*
 * ds.c: sess_ds_append() for the store's own events (run.end abandoned),
 * which writers' appends may not carry (sess_event_own()).
 */
int sess_ds_append_own(struct sess_store *st, const struct sess_ds_req *q,
    struct sess_ds_ack *a, struct sess_err *e);
/* Supersedes what older epochs of pr wrote (see log.c). */
int sess_log_supersede(struct sess_store *st, struct sess_stream *ss,
    const struct sess_producer *pr, int64_t old, int64_t now,
    struct sess_err *e);

/* state.c: tables the op statements work on. */
enum { STATE_MAIN, STATE_CHECK };
/*
 * Applies one msg/op event to the messages table (or the integrity
 * check's copy).  With why != NULL, describes an inconsistent op there
 * and returns 1 for it.
 */
int sess_state_apply(struct sess_store *st, int table, int64_t stream,
    const struct sess_evinfo *in, const char *producer, int64_t attempt,
    int64_t seq, char *why, size_t whylen, struct sess_err *e);
/*
 * A superseded marker, however it was appended, drops the messages it
 * lists ("msgs"), so the view is a function of the log alone.
 */
int sess_state_marker(struct sess_store *st, int table, int64_t stream,
    json_t *v, struct sess_err *e);
/* Drops one message from the view (supersede). */
int sess_state_drop(struct sess_store *st, int table, int64_t stream,
    const char *msg, struct sess_err *e);

#endif
