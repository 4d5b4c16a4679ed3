/* tool.h: what the programs share that is about talking to the user. */
#ifndef SESS_TOOL_H
#define SESS_TOOL_H

#include <stdio.h>

#include "sess.h"

/* Exit statuses shared by every program (see sess(7)). */
#define EXIT_NO 1
#define EXIT_USAGE 2
#define EXIT_TEMP 111

/*
 * Sets up the process: SIGPIPE ignored, and descriptors 0-2 held open so
 * that the store can never be opened as stdout.  Returns 0, or -1 if
 * stdout was closed when we started.
 */
int tool_init(void);
/* The store path from -d, SESS_DB or ./sess.db. */
const char *tool_db(const char *opt);
/* Store flags from SESS_SYNC (or -S); exits 2 on a bad mode. */
int tool_sync(const char *opt);
/*
 * Opens the store, or the sessd at -u URL or SESS_URL if one is given,
 * or exits with its status and message.
 */
struct sess_conn *tool_conn(const char *db, const char *url, int flags);
/* Opens the store or exits with its status and message. */
struct sess_store *tool_open(const char *path, int flags);
/* Prints "prog: msg" and exits with the status for e->code. */
void tool_die(const struct sess_err *e) __attribute__((noreturn));
/*
 * Writes to stdout; on EPIPE returns -1 (a quiet end), on any other
 * error exits 111 with a message.
 */
int tool_write(const void *p, size_t n);
int tool_flush(void);
/* Flushes and closes stdout, exiting 111 if that fails. */
int tool_finish(int status);
/* s as a JSON string (new, to free). */
char *tool_json_string(const char *s);
/* Parses a non-negative integer up to max; -1 if it is not one. */
long long tool_num(const char *s, long long max);

#endif
