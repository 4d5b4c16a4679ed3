/* producer.c: whether an idempotent producer's write is admitted. */
#include "internal.h"

/*
 * The one set of rules both protocols follow (sess_append() and the
 * Durable Streams POST): an epoch below the current one is fenced; a
 * higher one must start again at position 0, and supersedes the old;
 * within an epoch, positions already written are duplicates and a
 * write past the next position is a gap.  A producer not seen yet
 * starts at 0 too, but what it lacks is the positions before, so that
 * is a gap.  ps changes only when the write is admitted.
 */
int
sess_producer_admit(struct sess_pstate *ps, const char *id, int64_t epoch,
    int64_t pseq, int64_t units, struct sess_admit *out, struct sess_err *e)
{
	struct sess_pstate to = *ps;

	out->verdict = SESS_ADMIT_WRITE;
	out->supersede = 0;
	out->old_epoch = ps->epoch;
	out->skip = 0;
	out->expected = 0;
	if (to.found && epoch < to.epoch)
		return sess_err_set(e, SESS_ESTALE, "producer '%s': stale "
		    "epoch %lld (current epoch is %lld)", id, (long long)epoch,
		    (long long)to.epoch);
	if (!to.found || epoch > to.epoch) {
		if (to.found && pseq != 0)
			return sess_err_set(e, SESS_EINVAL, "producer '%s': new "
			    "epoch %lld must start at sequence 0, not %lld", id,
			    (long long)epoch, (long long)pseq);
		out->supersede = to.found;
		to.found = 1;
		to.epoch = epoch;
		to.next = 0;
	}
	out->expected = to.next;
	if (pseq > to.next)
		return sess_err_set(e, SESS_EGAP, "producer '%s': sequence "
		    "gap: expected %lld, got %lld", id, (long long)to.next,
		    (long long)pseq);
	if (pseq + units <= to.next) {
		out->verdict = SESS_ADMIT_DUPLICATE;
		return 0;
	}
	out->skip = to.next - pseq;
	to.next = pseq + units;
	*ps = to;
	return 0;
}
