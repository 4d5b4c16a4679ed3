/* event.c: the session conventions on JSON events (type, msg, op, text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

static const char *const opnames[] = {
	[SESS_OP_NONE] = "",
	[SESS_OP_CREATE] = "create",
	[SESS_OP_APPEND] = "append",
	[SESS_OP_REPLACE] = "replace",
	[SESS_OP_FINISH] = "finish",
	[SESS_OP_DELETE] = "delete",
};

const char *
sess_op_name(int op)
{
	if (op < 0 || op > SESS_OP_DELETE)
		return "";
	return opnames[op];
}

int
sess_event_check(json_t *v, struct sess_evinfo *in, struct sess_err *e)
{
	json_t *type, *msg, *op, *text;
	int i;

	memset(in, 0, sizeof(*in));
	if (!json_is_object(v))
		return 0;
	type = json_object_get(v, "type");
	if (type != NULL) {
		if (!json_is_string(type))
			return sess_err_set(e, SESS_EINVAL,
			    "\"type\" must be a string");
		in->type = json_string_value(type);
	}
	msg = json_object_get(v, "msg");
	op = json_object_get(v, "op");
	if (msg == NULL && op == NULL)
		return 0;
	if (!json_is_string(msg) || json_string_length(msg) == 0)
		return sess_err_set(e, SESS_EINVAL,
		    "\"msg\" must be a non-empty string with \"op\"");
	if (!json_is_string(op))
		return sess_err_set(e, SESS_EINVAL,
		    "\"op\" must be a string with \"msg\"");
	in->msg = json_string_value(msg);
	for (i = SESS_OP_CREATE; i <= SESS_OP_DELETE; i++)
		if (strcmp(json_string_value(op), opnames[i]) == 0)
			in->op = i;
	if (in->op == SESS_OP_NONE)
		return sess_err_set(e, SESS_EINVAL,
		    "unknown op \"%.32s\" (create, append, replace, finish "
		    "or delete)", json_string_value(op));
	text = json_object_get(v, "text");
	if (text != NULL && !json_is_string(text))
		return sess_err_set(e, SESS_EINVAL, "\"text\" must be a string");
	if (text == NULL && (in->op == SESS_OP_APPEND ||
	    in->op == SESS_OP_REPLACE))
		return sess_err_set(e, SESS_EINVAL,
		    "op \"%s\" needs a \"text\" string", opnames[in->op]);
	if (text != NULL) {
		in->text = json_string_value(text);
		in->textlen = json_string_length(text);
	}
	return 0;
}

/*
 * Only the store writes these, so that what they say can be believed: a
 * marker drops other writers' messages from every view, an outcome says
 * a person was told, an abandoned run.end that its producer died.
 */
int
sess_event_own(json_t *v, const char *json, size_t len, const char *type,
    size_t typelen, struct sess_err *e)
{
	json_t *t, *parsed = NULL, *reason;
	int abandoned;

	if (v != NULL) {
		t = json_object_get(v, "type");
		type = json_string_value(t);
		typelen = type ? json_string_length(t) : 0;
	}
	if (type == NULL)
		return 0;
	if ((typelen == 10 && memcmp(type, "superseded", 10) == 0) ||
	    (typelen >= 7 && memcmp(type, "notify.", 7) == 0))
		return sess_err_set(e, SESS_EOWN, "type \"%.*s\" is the "
		    "store's own: writers cannot append it",
		    (int)(typelen < 64 ? typelen : 64), type);
	if (typelen != 7 || memcmp(type, "run.end", 7) != 0)
		return 0;
	if (v == NULL && (json == NULL ||
	    (v = parsed = sess_json_parse(json, len, NULL)) == NULL))
		return 0;
	reason = json_object_get(v, "reason");
	abandoned = json_is_string(reason) &&
	    strcmp(json_string_value(reason), "abandoned") == 0;
	json_decref(parsed);
	if (abandoned)
		return sess_err_set(e, SESS_EOWN, "type \"run.end\" with "
		    "reason \"abandoned\" is the store's own: writers cannot "
		    "append it");
	return 0;
}

int
sess_event_format(struct sess_buf *b, const char *stream_json,
    const struct sess_event *ev)
{
	char head[128], ts[32];
	int n;

	sess_time_fmt(ev->time, ts);
	if (sess_buf_add(b, "{\"stream\":", 10) != 0 ||
	    sess_buf_add(b, stream_json, strlen(stream_json)) != 0)
		return SESS_EINVAL;
	n = snprintf(head, sizeof(head), ",\"offset\":\"%0*lld\",\"seq\":%lld,"
	    "\"time\":\"%s\",\"data\":", SESS_OFFSET_LEN, (long long)ev->seq,
	    (long long)ev->seq, ts);
	if (sess_buf_add(b, head, (size_t)n) != 0 ||
	    sess_buf_add(b, ev->data, ev->len) != 0 ||
	    sess_buf_add(b, "}\n", 2) != 0)
		return SESS_EINVAL;
	return 0;
}

/*
 * The "data" member's text in a line of our own format, where it is the
 * last member: between the last ,"data": and the closing brace.
 */
static int
data_span(const char *line, size_t len, const char **p, size_t *n)
{
	const char *q, *at = NULL;

	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' ||
	    line[len - 1] == '\r'))
		len--;
	if (len == 0 || line[len - 1] != '}')
		return -1;
	for (q = line; (q = memmem(q, (size_t)(line + len - q), ",\"data\":",
	    8)) != NULL; q++)
		at = q + 8;
	if (at == NULL)
		return -1;
	*p = at;
	*n = (size_t)(line + len - 1 - at);
	return 0;
}

int
sess_event_parse_line(const char *line, size_t len, struct sess_event *ev,
    struct sess_buf *scratch, struct sess_buf *stream, struct sess_err *e)
{
	struct sess_jscan js;
	json_t *v, *data, *t, *seq, *type;
	const char *span;
	size_t n;
	char *text;
	int rc = 0;

	if ((v = sess_json_parse(line, len, e)) == NULL)
		return SESS_EINVAL;
	data = json_object_get(v, "data");
	t = json_object_get(v, "time");
	seq = json_object_get(v, "seq");
	if (data == NULL || !json_is_string(t) || !json_is_integer(seq)) {
		rc = sess_err_set(e, SESS_EINVAL, "not an event line (needs "
		    "seq, time and data)");
		goto out;
	}
	if (sess_time_parse(json_string_value(t), &ev->time) != 0) {
		rc = sess_err_set(e, SESS_EINVAL, "time '%.40s' is not RFC 3339",
		    json_string_value(t));
		goto out;
	}
	ev->seq = json_integer_value(seq);
	if (stream != NULL) {
		json_t *sn = json_object_get(v, "stream");

		stream->len = 0;
		if (json_is_string(sn) && sess_buf_add(stream,
		    json_string_value(sn), strlen(json_string_value(sn))) != 0) {
			rc = sess_err_set(e, SESS_EINVAL, "stream name too long");
			goto out;
		}
	}
	scratch->len = 0;
	/* The value as written where the line lets us find it, else encoded. */
	if (data_span(line, len, &span, &n) == 0 &&
	    sess_json_scan(span, n, scratch, &js, e) == 0) {
		json_t *again = sess_json_parse(scratch->p + js.at, js.len, e);

		if (!json_equal(again, data))
			scratch->len = 0;
		json_decref(again);
	}
	if (scratch->len == 0) {
		text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
		if (text == NULL || sess_buf_add(scratch, text, strlen(text)) !=
		    0) {
			free(text);
			rc = sess_err_set(e, SESS_EINVAL, "value too large");
			goto out;
		}
		free(text);
	}
	/* The type is stored after the value, so pointers stay put. */
	ev->len = scratch->len;
	type = json_object_get(data, "type");
	ev->type = NULL;
	if (json_is_string(type)) {
		n = scratch->len + 1;
		if (sess_buf_add(scratch, "", 1) != 0 ||
		    sess_buf_add(scratch, json_string_value(type),
		    strlen(json_string_value(type))) != 0) {
			rc = sess_err_set(e, SESS_EINVAL, "value too large");
			goto out;
		}
		ev->type = scratch->p + n;
	}
	ev->data = scratch->p;
out:
	json_decref(v);
	return rc;
}
