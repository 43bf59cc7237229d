/*
 * store_security.h — the security tables (sql/0003_security.sql): API keys, security events,
 * the write-behind copy of the rate limiter and blocked addresses.
 *
 * Keys are found by the SHA-256 of the presented key (a unique index), so looking one up costs
 * one indexed read; the hash found is compared again in constant time. Nothing here ever sees
 * a key in clear except kw-admin at creation, and it only stores the hash.
 */
#ifndef KW_STORE_SECURITY_H
#define KW_STORE_SECURITY_H

#include <stddef.h>
#include <stdint.h>

#include "ratelimit.h"
#include "store.h"

struct kw_key_row {
	int64_t id;
	char name[65];
	char prefix[16];
	char key_sha256[65];
	int scope; /* enum kw_scope */
	int64_t rate_per_minute;
	int64_t created_at, last_used_at, revoked_at; /* 0 = never */
};

/* Insert a key; *id gets its row id. -1 (logged) on failure. */
int kw_store_key_insert(struct kw_store *s, const char *name, const char *prefix,
			const char *key_sha256, int scope, int64_t rate, int64_t now,
			int64_t *id) KW_WUR;
/* Find by hash: 1 found (*out filled, revoked ones included), 0 absent, -1 error. */
int kw_store_key_find(struct kw_store *s, const char *key_sha256, struct kw_key_row *out) KW_WUR;
/* Find by id: 1 / 0 / -1 as above. */
int kw_store_key_get(struct kw_store *s, int64_t id, struct kw_key_row *out) KW_WUR;
/* Record use at now, at most once a minute per key (one small write, not one per request). */
void kw_store_key_touch(struct kw_store *s, const struct kw_key_row *k, int64_t now);
/* Mark revoked: 1 done, 0 no such active key, -1 error. */
int kw_store_key_revoke(struct kw_store *s, int64_t id, int64_t now) KW_WUR;
/* Rows kept in revoked_tokens: the longest JWT_MAX_TTL_SECONDS allowed (a year). */
#define KW_TOKEN_REVOCATION_KEEP_S (366LL * 86400)
/* Revoke the token with this jti (and drop rows older than KW_TOKEN_REVOCATION_KEEP_S):
 * 1 done, 0 already revoked, -1 error (logged). */
int kw_store_token_revoke(struct kw_store *s, const char *jti, int64_t now) KW_WUR;
/* 1 if the jti is revoked, 0 if not, -1 error (logged). */
int kw_store_token_revoked(struct kw_store *s, const char *jti) KW_WUR;
/* Call fn for every key, oldest first. -1 on error. */
int kw_store_key_list(struct kw_store *s, void (*fn)(const struct kw_key_row *, void *),
		      void *ctx) KW_WUR;
/* Keys not revoked; -1 on error. */
int64_t kw_store_key_count_active(struct kw_store *s);

/* Append one security event (the table keeps the newest 10000). -1 (logged) on failure. */
int kw_store_sec_event_add(struct kw_store *s, int64_t at, const char *type, const char *client,
			   int64_t key_id, const char *detail, const char *request_id) KW_WUR;

/* Replace the limiter copy's changed rows and drop expired ones, in one transaction. */
int kw_store_rl_save(struct kw_store *s, const struct kw_rl_entry *e, size_t n,
		     int64_t now_us) KW_WUR;
/* kw_rl_load() every unexpired row into rl. -1 on error. */
int kw_store_rl_restore(struct kw_store *s, struct kw_rl *rl, int64_t now_us) KW_WUR;

/*
 * What a kw-api worker writes besides metrics and the limiter copy: a security event, a
 * block, or a key's last use. Strings are copied in (truncated to their fields), so a row can
 * wait in memory after its request is gone.
 */
enum kw_worker_row_kind { KW_WROW_EVENT, KW_WROW_BLOCK, KW_WROW_KEY_USE };
struct kw_worker_row {
	enum kw_worker_row_kind kind;
	int64_t at;	/* Unix seconds */
	int64_t until;	/* block: until when */
	int64_t key_id; /* event: the key (0 none); key use: the key */
	char type[32];	/* event type, or the block's reason */
	char client[64];
	char detail[160];
	char request_id[17];
};
#define KW_STORE_BUSY 1
/*
 * Write rows in one transaction. 0 done; KW_STORE_BUSY when another connection held the write
 * lock longer than this connection waits (kw_store_wait_for_lock), not logged: nothing was
 * written and the caller keeps the rows for a later attempt; -1 (logged) on any other error,
 * nothing written.
 */
int kw_store_worker_rows(struct kw_store *s, const struct kw_worker_row *rows, size_t n) KW_WUR;

/* Record a block (for operators; the limiter table enforces it). */
int kw_store_block_add(struct kw_store *s, const char *address, int64_t at, int64_t until,
		       const char *reason) KW_WUR;
/*
 * Lift a block on address in the database, in one transaction: its blocked_addresses row, the
 * limiter's stored copies of the digests in digests[n] (its block and failure count, so that
 * a restore cannot bring them back) and an address_unblocked security event. *was_blocked = 1
 * if a block was recorded until after now.
 */
int kw_store_unblock(struct kw_store *s, const char *address, const uint64_t *digests, size_t n,
		     int64_t now, int *was_blocked) KW_WUR;

#endif
