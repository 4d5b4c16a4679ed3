/* test-producer.c: producer admission (producer.c), every case. */
#include "internal.h"
#include "unit.h"

static struct sess_pstate
state(int found, int64_t epoch, int64_t next)
{
	struct sess_pstate ps = { found, epoch, next };

	return ps;
}

static int
same(const struct sess_pstate *a, int found, int64_t epoch, int64_t next)
{
	return a->found == found && a->epoch == epoch && a->next == next;
}

static void
within_epoch(void)
{
	struct sess_pstate ps = state(1, 2, 5);
	struct sess_admit ad;
	struct sess_err e;

	ok(sess_producer_admit(&ps, "p", 2, 5, 1, &ad, &e) == 0 &&
	    ad.verdict == SESS_ADMIT_WRITE && !ad.supersede && ad.skip == 0 &&
	    same(&ps, 1, 2, 6), "same epoch, next seq: written, next moves on");
	ok(sess_producer_admit(&ps, "p", 2, 3, 1, &ad, &e) == 0 &&
	    ad.verdict == SESS_ADMIT_DUPLICATE && same(&ps, 1, 2, 6),
	    "a seq already written is a duplicate; the state stays");
	ok(sess_producer_admit(&ps, "p", 2, 5, 1, &ad, &e) == 0 &&
	    ad.verdict == SESS_ADMIT_DUPLICATE,
	    "the last seq written again is a duplicate too");
	ok(sess_producer_admit(&ps, "p", 2, 8, 1, &ad, &e) == SESS_EGAP &&
	    ad.expected == 6 && same(&ps, 1, 2, 6) && strcmp(e.msg,
	    "producer 'p': sequence gap: expected 6, got 8") == 0,
	    "a gap is SESS_EGAP naming the expected seq: %s", e.msg);
	/* A text chunk takes as many positions as it has bytes. */
	ok(sess_producer_admit(&ps, "p", 2, 4, 5, &ad, &e) == 0 &&
	    ad.verdict == SESS_ADMIT_WRITE && ad.skip == 2 &&
	    same(&ps, 1, 2, 9), "a chunk straddling the written point: "
	    "its first 2 positions are skipped");
	ok(sess_producer_admit(&ps, "p", 2, 4, 5, &ad, &e) == 0 &&
	    ad.verdict == SESS_ADMIT_DUPLICATE, "the same chunk again is a "
	    "duplicate");
}

static void
epochs(void)
{
	struct sess_pstate ps = state(1, 2, 6);
	struct sess_admit ad;
	struct sess_err e;

	ok(sess_producer_admit(&ps, "p", 1, 6, 1, &ad, &e) == SESS_ESTALE &&
	    same(&ps, 1, 2, 6) && strcmp(e.msg, "producer 'p': stale epoch 1 "
	    "(current epoch is 2)") == 0,
	    "an older epoch is fenced (SESS_ESTALE), the state stays: %s",
	    e.msg);
	ok(sess_producer_admit(&ps, "p", 1, 0, 1, &ad, &e) == SESS_ESTALE,
	    "an older epoch is fenced at seq 0 too");
	ok(sess_producer_admit(&ps, "p", 3, 1, 1, &ad, &e) == SESS_EINVAL &&
	    same(&ps, 1, 2, 6) && strcmp(e.msg, "producer 'p': new epoch 3 "
	    "must start at sequence 0, not 1") == 0,
	    "a new epoch not at 0 is SESS_EINVAL (HTTP 400), the state "
	    "stays: %s", e.msg);
	ok(sess_producer_admit(&ps, "p", 3, 0, 1, &ad, &e) == 0 &&
	    ad.verdict == SESS_ADMIT_WRITE && ad.supersede &&
	    ad.old_epoch == 2 && same(&ps, 1, 3, 1),
	    "a new epoch at 0 is written and supersedes epoch 2");
	ok(sess_producer_admit(&ps, "p", 3, 1, 1, &ad, &e) == 0 &&
	    !ad.supersede && same(&ps, 1, 3, 2),
	    "the new epoch goes on without superseding again");
}

static void
unknown(void)
{
	struct sess_pstate ps = state(0, 0, 0);
	struct sess_admit ad;
	struct sess_err e;

	ok(sess_producer_admit(&ps, "q", 7, 2, 1, &ad, &e) == SESS_EGAP &&
	    ad.expected == 0 && !ps.found && strcmp(e.msg, "producer 'q': "
	    "sequence gap: expected 0, got 2") == 0,
	    "a producer not seen yet, not at 0: a gap from 0: %s", e.msg);
	ok(sess_producer_admit(&ps, "q", 7, 0, 1, &ad, &e) == 0 &&
	    ad.verdict == SESS_ADMIT_WRITE && !ad.supersede &&
	    same(&ps, 1, 7, 1), "a producer not seen yet, at 0: written at "
	    "its epoch, nothing superseded");
}

int
main(void)
{
	within_epoch();
	epochs();
	unknown();
	return unit_done();
}
