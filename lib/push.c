/* push.c: Web Push encryption (RFC 8291) and VAPID (RFC 8292) with OpenSSL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "sess.h"

#define RECORD_SIZE 4096
#define JWT_LIFE 43200

void
sess_hmac_hex(const char *key, const void *p, size_t n, char out[65])
{
	unsigned char mac[32];
	unsigned int len = 0;
	int i;

	HMAC(EVP_sha256(), key, (int)strlen(key), p, n, mac, &len);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	out[64] = '\0';
}

char *
sess_random_hex(size_t n)
{
	unsigned char b[64];
	char *out;
	size_t i;

	if (n > sizeof(b) || RAND_bytes(b, (int)n) != 1 ||
	    (out = malloc(2 * n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return out;
}

/* A P-256 public key from an uncompressed point, or NULL. */
static EVP_PKEY *
pub_key(const unsigned char *pt, size_t n)
{
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	EVP_PKEY *k = NULL;

	if (n != 65 || pt[0] != 4 || (bld = OSSL_PARAM_BLD_new()) == NULL)
		return NULL;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "prime256v1", 0) == 1 && OSSL_PARAM_BLD_push_octet_string(bld,
	    OSSL_PKEY_PARAM_PUB_KEY, pt, n) == 1)
		params = OSSL_PARAM_BLD_to_param(bld);
	OSSL_PARAM_BLD_free(bld);
	if (params == NULL)
		return NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	/* The point must be on the curve. */
	if (k != NULL && ((chk = EVP_PKEY_CTX_new(k, NULL)) == NULL ||
	    EVP_PKEY_public_check(chk) != 1)) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	EVP_PKEY_CTX_free(chk);
	return k;
}

int
sess_push_key_check(const char *s)
{
	unsigned char pt[80];
	EVP_PKEY *k;
	long n = sess_b64url_decode(s, pt, sizeof(pt));

	if (n != 65 || (k = pub_key(pt, (size_t)n)) == NULL)
		return -1;
	EVP_PKEY_free(k);
	return 0;
}

static EVP_PKEY *
new_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* The uncompressed public point of k into out[65]. */
static int
point(EVP_PKEY *k, unsigned char out[65])
{
	size_t n = 0;

	if (EVP_PKEY_get_octet_string_param(k,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, 65, &n) != 1 || n != 65)
		return -1;
	return 0;
}

char *
sess_push_vapid_new(void)
{
	EVP_PKEY *k = new_key();
	BIO *b = NULL;
	char *out = NULL, *p;
	long n;

	if (k == NULL || (b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	n = BIO_get_mem_data(b, &p);
	if (n > 0 && (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
	}
out:
	BIO_free(b);
	EVP_PKEY_free(k);
	return out;
}

static EVP_PKEY *
load_pem(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return k;
}

char *
sess_push_vapid_public(const char *pem)
{
	EVP_PKEY *k = load_pem(pem);
	unsigned char pt[65];
	char *out = NULL;

	if (k != NULL && point(k, pt) == 0)
		out = sess_b64url_encode(pt, sizeof(pt));
	EVP_PKEY_free(k);
	return out;
}

/* The origin of an http(s) URL ("https://host[:port]"), into out. */
static int
origin(const char *url, char *out, size_t n)
{
	const char *p = strstr(url, "://"), *end;

	if (p == NULL)
		return -1;
	end = p + 3 + strcspn(p + 3, "/?#");
	if ((size_t)(end - url) >= n)
		return -1;
	memcpy(out, url, (size_t)(end - url));
	out[end - url] = '\0';
	return 0;
}

char *
sess_push_vapid_auth(const char *pem, const char *endpoint,
    const char *subject, int64_t now)
{
	EVP_PKEY *k = load_pem(pem);
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *sig = NULL;
	unsigned char der[128], raw[64], pt[65];
	const unsigned char *dp;
	const BIGNUM *r, *s;
	char aud[512], *claims = NULL, *h = NULL, *c = NULL, *sg = NULL,
	    *kb = NULL, *input = NULL, *out = NULL;
	size_t dlen = sizeof(der);
	json_t *v;

	if (k == NULL || origin(endpoint, aud, sizeof(aud)) != 0 ||
	    point(k, pt) != 0)
		goto out;
	v = json_pack("{s:s, s:I, s:s}", "aud", aud, "exp",
	    (json_int_t)(now / 1000000 + JWT_LIFE), "sub", subject);
	claims = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (claims == NULL)
		goto out;
	h = sess_b64url_encode((const unsigned char *)
	    "{\"typ\":\"JWT\",\"alg\":\"ES256\"}", 27);
	c = sess_b64url_encode((const unsigned char *)claims, strlen(claims));
	if (h == NULL || c == NULL ||
	    asprintf(&input, "%s.%s", h, c) < 0) {
		input = NULL;
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
	    EVP_DigestSign(md, der, &dlen, (const unsigned char *)input,
	    strlen(input)) != 1)
		goto out;
	/* JWS wants r and s as two 32-byte numbers, not DER. */
	dp = der;
	if ((sig = d2i_ECDSA_SIG(NULL, &dp, (long)dlen)) == NULL)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) !=
	    32)
		goto out;
	if ((sg = sess_b64url_encode(raw, 64)) == NULL ||
	    (kb = sess_b64url_encode(pt, 65)) == NULL)
		goto out;
	if (asprintf(&out, "vapid t=%s.%s, k=%s", input, sg, kb) < 0)
		out = NULL;
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	free(claims);
	free(h);
	free(c);
	free(sg);
	free(kb);
	free(input);
	return out;
}

/* HMAC-SHA256(key, a || b || c) into out[32]. */
static int
hmac3(const unsigned char *key, size_t klen, const void *a, size_t alen,
    const void *b, size_t blen, const void *c, size_t clen,
    unsigned char out[32])
{
	unsigned char buf[256];
	unsigned int len = 0;

	if (alen + blen + clen > sizeof(buf))
		return -1;
	memcpy(buf, a, alen);
	if (blen)
		memcpy(buf + alen, b, blen);
	if (clen)
		memcpy(buf + alen + blen, c, clen);
	if (HMAC(EVP_sha256(), key, (int)klen, buf, alen + blen + clen, out,
	    &len) == NULL || len != 32)
		return -1;
	return 0;
}

int
sess_push_encrypt(const char *p256dh, const char *auth, const void *text,
    size_t len, struct sess_buf *out, struct sess_err *e)
{
	unsigned char ua[80], secret[32], salt[16], as[65], ecdh[32],
	    prk_key[32], ikm[32], prk[32], cek[32], nonce[32], info[144],
	    hdr[86], tag[16], *plain = NULL, *ct = NULL;
	static const char kinfo[] = "WebPush: info";
	static const char cinfo[] = "Content-Encoding: aes128gcm";
	static const char ninfo[] = "Content-Encoding: nonce";
	static const unsigned char one = 1;
	EVP_PKEY *peer = NULL, *eph = NULL;
	EVP_PKEY_CTX *dctx = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	size_t slen = sizeof(ecdh);
	long ualen, alen;
	int n, m, rc = SESS_EIO;

	ualen = sess_b64url_decode(p256dh, ua, sizeof(ua));
	alen = sess_b64url_decode(auth, secret, sizeof(secret));
	if (ualen != 65 || alen != 16 || (peer = pub_key(ua, 65)) == NULL)
		return sess_err_set(e, SESS_EINVAL, "webpush: bad "
		    "subscription keys");
	/* One record holds it all, with its delimiter and tag. */
	if (len + 1 + 16 > RECORD_SIZE) {
		EVP_PKEY_free(peer);
		return sess_err_set(e, SESS_EINVAL, "webpush: payload of %zu "
		    "bytes is too large", len);
	}
	if ((eph = new_key()) == NULL || point(eph, as) != 0 ||
	    RAND_bytes(salt, sizeof(salt)) != 1)
		goto out;
	if ((dctx = EVP_PKEY_CTX_new(eph, NULL)) == NULL ||
	    EVP_PKEY_derive_init(dctx) != 1 ||
	    EVP_PKEY_derive_set_peer(dctx, peer) != 1 ||
	    EVP_PKEY_derive(dctx, ecdh, &slen) != 1 || slen != 32)
		goto out;
	/* RFC 8291 section 3.4: IKM from the ECDH secret and auth. */
	memcpy(info, kinfo, sizeof(kinfo)); /* with its NUL */
	memcpy(info + sizeof(kinfo), ua, 65);
	memcpy(info + sizeof(kinfo) + 65, as, 65);
	if (hmac3(secret, 16, ecdh, 32, NULL, 0, NULL, 0, prk_key) != 0 ||
	    hmac3(prk_key, 32, info, sizeof(kinfo) + 130, &one, 1, NULL, 0,
	    ikm) != 0)
		goto out;
	/* RFC 8188: the content key and nonce from the salt. */
	if (hmac3(salt, 16, ikm, 32, NULL, 0, NULL, 0, prk) != 0 ||
	    hmac3(prk, 32, cinfo, sizeof(cinfo), &one, 1, NULL, 0, cek) != 0 ||
	    hmac3(prk, 32, ninfo, sizeof(ninfo), &one, 1, NULL, 0, nonce) != 0)
		goto out;
	if ((plain = malloc(len + 1)) == NULL || (ct = malloc(len + 1)) ==
	    NULL) {
		rc = SESS_ENOMEM;
		goto out;
	}
	memcpy(plain, text, len);
	plain[len] = 2; /* the last record's delimiter, no padding */
	if ((cctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(cctx, EVP_aes_128_gcm(), NULL, cek, nonce) != 1 ||
	    EVP_EncryptUpdate(cctx, ct, &n, plain, (int)len + 1) != 1 ||
	    EVP_EncryptFinal_ex(cctx, ct + n, &m) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		goto out;
	/* Header: salt, record size, key id length, key id (our key). */
	memcpy(hdr, salt, 16);
	hdr[16] = (RECORD_SIZE >> 24) & 0xff;
	hdr[17] = (RECORD_SIZE >> 16) & 0xff;
	hdr[18] = (RECORD_SIZE >> 8) & 0xff;
	hdr[19] = RECORD_SIZE & 0xff;
	hdr[20] = 65;
	memcpy(hdr + 21, as, 65);
	if (sess_buf_add(out, hdr, sizeof(hdr)) != 0 ||
	    sess_buf_add(out, ct, (size_t)(n + m)) != 0 ||
	    sess_buf_add(out, tag, 16) != 0) {
		rc = SESS_ENOMEM;
		goto out;
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(cctx);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(eph);
	EVP_PKEY_free(peer);
	free(plain);
	free(ct);
	if (rc != 0)
		return sess_err_set(e, rc, "webpush: encryption failed");
	return 0;
}
