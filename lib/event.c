/* event.c: the session conventions on JSON events (type, msg, op, text). */
#include <stdio.h>
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
