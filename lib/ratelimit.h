/*
 * ratelimit.h — the GCRA rate limiter shared by every kw-api worker on a host.
 *
 * GCRA (the generic cell rate algorithm) keeps one number per key: the "theoretical arrival
 * time" (TAT). A request at `now` for a limit of `burst` requests refilled one per `interval`
 * is allowed when max(TAT, now) + interval - burst * interval <= now, and then TAT becomes
 * max(TAT, now) + interval. A refused request changes nothing, so it costs no quota.
 *
 * The table lives in a file mapped shared into every worker (see ratelimit.c for the layout,
 * the locking and why it is not a SQLite row per request). Keys are opaque strings chosen by
 * the caller ("k:12" for API key 12, "a:203.0.113.9" for an address, ...); the table stores a
 * 64-bit digest of each, keyed with a per-installation secret kept beside the table
 * (DATABASE_PATH-rl.key, 0600). Besides limits it stores "until" times (blocks, event
 * throttles): kw_rl_raise()/kw_rl_value() treat the TAT as a plain timestamp.
 *
 * Room: a slot that still limits someone is never taken for another key. When a key's group
 * has no free or idle slot, the newcomer fails closed: kw_rl_take() refuses it (as if its
 * limit were reached) and kw_rl_raise() reports the value as already set. So filling the table
 * with other clients can never raise a key's remaining quota.
 *
 * Persistence: kw_rl_flush_due() elects one caller per second to copy the changed entries out
 * with kw_rl_collect(); the caller writes them to SQLite (store_security.c). When the table is
 * created (first start, or first start after a reboot) kw_rl_open() calls `restore` so that the
 * caller can reload them with kw_rl_load(). At most about a second of limiter state is lost if
 * the machine dies; nothing is lost when workers restart.
 */
#ifndef KW_RATELIMIT_H
#define KW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct kw_rl;

struct kw_rl_result {
	int allowed;
	int64_t limit;	       /* burst: requests allowed at once */
	int64_t remaining;     /* requests still allowed now (after this one) */
	int64_t reset_s;       /* seconds until the full burst is available again */
	int64_t retry_after_s; /* refused: seconds until one request is allowed (>= 1) */
	int64_t window_s;      /* seconds to refill the full burst (burst * interval) */
};

struct kw_rl_entry {
	uint64_t key; /* digest */
	int64_t tat_us;
};

typedef void (*kw_rl_restore_fn)(struct kw_rl *rl, void *ctx);

/*
 * Map (creating if needed) the table at path. owner identifies the data the table belongs to
 * (kw-api passes the database file's device and inode): a table left by another owner — a
 * database deleted and created again — is rebuilt, as after a reboot. When this call creates
 * or re-creates it, restore(rl, ctx) runs before any other process can use it. NULL + err on
 * failure.
 */
struct kw_rl *kw_rl_open(const char *path, uint64_t owner, kw_rl_restore_fn restore, void *ctx,
			 char *err, size_t errlen) KW_WUR;
/* Map an existing table only (never create one); NULL + err if there is none or it is not
 * valid. For tools (kw-admin) that signal running workers but must not create the file. */
struct kw_rl *kw_rl_attach(const char *path, char *err, size_t errlen) KW_WUR;
/* The table's file for a database: database_path + "-rl.shm" (the caller's to free). */
char *kw_rl_path(const char *database_path);

/*
 * The key-table generation: kw-admin bumps it after creating, revoking or rotating an API key,
 * and kw-api workers drop their cached key lookups when it changes, so a revocation is seen by
 * every worker on its very next request without a database read per request.
 */
uint64_t kw_rl_keys_generation(const struct kw_rl *rl);
void kw_rl_keys_changed(struct kw_rl *rl);
void kw_rl_close(struct kw_rl *rl);

/* The digest stored for key (stable across processes and restarts while the secret stays). */
uint64_t kw_rl_digest(const struct kw_rl *rl, const char *key);
/* The same for the table at path without mapping it (its secret must exist); -1 + err. */
int kw_rl_digest_offline(const char *path, const char *key, uint64_t *out, char *err,
			 size_t errlen) KW_WUR;

/* Take one request for key; interval_us > 0, burst >= 1. Fills *res; refused, and counted,
 * when the key has no slot and its group has no room. */
void kw_rl_take(struct kw_rl *rl, const char *key, int64_t now_us, int64_t interval_us,
		int64_t burst, struct kw_rl_result *res);
/*
 * The GCRA decision itself, for a key whose TAT is tat (0: none) at now: fills *res and sets
 * *new_tat to the TAT after the request (unchanged when refused). Shared with the cluster
 * limiter (lib/store_gcra.c), which runs the same arithmetic in SQL and reports through this.
 */
void kw_rl_decide(int64_t tat, int64_t now, int64_t interval, int64_t burst,
		  struct kw_rl_result *res, int64_t *new_tat);
/* What kw_rl_take would say for the next request, without taking it. */
void kw_rl_peek(struct kw_rl *rl, const char *key, int64_t now_us, int64_t interval_us,
		int64_t burst, struct kw_rl_result *res);

/* Set key's value to max(current, until_us). Returns the previous value (0 if none), or
 * INT64_MAX when there is no room for key (nothing is stored). */
int64_t kw_rl_raise(struct kw_rl *rl, const char *key, int64_t until_us);
/* Key's value, 0 if absent. */
int64_t kw_rl_value(struct kw_rl *rl, const char *key);
/* Forget key's state (kw-admin unblock). Not written behind: the caller deletes the stored
 * copy (kw_store_unblock), or a restore would bring it back. */
void kw_rl_clear(struct kw_rl *rl, const char *key);

/*
 * Failed credentials and address blocks, one rule for kw-api and kw-ws: a failure with a
 * credential presented from client is counted ("f:" bucket, max_failures per 5 minutes); the
 * one that reaches max_failures blocks the address ("b:" until now + block_us). Returns 1 when
 * this failure started the block (the caller records it: event, database row), else 0.
 */
#define KW_RL_FAILURE_WINDOW_US (300LL * 1000000)
int kw_rl_count_failure(struct kw_rl *rl, const char *client, int64_t now_us, int64_t max_failures,
			int64_t block_us);
/* 1 if client is blocked at now_us. */
int kw_rl_blocked(struct kw_rl *rl, const char *client, int64_t now_us);

/*
 * Leased quota (the cluster limiter, lib/store_gcra.h): units the database's bucket has
 * already counted, to be handed out on this host before until_us (wall clock) without asking
 * the database again (now_us: the clock the caller's until_us is in). key names the lease
 * ("l:" + the bucket); remaining is what the
 * database's bucket had left after the lease (for the rate-limit headers). A second lease
 * for the same key adds its units and keeps the sooner end. Leases are never written behind.
 */
void kw_rl_lease_put(struct kw_rl *rl, const char *key, int64_t now_us, int64_t units,
		     int64_t until_us, int64_t remaining);
/* Take one leased unit: 1 with *left (units still leased) and *remaining (as put), or 0
 * when none is left before its end. */
int kw_rl_lease_take(struct kw_rl *rl, const char *key, int64_t now_us, int64_t *left,
		     int64_t *remaining);

/* Restore one entry (only from the restore callback): value = max(current, tat_us). */
void kw_rl_load(struct kw_rl *rl, uint64_t digest, int64_t tat_us);

/* 1 if the caller is elected to flush now (at most one caller per second on the host). */
int kw_rl_flush_due(struct kw_rl *rl, int64_t now_us);
/*
 * Copy up to max entries changed since the last collect into out and mark them saved;
 * returns how many. Entries whose time has passed are skipped (they mean "no state").
 */
size_t kw_rl_collect(struct kw_rl *rl, int64_t now_us, struct kw_rl_entry *out, size_t max);
/* Slots in the table, and keys refused for lack of room (a sizing hint). */
size_t kw_rl_capacity(const struct kw_rl *rl);
uint64_t kw_rl_full_refusals(const struct kw_rl *rl);

#endif
