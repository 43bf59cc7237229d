/*
 * ticket.h — short-lived, single-use WebSocket tickets.
 *
 * Browsers cannot set headers on a WebSocket handshake, so a dashboard first asks kw-api
 * (POST /api/ws-ticket, authenticated like any API call) for a ticket and passes it to kw-ws as
 * the `ticket` query parameter. A ticket is plain text, safe in a URL without escaping:
 *
 *     v1.<id: 32 hex>.<issued_ms>.<expires_s>.<scope>.<mac: 43 base64url>
 *
 * mac = HMAC-SHA256(JWT_SECRET, "kalshiwhale-ws-ticket\n" + everything before ".<mac>"). The
 * context string keeps a ticket's MAC from ever being a valid HS256 JWT signature made with the
 * same secret, and vice versa. The id is 128 random bits; the lifetime is at most
 * KW_TICKET_MAX_TTL_S seconds.
 *
 * Single use: kw-ws is one process, so it remembers every id it accepted until that ticket
 * expires (struct kw_ticket_seen) and refuses a second use. Across a kw-ws restart that memory
 * is gone; instead kw-ws refuses every ticket issued (issued_ms) before it started, so a ticket
 * used before a restart can never be used after it. The price: a ticket minted in the last
 * minute before a restart and not yet used is refused, and the client asks for a new one, as it
 * must on every reconnect anyway.
 *
 * What it leaves out: binding a ticket to a client address (addresses change behind proxies and
 * mobile networks) and revocation (a ticket lives at most a minute).
 */
#ifndef KW_TICKET_H
#define KW_TICKET_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define KW_TICKET_MAX_TTL_S 60
#define KW_TICKET_MAX_LEN 192 /* bytes, NUL included; every valid ticket is shorter */
#define KW_TICKET_MIN_SECRET 32
#define KW_TICKET_SCOPE_MAX 32 /* bytes of scope text, [a-z0-9_:] */
#define KW_TICKET_SCOPE_WS "ws"

enum kw_ticket_result {
	KW_TICKET_OK = 0,
	KW_TICKET_MALFORMED,   /* not a ticket at all */
	KW_TICKET_BAD_MAC,     /* signed with another secret, or altered */
	KW_TICKET_EXPIRED,     /* past its expiry, or lifetime longer than allowed */
	KW_TICKET_WRONG_SCOPE, /* valid, but not for this use */
	KW_TICKET_TOO_OLD,     /* issued before the verifier started (see above) */
	KW_TICKET_REUSED,      /* already used once */
	KW_TICKET_SEEN_FULL,   /* too many live tickets remembered: refused, fail closed */
};

struct kw_ticket {
	uint8_t id[16];
	int64_t issued_ms;
	int64_t expires_s;
	char scope[KW_TICKET_SCOPE_MAX + 1];
};

/*
 * Mint a ticket for scope valid ttl_s (1..KW_TICKET_MAX_TTL_S) seconds from now_ms into out
 * (outlen >= KW_TICKET_MAX_LEN); *expires_s gets its expiry. -1 if the secret is shorter than
 * KW_TICKET_MIN_SECRET, the scope is not [a-z0-9_:]{1,32}, or randomness or HMAC fails.
 */
int kw_ticket_mint(const char *secret, const char *scope, int64_t now_ms, int ttl_s, char *out,
		   size_t outlen, int64_t *expires_s) KW_WUR;

/*
 * Check a ticket's form, MAC (constant time), lifetime and scope at now_ms. The scope must be
 * want_scope or start with want_scope + ":" (kw-api mints "ws:key:ID" for an API key's
 * ticket, so that kw-ws can close the socket when that key is revoked). Tickets issued
 * before not_before_ms are KW_TICKET_TOO_OLD. Does not consult or change any single-use
 * memory: pair with kw_ticket_seen_claim(). On KW_TICKET_OK *out describes the ticket.
 */
enum kw_ticket_result kw_ticket_verify(const char *secret, const char *ticket,
				       const char *want_scope, int64_t now_ms,
				       int64_t not_before_ms, struct kw_ticket *out);

/* A short, log-safe name for a result ("expired", "reused", ...). */
const char *kw_ticket_result_name(enum kw_ticket_result r);

/* Memory of used ticket ids until they expire; owned by its creator, one thread. */
struct kw_ticket_seen;
/* Remember at most max_live ids at once (rounded up to a power of two internally). */
struct kw_ticket_seen *kw_ticket_seen_new(size_t max_live);
void kw_ticket_seen_free(struct kw_ticket_seen *s);
/*
 * Record t's id as used. KW_TICKET_OK the first time, KW_TICKET_REUSED after, and
 * KW_TICKET_SEEN_FULL when max_live unexpired ids are already remembered.
 */
enum kw_ticket_result kw_ticket_seen_claim(struct kw_ticket_seen *s, const struct kw_ticket *t,
					   int64_t now_s);
/* Unexpired ids remembered (for tests and stats). */
size_t kw_ticket_seen_count(const struct kw_ticket_seen *s);

#endif
