/* sessd-hook.c: webhook delivery: signed POSTs from a thread of their own. */
#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "sessd.h"

/*
 * Webhook POSTs are made with libcurl on one thread, one at a time, so
 * that a slow consumer never holds the event loop.  Each body is signed
 * with the daemon's Ed25519 key (Webhook-Signature: t=SECONDS,kid=KID,
 * ed25519=SIG over "SECONDS.BODY"); the public key is served as a JWKS.
 * Answers come back to the loop thread like the writer's results.
 */

#define DELIVER_TIMEOUT_MS 10000
#define RESPONSE_MAX 65536

struct delivery {
	struct delivery *next;
	char *sub, *url, *body, *sig;
	int64_t generation;
	long status;
	struct sess_buf resp;
	int ok;
};

static struct {
	EVP_PKEY *key;
	char kid[40];
	unsigned char pub[32];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct delivery *todo, *done;
	int stop, running;
} H = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

void
hook_random(char *out, size_t bytes)
{
	unsigned char r[64];
	size_t i;

	if (bytes > sizeof(r))
		bytes = sizeof(r);
	if (getrandom(r, bytes, 0) != (ssize_t)bytes)
		for (i = 0; i < bytes; i++)
			r[i] = (unsigned char)random();
	for (i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/*
 * Webhook URLs must not reach into private networks from the server.
 * Loopback is allowed: it is this machine, which runs the consumer in
 * development and tests.
 */
static int
addr_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->
		    sin_addr.s_addr);

		return (a >> 24) == 10 || (a >> 24) == 0 ||
		    (a >> 20) == (172 << 4 | 1) || (a >> 16) == (192 << 8 |
		    168) || (a >> 16) == (169 << 8 | 254) ||
		    (a >> 22) == (100 << 2 | 1) || (a >> 28) >= 14;
	}
	if (sa->sa_family == AF_INET6) {
		const unsigned char *b = ((const struct sockaddr_in6 *)sa)->
		    sin6_addr.s6_addr;
		static const unsigned char v4map[12] = { 0, 0, 0, 0, 0, 0, 0,
		    0, 0, 0, 0xff, 0xff };

		if (memcmp(b, v4map, 12) == 0) {
			struct sockaddr_in in;

			memset(&in, 0, sizeof(in));
			in.sin_family = AF_INET;
			memcpy(&in.sin_addr, b + 12, 4);
			return addr_private((struct sockaddr *)&in);
		}
		return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe &&
		    (b[1] & 0xc0) == 0x80) || b[0] == 0xff;
	}
	return 1;
}

int
hook_url_ok(const char *url, char *why, size_t size)
{
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	const char *h, *end;
	char host[256];

	if (strncmp(url, "http://", 7) == 0) {
		h = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		h = url + 8;
	} else {
		snprintf(why, size, "webhook URL must be http or https");
		return 0;
	}
	if (strlen(url) > 2048) {
		snprintf(why, size, "webhook URL too long");
		return 0;
	}
	if (*h == '[') {
		if ((end = strchr(h, ']')) == NULL)
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(end - h - 1), h + 1);
	} else {
		end = h + strcspn(h, ":/?#");
		snprintf(host, sizeof(host), "%.*s", (int)(end - h), h);
	}
	if (host[0] == '\0' || strchr(host, '@') != NULL)
		goto bad;
	memset(&in, 0, sizeof(in));
	memset(&in6, 0, sizeof(in6));
	in.sin_family = AF_INET;
	in6.sin6_family = AF_INET6;
	if ((inet_pton(AF_INET, host, &in.sin_addr) == 1 &&
	    addr_private((struct sockaddr *)&in)) ||
	    (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1 &&
	    addr_private((struct sockaddr *)&in6))) {
		snprintf(why, size, "webhook URL points into a private "
		    "network");
		return 0;
	}
	return 1;
bad:
	snprintf(why, size, "webhook URL has no usable host");
	return 0;
}

static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)arg;
	(void)purpose;
	/* A name may resolve into a private network: refuse it there. */
	if (addr_private(&a->addr))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype, a->protocol);
}

static size_t
on_resp(char *p, size_t size, size_t n, void *arg)
{
	struct delivery *d = arg;

	if (sess_buf_add(&d->resp, p, size * n) != 0)
		return 0;
	return size * n;
}

static void
post(CURL *curl, struct delivery *d)
{
	struct curl_slist *h = NULL;
	char sig[512];

	curl_easy_reset(curl);
	snprintf(sig, sizeof(sig), "Webhook-Signature: %s", d->sig);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, sig);
	curl_easy_setopt(curl, CURLOPT_URL, d->url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)DELIVER_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_resp);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, d);
	if (curl_easy_perform(curl) == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &d->status);
		d->ok = d->status >= 200 && d->status < 300;
	}
	curl_slist_free_all(h);
}

static void *
deliverer(void *arg)
{
	struct delivery *d, **pp;
	CURL *curl = curl_easy_init();

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&H.mu);
		while (H.todo == NULL && !H.stop)
			pthread_cond_wait(&H.cv, &H.mu);
		if (H.stop) {
			pthread_mutex_unlock(&H.mu);
			break;
		}
		d = H.todo;
		H.todo = d->next;
		pthread_mutex_unlock(&H.mu);
		if (curl != NULL)
			post(curl, d);
		pthread_mutex_lock(&H.mu);
		for (pp = &H.done; *pp != NULL; pp = &(*pp)->next)
			;
		d->next = NULL;
		*pp = d;
		pthread_mutex_unlock(&H.mu);
		lws_cancel_service(sd->ctx);
	}
	if (curl != NULL)
		curl_easy_cleanup(curl);
	return NULL;
}

static void
delivery_free(struct delivery *d)
{
	free(d->sub);
	free(d->url);
	free(d->body);
	free(d->sig);
	sess_buf_release(&d->resp);
	free(d);
}

static int
sign(const char *body, char *out, size_t size)
{
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	char t[32], *enc = NULL;
	EVP_MD_CTX *md = NULL;
	struct sess_buf msg;
	int rc = -1;

	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	sess_buf_init(&msg, (size_t)1 << 30);
	if (sess_buf_add(&msg, t, strlen(t)) != 0 ||
	    sess_buf_add(&msg, ".", 1) != 0 ||
	    sess_buf_add(&msg, body, strlen(body)) != 0)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, H.key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)msg.p,
	    msg.len) != 1)
		goto out;
	if ((enc = sess_b64url_encode(sig, siglen)) == NULL)
		goto out;
	snprintf(out, size, "t=%s,kid=%s,ed25519=%s", t, H.kid, enc);
	rc = 0;
out:
	free(enc);
	EVP_MD_CTX_free(md);
	sess_buf_release(&msg);
	return rc;
}

int
hook_post(const char *sub, int64_t generation, const char *url,
    const char *body)
{
	struct delivery *d, **pp;
	char sig[512];

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -1;
	sess_buf_init(&d->resp, RESPONSE_MAX);
	d->generation = generation;
	if (sign(body, sig, sizeof(sig)) != 0 ||
	    (d->body = strdup(body)) == NULL ||
	    (d->sig = strdup(sig)) == NULL ||
	    (d->sub = strdup(sub)) == NULL ||
	    (d->url = strdup(url)) == NULL) {
		delivery_free(d);
		return -1;
	}
	pthread_mutex_lock(&H.mu);
	for (pp = &H.todo; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = d;
	pthread_cond_signal(&H.cv);
	pthread_mutex_unlock(&H.mu);
	return 0;
}

void
hook_collect(void (*fn)(const char *sub, int64_t generation, int ok,
    long status, const char *resp, size_t len))
{
	struct delivery *list, *d, *next;

	pthread_mutex_lock(&H.mu);
	list = H.done;
	H.done = NULL;
	pthread_mutex_unlock(&H.mu);
	for (d = list; d != NULL; d = next) {
		next = d->next;
		fn(d->sub, d->generation, d->ok, d->status, d->resp.p,
		    d->resp.len);
		delivery_free(d);
	}
}

const char *
hook_kid(void)
{
	return H.kid;
}

int
hook_jwks(struct conn *c)
{
	char *x, *text;
	json_t *v;

	if ((x = sess_b64url_encode(H.pub, sizeof(H.pub))) == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	v = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "keys", "kty",
	    "OKP", "crv", "Ed25519", "x", x, "kid", H.kid, "alg", "EdDSA",
	    "use", "sig");
	free(x);
	text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (text == NULL)
		return resp_fail(c, SESS_ENOMEM, SESS_WHY_NONE, NULL,
		    "out of memory");
	resp_simple(c, 200, "application/jwk-set+json", text, strlen(text));
	free(text);
	return 0;
}

static void
key_one(const char *key, const char *json, void *arg)
{
	json_t *r = json_loads(json, 0, NULL);
	unsigned char seed[64];
	const char *kid = json_string_value(json_object_get(r, "kid"));
	const char *sv = json_string_value(json_object_get(r, "seed"));

	(void)key;
	(void)arg;
	if (kid != NULL && sv != NULL && sess_b64url_decode(sv, seed,
	    sizeof(seed)) == 32 && (H.key = EVP_PKEY_new_raw_private_key(
	    EVP_PKEY_ED25519, NULL, seed, 32)) != NULL)
		snprintf(H.kid, sizeof(H.kid), "%s", kid);
	json_decref(r);
}

/*
 * Loads the signing key from the store's records, or makes one (kept
 * there, so that consumers' cached JWKS stay good across restarts), and
 * starts the delivery thread.
 */
int
hook_init(void)
{
	unsigned char seed[32];
	char *enc, *text;
	size_t len = sizeof(H.pub);
	json_t *r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	sess_ds_records(sd->rd, "key", key_one, NULL, NULL);
	if (H.key == NULL) {
		if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
			return -1;
		if ((H.key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519,
		    NULL, seed, sizeof(seed))) == NULL)
			return -1;
		snprintf(H.kid, sizeof(H.kid), "ds_");
		hook_random(H.kid + 3, 8);
		if ((enc = sess_b64url_encode(seed, sizeof(seed))) == NULL)
			return -1;
		r = json_pack("{s:s, s:s}", "kid", H.kid, "seed", enc);
		free(enc);
		text = r ? json_dumps(r, JSON_COMPACT) : NULL;
		json_decref(r);
		if (text != NULL)
			record_save("key", "webhook", text, NULL, 0, NULL);
	}
	if (EVP_PKEY_get_raw_public_key(H.key, H.pub, &len) != 1)
		return -1;
	if (pthread_create(&H.thread, NULL, deliverer, NULL) != 0)
		return -1;
	H.running = 1;
	return 0;
}

void
hook_fini(void)
{
	struct delivery *d;

	if (H.running) {
		pthread_mutex_lock(&H.mu);
		H.stop = 1;
		pthread_cond_signal(&H.cv);
		pthread_mutex_unlock(&H.mu);
		pthread_join(H.thread, NULL);
		H.running = 0;
	}
	while ((d = H.todo) != NULL) {
		H.todo = d->next;
		delivery_free(d);
	}
	while ((d = H.done) != NULL) {
		H.done = d->next;
		delivery_free(d);
	}
	EVP_PKEY_free(H.key);
	H.key = NULL;
	curl_global_cleanup();
}
