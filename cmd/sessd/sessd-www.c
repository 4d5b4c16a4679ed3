/* sessd-www.c: the demo page and the browser client, built into sessd. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sessd.h"

/*
 * The files of cmd/sessd/www are compiled into sessd (the Makefile writes
 * them into $(BUILD)/cmd/www.c as byte arrays), so that the page a sessd
 * serves always matches the protocol it speaks.  They are public: no
 * token is needed to load them, only to connect.  The page's own
 * resources come from the same origin only, and its URL may hold a
 * token, so it is never sent on as a Referer.
 */
#define WWW_CSP "default-src 'self'; connect-src 'self'; img-src 'self' " \
	"data:; style-src 'self'; script-src 'self'; object-src 'none'; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* Strong validators, made once from the contents (FNV-1a, 64 bits). */
static char etags[WWW_FILES_MAX][20];

static const char *
etag_of(size_t i)
{
	const struct www_file *f = &www_files[i];
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t k;

	if (etags[i][0] == '\0') {
		for (k = 0; k < f->len; k++)
			h = (h ^ f->data[k]) * 0x100000001b3ULL;
		snprintf(etags[i], sizeof(etags[i]), "\"%016llx\"",
		    (unsigned long long)h);
	}
	return etags[i];
}

/* Does an If-None-Match list ("*", or tags with commas) hold tag? */
static int
inm_matches(const char *inm, const char *tag)
{
	size_t n = strlen(tag);
	const char *p = inm;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, tag, n) == 0 && (p[n] == '\0' || p[n] == ',' ||
		    p[n] == ' ' || p[n] == '\t'))
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

const struct www_file *
www_find(const char *path)
{
	size_t i;

	for (i = 0; i < www_nfiles; i++)
		if (strcmp(www_files[i].path, path) == 0)
			return &www_files[i];
	return NULL;
}

int
www_serve(struct conn *c, const char *path, const char *qs)
{
	const struct www_file *f = www_find(path);
	const char *inm, *etag;

	if (f == NULL)
		return resp_fail(c, SESS_ENOENT, SESS_WHY_NONE, NULL,
		    "no such path");
	etag = etag_of((size_t)(f - www_files));
	inm = req_header(&c->req, "If-None-Match");
	resp_start(c, inm != NULL && inm_matches(inm, etag) ? 304 : 200);
	resp_header(c, "ETag", "%s", etag);
	/* Always revalidated: a new sessd may serve new files. */
	resp_header(c, "Cache-Control", "no-cache");
	resp_header(c, "Referrer-Policy", "no-referrer");
	if (c->status == 304) {
		resp_head_end(c, B_NONE, 0);
		resp_finish(c);
		return 0;
	}
	resp_header(c, "Content-Type", "%s", f->type);
	if (strncmp(f->type, "text/html", 9) == 0) {
		resp_header(c, "Content-Security-Policy", "%s", WWW_CSP);
		resp_header(c, "X-Frame-Options", "DENY");
	}
	resp_head_end(c, B_LENGTH, f->len);
	resp_body(c, f->data, f->len);
	resp_finish(c);
	return 0;
}
