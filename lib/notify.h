/* notify.h: what the notify*.c files share and no one else sees. */
#ifndef SESS_NOTIFY_H
#define SESS_NOTIFY_H

#include "internal.h"

/* Slots of a sess_notify's statements (notify.c has their texts). */
enum {
	Q_CLAIM, Q_LEASE, Q_AWAY, Q_SET, Q_FINISH, Q_CHANNELS, Q_INSERT,
	Q_STREAMS, Q_EVENTS, Q_SCANPOS, Q_NEXT, Q_WAITING, Q_MAX
};

struct sess_notify {
	struct sess_store *st;
	struct sess_notify_cfg cfg;
	char holder[128];
	sqlite3_stmt *q[Q_MAX];
	uint64_t rng;
	int rescan;               /* scan for new events at the next claim */
};

/* notify.c: the statement for slot i, prepared on first use, reset. */
sqlite3_stmt *sess_notify_q(struct sess_notify *n, int i,
    struct sess_err *e);
/* Column i of the row as a new string ("" for NULL). */
char *sess_notify_col(sqlite3_stmt *s, int i);
/*
 * Appends an outcome event (notify.sent, .skipped, .failed) to stream
 * in the running transaction; key, if set, names why.
 */
int sess_notify_outcome(struct sess_notify *n, const char *stream,
    const char *type, int64_t seq, const char *member, const char *kind,
    int attempts, const char *key, const char *why, struct sess_err *e);
/* Passes one decision to cfg.report as a JSON line; when is its due. */
int sess_notify_report(struct sess_notify *n, const char *action,
    const char *stream, int64_t seq, const char *member, const char *kind,
    const char *target, const char *why, int64_t when);

/* notify-scan.c: turns new events into rows, in the running transaction. */
int sess_notify_scan(struct sess_notify *n, int *changed,
    struct sess_err *e);

/* notify-chan.c: a member name, 1 to 256 bytes of UTF-8, no controls. */
int sess_notify_member_ok(const char *m);

#endif
