/*
 * ticket.c — minting and checking WebSocket tickets, and the used-id memory (see ticket.h).
 *
 * Parsing is strict and positional: exactly six dot-separated fields of fixed alphabets, so a
 * ticket has one spelling and nothing outside it is ever looked at. The MAC is compared in
 * constant time before any field is trusted. The used-id memory is an open-addressing hash
 * table keyed by the (already random) id; expired entries are dropped by rebuilding the table
 * when it is half full, which keeps every operation bounded by the table size.
 */
#include "ticket.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define MAC_LEN 32
#define MAC_B64_LEN 43 /* base64url of 32 bytes, no padding */
#define CONTEXT "kalshiwhale-ws-ticket\n"

static int mac_of(const char *secret, const char *payload, size_t plen, char *out, size_t outlen)
{
	uint8_t mac[MAC_LEN];
	unsigned int maclen = 0;
	char msg[KW_TICKET_MAX_LEN + sizeof(CONTEXT)];
	size_t clen = strlen(CONTEXT);
	if (plen + clen > sizeof(msg))
		return -1;
	memcpy(msg, CONTEXT, clen);
	memcpy(msg + clen, payload, plen);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
		  plen + clen, mac, &maclen) ||
	    maclen != MAC_LEN)
		return -1;
	kw_b64url_encode(mac, MAC_LEN, out, outlen);
	return 0;
}

static int scope_is_valid(const char *s, size_t n)
{
	if (n == 0 || n > KW_TICKET_SCOPE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == ':'))
			return 0;
	return 1;
}

int kw_ticket_mint(const char *secret, const char *scope, int64_t now_ms, int ttl_s, char *out,
		   size_t outlen, int64_t *expires_s)
{
	uint8_t id[16];
	char hex[33], mac[MAC_B64_LEN + 1];
	if (!secret || strlen(secret) < KW_TICKET_MIN_SECRET || !scope ||
	    !scope_is_valid(scope, strlen(scope)) || ttl_s < 1 || ttl_s > KW_TICKET_MAX_TTL_S ||
	    outlen < KW_TICKET_MAX_LEN || now_ms < 0)
		return -1;
	if (kw_random_bytes(id, sizeof(id)) < 0)
		return -1;
	kw_hex(id, sizeof(id), hex);
	/* Expiry counts from the issuing second, so the lifetime never exceeds ttl_s. */
	int64_t exp = now_ms / 1000 + ttl_s;
	int n = snprintf(out, outlen, "v1.%s.%lld.%lld.%s", hex, (long long)now_ms, (long long)exp,
			 scope);
	if (n < 0 || (size_t)n + 1 + MAC_B64_LEN + 1 > outlen)
		return -1;
	if (mac_of(secret, out, (size_t)n, mac, sizeof(mac)) < 0)
		return -1;
	snprintf(out + n, outlen - (size_t)n, ".%s", mac);
	*expires_s = exp;
	return 0;
}

/* Strict unsigned decimal of n bytes (no sign, no leading zero unless "0"). */
static int parse_dec(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;
	if (n == 0 || n > 15 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

enum kw_ticket_result kw_ticket_verify(const char *secret, const char *ticket,
				       const char *want_scope, int64_t now_ms,
				       int64_t not_before_ms, struct kw_ticket *out)
{
	const char *f[6];
	size_t flen[6];
	char mac[MAC_B64_LEN + 1];
	if (!ticket || !secret || strlen(secret) < KW_TICKET_MIN_SECRET)
		return KW_TICKET_MALFORMED;
	size_t len = strnlen(ticket, KW_TICKET_MAX_LEN);
	if (len >= KW_TICKET_MAX_LEN)
		return KW_TICKET_MALFORMED;
	const char *p = ticket;
	for (int i = 0; i < 6; i++) {
		const char *dot = i < 5 ? strchr(p, '.') : NULL;
		f[i] = p;
		flen[i] = dot ? (size_t)(dot - p) : strlen(p);
		if (i < 5 && !dot)
			return KW_TICKET_MALFORMED;
		p = dot ? dot + 1 : p + flen[i];
	}
	if (flen[0] != 2 || memcmp(f[0], "v1", 2) || flen[1] != 32 || flen[5] != MAC_B64_LEN)
		return KW_TICKET_MALFORMED;
	size_t signed_len = (size_t)(f[5] - 1 - ticket);
	if (mac_of(secret, ticket, signed_len, mac, sizeof(mac)) < 0)
		return KW_TICKET_MALFORMED;
	if (!kw_ct_equal(mac, f[5], MAC_B64_LEN))
		return KW_TICKET_BAD_MAC;

	struct kw_ticket t;
	memset(&t, 0, sizeof(t));
	for (int i = 0; i < 16; i++) {
		int hi = kw_hex_value(f[1][2 * i]), lo = kw_hex_value(f[1][2 * i + 1]);
		if (hi < 0 || lo < 0)
			return KW_TICKET_MALFORMED;
		t.id[i] = (uint8_t)(hi << 4 | lo);
	}
	if (parse_dec(f[2], flen[2], &t.issued_ms) < 0 ||
	    parse_dec(f[3], flen[3], &t.expires_s) < 0 || !scope_is_valid(f[4], flen[4]))
		return KW_TICKET_MALFORMED;
	memcpy(t.scope, f[4], flen[4]);
	t.scope[flen[4]] = '\0';

	int64_t issued_s = t.issued_ms / 1000;
	if (t.expires_s <= issued_s || t.expires_s - issued_s > KW_TICKET_MAX_TTL_S)
		return KW_TICKET_EXPIRED;
	if (now_ms / 1000 >= t.expires_s)
		return KW_TICKET_EXPIRED;
	if (t.issued_ms < not_before_ms)
		return KW_TICKET_TOO_OLD;
	/* "ws" also admits "ws:key:12": the scope, refined with whose ticket it is. */
	size_t wn = want_scope ? strlen(want_scope) : 0;
	if (want_scope && strcmp(t.scope, want_scope) &&
	    (strncmp(t.scope, want_scope, wn) || t.scope[wn] != ':'))
		return KW_TICKET_WRONG_SCOPE;
	*out = t;
	return KW_TICKET_OK;
}

const char *kw_ticket_result_name(enum kw_ticket_result r)
{
	switch (r) {
	case KW_TICKET_OK: return "ok";
	case KW_TICKET_MALFORMED: return "malformed";
	case KW_TICKET_BAD_MAC: return "bad_signature";
	case KW_TICKET_EXPIRED: return "expired";
	case KW_TICKET_WRONG_SCOPE: return "wrong_scope";
	case KW_TICKET_TOO_OLD: return "issued_before_start";
	case KW_TICKET_REUSED: return "reused";
	case KW_TICKET_SEEN_FULL: return "too_many_live_tickets";
	}
	return "unknown";
}

struct seen_entry {
	uint8_t id[16];
	int64_t expires_s; /* 0 = empty slot */
};

struct kw_ticket_seen {
	struct seen_entry *slot;
	size_t nslots; /* power of two, 2 x max_live */
	size_t used;
	size_t max_live;
};

struct kw_ticket_seen *kw_ticket_seen_new(size_t max_live)
{
	struct kw_ticket_seen *s = kw_xcalloc(1, sizeof(*s));
	size_t n = 16;
	if (max_live < 1)
		max_live = 1;
	while (n < 2 * max_live && n < ((size_t)1 << 30))
		n *= 2;
	s->nslots = n;
	s->max_live = n / 2;
	s->slot = kw_xcalloc(n, sizeof(*s->slot));
	return s;
}

void kw_ticket_seen_free(struct kw_ticket_seen *s)
{
	if (!s)
		return;
	free(s->slot);
	free(s);
}

static size_t slot_of(const struct kw_ticket_seen *s, const uint8_t id[16])
{
	uint64_t h;
	memcpy(&h, id, sizeof(h)); /* the id is random: its bytes are a good hash */
	return (size_t)h & (s->nslots - 1);
}

/* Rebuild the table without expired entries (linear probing cannot simply delete). */
static void seen_prune(struct kw_ticket_seen *s, int64_t now_s)
{
	struct seen_entry *old = s->slot;
	s->slot = kw_xcalloc(s->nslots, sizeof(*s->slot));
	s->used = 0;
	for (size_t i = 0; i < s->nslots; i++) {
		if (!old[i].expires_s || old[i].expires_s <= now_s)
			continue;
		size_t j = slot_of(s, old[i].id);
		while (s->slot[j].expires_s)
			j = (j + 1) & (s->nslots - 1);
		s->slot[j] = old[i];
		s->used++;
	}
	free(old);
}

enum kw_ticket_result kw_ticket_seen_claim(struct kw_ticket_seen *s, const struct kw_ticket *t,
					   int64_t now_s)
{
	if (s->used >= s->max_live)
		seen_prune(s, now_s);
	size_t j = slot_of(s, t->id);
	while (s->slot[j].expires_s) {
		if (!memcmp(s->slot[j].id, t->id, sizeof(t->id)))
			return KW_TICKET_REUSED; /* even if expired since: never twice */
		j = (j + 1) & (s->nslots - 1);
	}
	if (s->used >= s->max_live)
		return KW_TICKET_SEEN_FULL;
	memcpy(s->slot[j].id, t->id, sizeof(t->id));
	s->slot[j].expires_s = t->expires_s;
	s->used++;
	return KW_TICKET_OK;
}

size_t kw_ticket_seen_count(const struct kw_ticket_seen *s)
{
	return s->used;
}
