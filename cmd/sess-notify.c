/* sess-notify: deliver notifications to members who are away, once, with retries. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tool.h"

#define FLUSH_AT 256
#define DRY_MAX 100000
#define FOLLOW_MS 1000
#define RECLAIM_US (60 * 1000000LL)
#define REMOTE_MAX 4096           /* rows a remote claim asks for at most */
#define REMOTE_MS 60000L

static void
usage(FILE *f)
{
	fprintf(f, "usage: sess-notify [-fnov] [-b MS] [-c COUNT] "
	    "[-d FILE | -u URL] [-g SECS]\n"
	    "                   [-m TRIES] [-t SECS]\n"
	    "       sess-notify [-d FILE | -u URL] -r MEMBER KIND TARGET\n"
	    "       sess-notify [-d FILE | -u URL] -x MEMBER KIND TARGET\n"
	    "       sess-notify [-d FILE | -u URL] -k\n");
	exit(f == stdout ? 0 : EXIT_USAGE);
}

static const struct option longopts[] = {
	{ "backoff", required_argument, NULL, 'b' },
	{ "concurrency", required_argument, NULL, 'c' },
	{ "db", required_argument, NULL, 'd' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "follow", no_argument, NULL, 'f' },
	{ "grace", required_argument, NULL, 'g' },
	{ "help", no_argument, NULL, 'h' },
	{ "keys", no_argument, NULL, 'k' },
	{ "max-tries", required_argument, NULL, 'm' },
	{ "register", required_argument, NULL, 'r' },
	{ "remove", required_argument, NULL, 'x' },
	{ "stdout", no_argument, NULL, 'o' },
	{ "timeout", required_argument, NULL, 't' },
	{ "url", required_argument, NULL, 'u' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	stopping = 1;
}

struct counts {
	long sent, skipped, failed, retrying;  /* sent: planned, if -n */
};

struct run {
	struct sess_store *st;
	struct sess_remote *rm;   /* remote mode (-u): the sessd */
	const char *url;
	struct sess_notify_cfg cfg;
	char holder[128];
	int reclaim;              /* remote: ask the next claim to reclaim */
	int64_t next;             /* remote: when a row is due next, or 0 */
	struct sess_notify *n;
	struct sess_send_cfg sc;
	CURLM *multi;
	struct sess_watch *watch;
	struct sess_note *done;
	size_t ndone, inflight, conc;
	int verbose, dry, follow;
	struct counts c;
	json_t *waits;            /* rows held back for the grace, by key */
	char *conf;               /* the channel file, FILE.notify */
	struct stat conf_st;      /* as it was when last read */
	int conf_seen;
	char *secret, *vapid;     /* the keys, unless a dry run */
	char from[300];           /* sess@HOST, the default sender */
};

/* s, or "" for NULL. */
static const char *
str(const char *s)
{
	return s != NULL ? s : "";
}

/*
 * Notes which rows wait for the grace, so that a row a claim reports
 * again (each pass lists what waits) counts once, and a row that has
 * been decided since no longer counts.  Returns whether a waiting row
 * is new.
 */
static int
waits(struct run *r, int wait, const char *stream, const char *off,
    const char *member, const char *kind, const char *target)
{
	char *k;
	int fresh;

	if (asprintf(&k, "%s\n%s\n%s\n%s\n%s", str(stream), str(off),
	    str(member), str(kind), str(target)) < 0)
		err(EXIT_TEMP, "out of memory");
	fresh = wait && json_object_get(r->waits, k) == NULL;
	if (fresh && json_object_set_new(r->waits, k, json_true()) != 0)
		err(EXIT_TEMP, "out of memory");
	if (!wait)
		json_object_del(r->waits, k);
	free(k);
	return fresh;
}

/* Decisions from the outbox: skips, waits and failures found there. */
static void
on_report(const char *json, void *arg)
{
	struct run *r = arg;
	json_t *v;
	const char *a;
	int fresh;

	if (r->dry) {
		tool_write(json, strlen(json));
		tool_write("\n", 1);
		tool_flush();
	}
	if ((v = json_loads(json, 0, NULL)) == NULL)
		return;
	a = json_string_value(json_object_get(v, "action"));
	fresh = waits(r, a != NULL && strcmp(a, "wait") == 0,
	    json_string_value(json_object_get(v, "stream")),
	    json_string_value(json_object_get(v, "offset")),
	    json_string_value(json_object_get(v, "member")),
	    json_string_value(json_object_get(v, "channel")),
	    json_string_value(json_object_get(v, "target")));
	if (a != NULL && strcmp(a, "skip") == 0)
		r->c.skipped++;
	else if (a != NULL && strcmp(a, "fail") == 0)
		r->c.failed++;
	else if (a != NULL && strcmp(a, "wait") == 0 && !fresh)
		a = NULL;
	if (r->verbose && !r->dry && a != NULL && strcmp(a, "send") != 0)
		fprintf(stderr, "sess-notify: %s %s %s %s %s: %s\n", a,
		    json_string_value(json_object_get(v, "stream")),
		    json_string_value(json_object_get(v, "offset")),
		    json_is_string(json_object_get(v, "member")) ?
		    json_string_value(json_object_get(v, "member")) : "-",
		    json_is_string(json_object_get(v, "channel")) ?
		    json_string_value(json_object_get(v, "channel")) : "-",
		    json_string_value(json_object_get(v, "reason")));
	json_decref(v);
}

/* A JSON request to the sessd's notify outbox (WHAT); the answer (new). */
static json_t *
call(struct run *r, const char *method, const char *what, json_t *body)
{
	struct sess_err e;
	json_t *v;

	v = sess_remote_notify(r->rm, method, what, body, REMOTE_MS, &e);
	json_decref(body);
	if (v == NULL) {
		if (e.code == SESS_ENOENT)
			errx(EXIT_NO, "%s", e.msg);
		tool_die(&e);
	}
	return v;
}

static json_t *
pass_cfg(struct run *r)
{
	json_t *v = json_pack("{s:s, s:I, s:i, s:I, s:I, s:b, s:b}", "holder",
	    r->holder, "grace", (json_int_t)r->cfg.grace, "max_tries",
	    r->cfg.max_tries, "backoff", (json_int_t)r->cfg.backoff, "lease",
	    (json_int_t)r->cfg.lease, "stdout", r->cfg.stdout_kind, "dry",
	    r->cfg.dry);

	if (v == NULL)
		errx(EXIT_TEMP, "out of memory");
	return v;
}

/* sess_notify_claim() through the sessd. */
static void
remote_claim(struct run *r, size_t want, struct sess_note *notes, size_t *n)
{
	json_t *req = pass_cfg(r), *v, *x;
	struct sess_err e;
	size_t i;

	if (want > REMOTE_MAX)
		want = REMOTE_MAX;
	json_object_set_new(req, "max", json_integer((json_int_t)want));
	json_object_set_new(req, "reclaim", json_boolean(r->reclaim));
	v = call(r, "POST", "claim", req);
	r->reclaim = 0;
	json_array_foreach(json_object_get(v, "reports"), i, x)
		if (json_is_string(x))
			on_report(json_string_value(x), r);
	*n = 0;
	json_array_foreach(json_object_get(v, "notes"), i, x) {
		if (*n >= want)
			break;
		if (sess_note_from_json(x, &notes[*n], &e) != 0)
			errx(EXIT_TEMP, "%s: claim: %s", r->url,
			    e.msg);
		(*n)++;
	}
	r->next = json_integer_value(json_object_get(v, "next"));
	json_decref(v);
}

/* sess_notify_finish() through the sessd: lost and next_try come back. */
static void
remote_finish(struct run *r)
{
	json_t *req = pass_cfg(r), *arr = json_array(), *v, *x;
	size_t i;

	for (i = 0; i < r->ndone; i++)
		json_array_append_new(arr, sess_note_to_json(&r->done[i]));
	json_object_set_new(req, "notes", arr);
	v = call(r, "POST", "finish", req);
	json_array_foreach(json_object_get(v, "notes"), i, x) {
		if (i >= r->ndone)
			break;
		r->done[i].lost = json_is_true(json_object_get(x, "lost"));
		r->done[i].next_try = json_integer_value(json_object_get(x,
		    "next_try"));
	}
	if (i != r->ndone)
		errx(EXIT_TEMP, "%s: finish: the sessd answered for %zu of "
		    "%zu", r->url, i, r->ndone);
	json_decref(v);
}

static void
flush(struct run *r)
{
	struct sess_err e;
	size_t i;

	if (r->ndone == 0)
		return;
	if (r->rm != NULL)
		remote_finish(r);
	else if (sess_notify_finish(r->n, r->done, r->ndone, &e) != 0)
		tool_die(&e);
	for (i = 0; i < r->ndone; i++) {
		struct sess_note *no = &r->done[i];
		const char *what = "sent";

		if (no->lost)
			what = "lost its lease";
		else if (no->result == SESS_NOTE_SENT)
			r->c.sent++;
		else if (no->next_try > 0) {
			what = "will retry";
			r->c.retrying++;
		} else {
			what = "failed";
			r->c.failed++;
		}
		if (r->verbose)
			fprintf(stderr, "sess-notify: %s %s %016lld %s %s "
			    "attempt %d: %s%s%s\n", no->kind, no->stream,
			    (long long)no->seq, no->member, no->target,
			    no->attempts, what, no->error[0] ? ": " : "",
			    no->error);
		sess_note_free(no);
	}
	r->ndone = 0;
}

static void
finished(struct run *r, struct sess_note *no)
{
	r->done[r->ndone++] = *no;
	memset(no, 0, sizeof(*no));
	if (r->ndone >= FLUSH_AT)
		flush(r);
}

/* The stdout channel: the line is written and flushed, then it is sent. */
static void
to_stdout(struct run *r, struct sess_note *no)
{
	char *line = sess_send_line(no, r->sc.link_base);

	if (line == NULL || tool_write(line, strlen(line)) != 0 ||
	    tool_write("\n", 1) != 0 || tool_flush() != 0) {
		no->result = SESS_NOTE_RETRY;
		snprintf(no->error, sizeof(no->error), "stdout: cannot write");
		stopping = 1;
	} else
		no->result = SESS_NOTE_SENT;
	free(line);
	finished(r, no);
}

/* A request in flight with the row it delivers. */
struct job {
	struct sess_send *s;
	struct sess_note no;
};

static void
start(struct run *r, struct sess_note *no)
{
	struct sess_err e;
	struct job *j;

	if (strcmp(no->kind, "stdout") == 0) {
		to_stdout(r, no);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		err(EXIT_TEMP, "out of memory");
	if ((j->s = sess_send_new(no, &r->sc, &e)) == NULL) {
		/* A row that can never be sent fails with the reason. */
		no->result = e.code == SESS_EINVAL ? SESS_NOTE_FAIL :
		    SESS_NOTE_RETRY;
		snprintf(no->error, sizeof(no->error), "%.250s", e.msg);
		finished(r, no);
		free(j);
		return;
	}
	j->no = *no;
	memset(no, 0, sizeof(*no));
	curl_easy_setopt(sess_send_handle(j->s), CURLOPT_PRIVATE, j);
	if (curl_multi_add_handle(r->multi, sess_send_handle(j->s)) !=
	    CURLM_OK)
		errx(EXIT_TEMP, "cannot start a transfer");
	r->inflight++;
}

static void
reap(struct run *r)
{
	struct job *j;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		curl_multi_remove_handle(r->multi, m->easy_handle);
		sess_send_result(j->s, m->data.result, &j->no);
		sess_send_free(j->s);
		r->inflight--;
		finished(r, &j->no);
		free(j);
	}
}

/* Claims what the free slots can take and starts it; 0 if none was due. */
static size_t
claim(struct run *r)
{
	struct sess_note *notes;
	struct sess_err e;
	size_t want = r->dry ? DRY_MAX : r->conc - r->inflight, n, i;

	if (r->rm != NULL && want > REMOTE_MAX)
		want = REMOTE_MAX;
	if ((notes = calloc(want, sizeof(*notes))) == NULL)
		err(EXIT_TEMP, "out of memory");
	if (r->rm != NULL)
		remote_claim(r, want, notes, &n);
	else if (sess_notify_claim(r->n, want, notes, &n, &e) != 0)
		tool_die(&e);
	for (i = 0; i < n; i++) {
		char off[SESS_OFFSET_LEN + 1];

		sess_offset_fmt(notes[i].seq, off);
		waits(r, 0, notes[i].stream, off, notes[i].member,
		    notes[i].kind, notes[i].target);
		if (r->dry) {
			r->c.sent++;
			sess_note_free(&notes[i]);
		} else
			start(r, &notes[i]);
	}
	free(notes);
	return n;
}

static char *
make_secret(void)
{
	return sess_random_hex(32);
}

static char *
key(struct sess_store *st, const char *name, char *(*make)(void))
{
	struct sess_err e;
	char *v;

	if (sess_notify_key(st, 1, name, make, &v, &e) != 0)
		tool_die(&e);
	return v;
}

/* The webhook secret and the VAPID key pair from the sessd (new). */
static void
remote_keys(struct run *r, char **secret, char **vapid)
{
	json_t *v = call(r, "POST", "keys", NULL);
	const char *s = json_string_value(json_object_get(v, "webhook_secret"));
	const char *p = json_string_value(json_object_get(v, "vapid"));

	if (s == NULL || p == NULL)
		errx(EXIT_TEMP, "%s: keys: the sessd's answer has no keys",
		    r->url);
	if ((*secret = strdup(s)) == NULL || (*vapid = strdup(p)) == NULL)
		err(EXIT_TEMP, "out of memory");
	json_decref(v);
}

static int
keys(struct run *r)
{
	char *secret, *vapid, *pub;
	json_t *v;
	char *line;

	if (r->rm != NULL)
		remote_keys(r, &secret, &vapid);
	else {
		secret = key(r->st, "webhook-secret", make_secret);
		vapid = key(r->st, "vapid", sess_push_vapid_new);
	}
	if ((pub = sess_push_vapid_public(vapid)) == NULL)
		errx(EXIT_TEMP, "cannot read the VAPID key");
	v = json_pack("{s:s, s:s}", "webhook_secret", secret,
	    "vapid_public_key", pub);
	line = v ? json_dumps(v, JSON_COMPACT) : NULL;
	if (line == NULL)
		err(EXIT_TEMP, "out of memory");
	tool_write(line, strlen(line));
	tool_write("\n", 1);
	free(line);
	json_decref(v);
	free(secret);
	free(vapid);
	free(pub);
	return tool_finish(0);
}

static int
channel(struct run *r, int add, const char *member, int argc, char **argv)
{
	struct sess_store *st = r->st;
	struct sess_err e;
	char *canon;
	int rc;

	if (argc != 2)
		usage(stderr);
	if (r->rm != NULL) {
		/* Checked here first: the same refusals as in the store. */
		if (add && (rc = sess_notify_channel_check(argv[0], argv[1],
		    &canon, &e)) != 0)
			tool_die(&e);
		if (add)
			free(canon);
		json_decref(call(r, add ? "POST" : "DELETE", "channels",
		    json_pack("{s:s, s:s, s:s}", "member", member, "kind",
		    argv[0], "target", argv[1])));
		return tool_finish(0);
	}
	if (add)
		rc = sess_notify_channel_add(st, 1, member, argv[0], argv[1],
		    &e);
	else
		rc = sess_notify_channel_del(st, 1, 0, member, argv[0], argv[1],
		    &e);
	if (rc < 0)
		tool_die(&e);
	return tool_finish(0);
}

/* v, if it is set and not empty, else def. */
static const char *
env(const char *v, const char *def)
{
	return v != NULL && *v != '\0' ? v : def;
}

static long long
num(const char *opt, const char *s, long long min, long long max)
{
	long long v = tool_num(s, max);

	if (v < min)
		errx(EXIT_USAGE, "-%s: '%s' is not a number from %lld to %lld",
		    opt, s, min, max);
	return v;
}

/*
 * Reads the channel file and makes the store's channels from it agree,
 * or only checks it in a dry run.  A malformed file ends a pass with
 * its error; a follower says so and keeps the channels it had.
 */
static void
config(struct run *r, int fatal)
{
	struct sess_err e;
	int rc;

	r->conf_seen = stat(r->conf, &r->conf_st) == 0;
	if ((rc = sess_notify_config_sync(r->st, r->conf, r->dry, &e)) < 0) {
		if (fatal || e.code != SESS_EINVAL)
			tool_die(&e);
		warnx("%s (the channels stay as they were)", e.msg);
		return;
	}
	if (rc > 0) {
		if (r->verbose)
			fprintf(stderr, "sess-notify: %s: %d channel%s added "
			    "or removed\n", r->conf, rc, rc == 1 ? "" : "s");
		sess_notify_rescan(r->n);
	}
}

/* Whether the channel file changed since it was last read. */
static int
config_changed(struct run *r)
{
	struct stat sb;
	int seen = stat(r->conf, &sb) == 0;

	if (seen != r->conf_seen)
		return 1;
	return seen && (sb.st_ino != r->conf_st.st_ino ||
	    sb.st_size != r->conf_st.st_size ||
	    sb.st_mtim.tv_sec != r->conf_st.st_mtim.tv_sec ||
	    sb.st_mtim.tv_nsec != r->conf_st.st_mtim.tv_nsec);
}

/* Waits for a transfer, a change in the store, or the next due row. */
static void
wait_some(struct run *r, int idle)
{
	struct curl_waitfd wfd[2];
	struct sess_err e;
	int64_t when, now;
	int ms = 100, nfd = 0, w = -1, h = -1;

	if (idle) {
		if (r->rm != NULL)
			when = r->next;
		else if (sess_notify_next(r->n, &when, &e) != 0)
			tool_die(&e);
		now = sess_now();
		ms = FOLLOW_MS;
		if (when > 0 && when - now < (int64_t)ms * 1000)
			ms = when <= now ? 0 : (int)((when - now + 999) / 1000);
	}
	if (r->watch != NULL && sess_watch_fd(r->watch) >= 0) {
		wfd[nfd].fd = sess_watch_fd(r->watch);
		wfd[nfd].events = CURL_WAIT_POLLIN;
		wfd[nfd].revents = 0;
		w = nfd++;
	}
	if (r->follow && r->cfg.stdout_kind) {
		/* -f -o: the reader of what it prints going away ends it. */
		wfd[nfd].fd = 1;
		wfd[nfd].events = 0;
		wfd[nfd].revents = 0;
		h = nfd++;
	}
	curl_multi_poll(r->multi, wfd, (unsigned)nfd, ms, NULL);
	if (h >= 0 && sess_hangup_wait(1, 0))
		stopping = 1;
	if (w >= 0 && wfd[w].revents)
		sess_watch_drain(r->watch);
	/*
	 * New events may have come: every commit touches the wake file,
	 * and an idle follower looks once a second in any case.
	 */
	if (r->n != NULL && (idle || (w >= 0 && wfd[w].revents)))
		sess_notify_rescan(r->n);
	if (idle && r->rm == NULL && config_changed(r))
		config(r, 0);
}

/* What the command line asks for, besides what goes in struct run. */
struct opts {
	const char *db, *url, *member;
	int op;                   /* 'k', 'r', 'x', or 0 for a pass */
	int oflag;
	long long timeout;        /* seconds a send may take */
	char **args;
	int nargs;
};

static void
options(struct run *r, struct opts *o, int argc, char **argv)
{
	int c;

	while ((c = getopt_long(argc, argv, "b:c:d:fg:hkm:nor:t:u:vx:",
	    longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			r->cfg.backoff = num("b", optarg, 1, 3600000) * 1000;
			break;
		case 'c':
			r->conc = (size_t)num("c", optarg, 1, 4096);
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'f':
			r->follow = 1;
			break;
		case 'g':
			r->cfg.grace = num("g", optarg, 0, 86400) * 1000000;
			break;
		case 'h':
			usage(stdout);
			break;
		case 'k':
		case 'r':
		case 'x':
			if (o->op != 0 && o->op != c)
				usage(stderr);
			o->op = c;
			o->member = optarg;
			break;
		case 'm':
			r->cfg.max_tries = (int)num("m", optarg, 1, 1000);
			break;
		case 'n':
			r->dry = 1;
			break;
		case 'o':
			o->oflag = 1;
			break;
		case 't':
			o->timeout = num("t", optarg, 1, 3600);
			break;
		case 'u':
			o->url = optarg;
			break;
		case 'v':
			r->verbose = 1;
			break;
		default:
			usage(stderr);
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	if (o->op != 'r' && o->op != 'x' && o->nargs != 0)
		usage(stderr);
	if (r->dry && (r->follow || o->oflag))
		errx(EXIT_USAGE, "-n is a single pass that sends nothing: not "
		    "with -f or -o");
}

/* How the channels send: the keys, SMTP, links, from the environment. */
static void
send_setup(struct run *r, long long timeout)
{
	char host[256];

	/* A dry run sends nothing and must not make keys either. */
	if (!r->dry && r->rm != NULL)
		remote_keys(r, &r->secret, &r->vapid);
	else if (!r->dry) {
		r->secret = key(r->st, "webhook-secret", make_secret);
		r->vapid = key(r->st, "vapid", sess_push_vapid_new);
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(r->from, sizeof(r->from), "sess@%s", host);
	r->sc.secret = r->secret;
	r->sc.vapid = r->vapid;
	r->sc.vapid_subject = env(getenv("SESS_VAPID_SUBJECT"),
	    "mailto:sess@localhost");
	r->sc.push_ttl = 86400;
	r->sc.smtp_url = env(getenv("SESS_SMTP_URL"), NULL);
	r->sc.smtp_from = env(getenv("SESS_SMTP_FROM"), r->from);
	r->sc.smtp_starttls = strcmp(env(getenv("SESS_SMTP_STARTTLS"), "0"),
	    "0") != 0;
	r->sc.link_base = env(getenv("SESS_LINK_URL"), NULL);
	r->sc.cainfo = env(getenv("SESS_CA_FILE"), NULL);
	r->sc.timeout_ms = (long)timeout * 1000;
	if (strchr(r->sc.smtp_from, '\r') || strchr(r->sc.smtp_from, '\n'))
		errx(EXIT_USAGE, "SESS_SMTP_FROM: CR or LF in an address");
}

/* The outbox (or the sessd's), the channel file, transfers, signals. */
static void
pass_setup(struct run *r, int oflag, long long timeout)
{
	struct sess_err e;
	struct sigaction sa;

	/* A lease outlives the longest send, so no one else takes it. */
	r->cfg.lease = (2 * timeout + 60) * 1000000;
	r->cfg.stdout_kind = oflag || r->dry;
	r->cfg.dry = r->dry;
	r->cfg.report = on_report;
	r->cfg.arg = r;
	if ((r->waits = json_object()) == NULL)
		err(EXIT_TEMP, "out of memory");
	sess_notify_self(r->holder, sizeof(r->holder));
	/*
	 * Remote, the sessd reads the channel file beside its store at each
	 * claim, and takes leases back when the first claim asks it to.
	 */
	if (r->rm != NULL)
		r->reclaim = !r->dry;
	else {
		if ((r->n = sess_notify_open(r->st, &r->cfg, &e)) == NULL)
			tool_die(&e);
		if (asprintf(&r->conf, "%s.notify", sess_store_path(r->st)) < 0)
			err(EXIT_TEMP, "out of memory");
		config(r, 1);
	}
	if ((r->done = calloc(r->conc + FLUSH_AT, sizeof(*r->done))) == NULL ||
	    (r->multi = curl_multi_init()) == NULL)
		err(EXIT_TEMP, "out of memory");
	curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)r->conc);
	if (r->follow && r->st != NULL &&
	    (r->watch = sess_watch_open(r->st, &e)) == NULL)
		tool_die(&e);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* A follower, idle: waits, then takes dead holders' leases back. */
static void
idle(struct run *r, int64_t *last_reclaim)
{
	struct sess_err e;

	wait_some(r, 1);
	if (sess_now() - *last_reclaim > RECLAIM_US) {
		if (r->rm != NULL)
			r->reclaim = 1;
		else if (sess_notify_reclaim(r->n, &e) < 0)
			tool_die(&e);
		*last_reclaim = sess_now();
	}
}

/* Claims, sends and records until nothing is due (or, with -f, a signal). */
static void
loop(struct run *r)
{
	struct sess_err e;
	int64_t last_reclaim;
	int drained = 0, running;

	if (!r->dry && r->n != NULL && sess_notify_reclaim(r->n, &e) < 0)
		tool_die(&e);
	last_reclaim = sess_now();
	for (;;) {
		/*
		 * Refill once an eighth of the slots is free: claims come in
		 * batches (one transaction each), yet the slots stay busy.
		 */
		if (!stopping && !drained &&
		    r->inflight <= r->conc - (r->conc + 7) / 8) {
			if (claim(r) == 0)
				drained = 1;
			if (r->dry)
				break;
		}
		curl_multi_perform(r->multi, &running);
		reap(r);
		/*
		 * What the providers accepted is recorded at once, in one
		 * transaction per round: a kill between a provider's answer
		 * and this commit is the only way a send can be repeated,
		 * and the window stays that short.
		 */
		if (r->ndone > 0) {
			flush(r);
			drained = 0;
		}
		if (r->inflight == 0 && r->ndone == 0 &&
		    (drained || stopping)) {
			if (!r->follow || stopping)
				break;
			idle(r, &last_reclaim);
			drained = 0;
			continue;
		}
		if (r->inflight > 0)
			wait_some(r, 0);
	}
	flush(r);
}

int
main(int argc, char **argv)
{
	struct run r = { .conc = 256, .cfg = { .grace = 30 * 1000000LL } };
	struct opts o = { .timeout = 30 };
	struct sess_conn *conn;
	int c, closed;

	closed = tool_init() != 0;
	options(&r, &o, argc, argv);
	/* Only what prints needs a standard output. */
	if (closed && (o.oflag || r.dry || o.op == 'k'))
		errx(EXIT_TEMP, "stdout: %s", strerror(EBADF));
	conn = tool_conn(o.db, o.url, tool_sync(NULL));
	r.st = sess_conn_store(conn);
	if ((r.rm = sess_conn_remote(conn)) != NULL)
		r.url = o.url != NULL ? o.url : getenv("SESS_URL");
	if (o.op != 0) {
		c = o.op == 'k' ? keys(&r) : channel(&r, o.op == 'r', o.member,
		    o.nargs, o.args);
		sess_conn_close(conn);
		return c;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		errx(EXIT_TEMP, "cannot initialise libcurl");
	send_setup(&r, o.timeout);
	pass_setup(&r, o.oflag, o.timeout);
	loop(&r);
	fprintf(stderr, "sess-notify: %ld %s, %ld skipped, %ld failed, "
	    "%ld retrying, %zu waiting%s\n", r.c.sent, r.dry ? "would send" :
	    "sent", r.c.skipped, r.c.failed, r.c.retrying,
	    json_object_size(r.waits), r.dry ? " (dry run: nothing changed)" :
	    "");
	json_decref(r.waits);
	sess_watch_close(r.watch);
	curl_multi_cleanup(r.multi);
	sess_notify_close(r.n);
	sess_conn_close(conn);
	free(r.done);
	free(r.conf);
	free(r.secret);
	free(r.vapid);
	curl_global_cleanup();
	return tool_finish(0);
}
