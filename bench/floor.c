/* floor.c: the floor for appends, plain SQLite inserts of the rows sess-pub writes. */
/*
 * usage: floor DB ROWS full|normal FILE [STREAM [BATCH]]
 *
 * Inserts the first ROWS lines of FILE (JSON lines, one value each) into
 * the events table of an existing sess store, exactly as sess-pub would
 * store them (same columns, same pragmas, data bound as text, type taken
 * from a leading "type" member), BATCH rows (default 1000) per
 * BEGIN IMMEDIATE ... COMMIT, updating streams.tail in each transaction.
 * No JSON parsing, no wake file, no per-row checks: what is left is what
 * SQLite itself costs.  The store and the stream must exist already (the
 * bench scripts create them with sess-pub).
 *
 * Prints one JSON object on stdout; the time covers opening the store,
 * every transaction and closing it, not reading FILE (it is mapped and
 * pre-faulted first).
 */
#include <err.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		errx(1, "%s: %s", sql, msg ? msg : sqlite3_errmsg(db));
}

static sqlite3_stmt *
prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s,
	    NULL) != SQLITE_OK)
		errx(1, "prepare: %s", sqlite3_errmsg(db));
	return s;
}

static long long
num(const char *s, const char *what)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1)
		errx(2, "%s: '%s' is not a positive number", what, s);
	return v;
}

/* The "type" string if the line starts with {"type":"...", else NULL. */
static const char *
leading_type(const char *p, const char *end, int *len)
{
	static const char key[] = "{\"type\":\"";
	const char *q;

	if ((size_t)(end - p) < sizeof(key) - 1 ||
	    memcmp(p, key, sizeof(key) - 1) != 0)
		return NULL;
	p += sizeof(key) - 1;
	if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
		return NULL;
	*len = (int)(q - p);
	return p;
}

int
main(int argc, char **argv)
{
	const char *dbpath, *file, *stream = "s", *sync, *p, *end, *nl, *type;
	sqlite3_stmt *get, *put, *tail;
	long long rows, batch = 1000, done = 0, i, ntx = 0;
	int64_t id, seq, t;
	struct stat sb;
	sqlite3 *db;
	double t0, t1;
	char *map;
	int fd, tlen;
	volatile char sink = 0;

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: floor DB ROWS full|normal FILE "
		    "[STREAM [BATCH]]\n");
		return 2;
	}
	dbpath = argv[1];
	rows = num(argv[2], "ROWS");
	sync = argv[3];
	if (strcmp(sync, "full") != 0 && strcmp(sync, "normal") != 0)
		errx(2, "sync mode '%s' is not full or normal", sync);
	file = argv[4];
	if (argc > 5)
		stream = argv[5];
	if (argc > 6)
		batch = num(argv[6], "BATCH");

	if ((fd = open(file, O_RDONLY)) < 0 || fstat(fd, &sb) != 0)
		err(1, "%s", file);
	if (sb.st_size == 0)
		errx(1, "%s: empty", file);
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE |
	    MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		err(1, "%s", file);
	close(fd);
	for (i = 0; i < sb.st_size; i += 4096)
		sink ^= map[i];
	end = map + sb.st_size;

	t0 = now_s();
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		errx(1, "%s: %s", dbpath, sqlite3_errmsg(db));
	sqlite3_busy_timeout(db, 10000);
	/* The same pragmas, in the same order, as lib/store.c. */
	exec(db, "PRAGMA journal_mode=WAL");
	exec(db, strcmp(sync, "full") == 0 ? "PRAGMA synchronous=FULL" :
	    "PRAGMA synchronous=NORMAL");
	exec(db, "PRAGMA mmap_size=268435456; PRAGMA cache_size=-16384; "
	    "PRAGMA temp_store=MEMORY");

	get = prep(db, "SELECT id, tail FROM streams WHERE name = ?1");
	put = prep(db, "INSERT INTO events (stream, seq, time, type, producer, "
	    "epoch, pseq, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	tail = prep(db, "UPDATE streams SET tail = ?1 WHERE id = ?2");

	p = map;
	while (done < rows && p < end) {
		exec(db, "BEGIN IMMEDIATE");
		/* Read the tail under the write lock, as sess_append does. */
		sqlite3_reset(get);
		sqlite3_bind_text(get, 1, stream, -1, SQLITE_STATIC);
		if (sqlite3_step(get) != SQLITE_ROW)
			errx(1, "%s: no stream '%s' (create it first)", dbpath,
			    stream);
		id = sqlite3_column_int64(get, 0);
		seq = sqlite3_column_int64(get, 1);
		sqlite3_reset(get);
		t = now_us();
		for (i = 0; i < batch && done < rows && p < end; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			if (nl == p)
				continue;
			sqlite3_reset(put);
			sqlite3_bind_int64(put, 1, id);
			sqlite3_bind_int64(put, 2, ++seq);
			sqlite3_bind_int64(put, 3, t);
			if ((type = leading_type(p, nl, &tlen)) != NULL)
				sqlite3_bind_text(put, 4, type, tlen,
				    SQLITE_STATIC);
			else
				sqlite3_bind_null(put, 4);
			/* No producer: columns 5-7 stay NULL. */
			sqlite3_bind_text(put, 8, p, (int)(nl - p),
			    SQLITE_STATIC);
			if (sqlite3_step(put) != SQLITE_DONE)
				errx(1, "insert: %s", sqlite3_errmsg(db));
			i++;
			done++;
		}
		sqlite3_reset(tail);
		sqlite3_bind_int64(tail, 1, seq);
		sqlite3_bind_int64(tail, 2, id);
		if (sqlite3_step(tail) != SQLITE_DONE)
			errx(1, "update tail: %s", sqlite3_errmsg(db));
		exec(db, "COMMIT");
		ntx++;
	}
	sqlite3_finalize(get);
	sqlite3_finalize(put);
	sqlite3_finalize(tail);
	if (sqlite3_close(db) != SQLITE_OK)
		errx(1, "close: %s", sqlite3_errmsg(db));
	t1 = now_s();
	munmap(map, (size_t)sb.st_size);

	if (done < rows)
		warnx("%s: only %lld rows", file, done);
	printf("{\"events\":%lld,\"sync\":\"%s\",\"batch\":%lld,"
	    "\"transactions\":%lld,\"seconds\":%.3f,\"events_per_s\":%.0f}\n",
	    done, sync, batch, ntx, t1 - t0, (double)done / (t1 - t0));
	if (fflush(stdout) != 0 || ferror(stdout))
		err(1, "stdout");
	return 0;
}
