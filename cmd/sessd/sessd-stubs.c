/* sessd-stubs.c: stand-ins until auth and presence are merged. */
#include <stdlib.h>

#include "sessd.h"

int auth_enabled(void) { return 0; }
int auth_parse(const char *token, struct auth **out, char *why, size_t size)
{ (void)token; *out = NULL; snprintf(why, size, "no auth"); return -1; }
void auth_free(struct auth *a) { (void)a; }
int auth_allows(const struct auth *a, const char *stream, int cap)
{ (void)a; (void)stream; (void)cap; return 1; }
const char *auth_subject(const struct auth *a) { (void)a; return ""; }
int64_t auth_expires(const struct auth *a) { (void)a; return 0; }
int presence_set(const char *stream, const char *member, const char *conn,
    const char *event, const char *data,
    void (*done)(void *arg, int rc, const char *msg), void *arg)
{ if (done) done(arg, 0, NULL); return 0; }
void presence_conn_gone(const char *conn, int clean) { (void)conn; }
json_t *presence_members(const char *stream) { return json_array(); }
int64_t presence_grace_s(void) { return 15; }
int cursor_set(const char *stream, const char *member, int64_t seq,
    void (*done)(void *arg, int rc, int64_t unread, const char *msg),
    void *arg)
{ if (done) done(arg, 0, 0, NULL); return 0; }
