/*
 * store_gcra.h — the rate limiter in PostgreSQL, shared by every node of a cluster
 * (sql/pg/0019_cluster_limit.sql, docs/cluster.md).
 *
 * The same GCRA as lib/ratelimit.h, with the theoretical arrival time of each key kept in the
 * table rate_limit_cluster and updated by one statement per request, with the server's clock:
 * the row lock of INSERT ... ON CONFLICT DO UPDATE makes read-decide-write atomic across
 * every connection of every node, so N clients on M nodes get exactly the burst, and node
 * clocks do not matter. A statement either commits whole or not at all, so a node killed
 * mid-request has taken one unit or none.
 *
 * offset_us is added to the server's clock (the integration tests' shifted clock,
 * KW_TEST_CLOCK_FILE; 0 in production). Keys are the limiter's plain keys ("k:12",
 * "a:ADDRESS", "f:ADDRESS", "b:ADDRESS", "e:BUCKET"): unlike the shared-memory table's
 * slots, a B-tree cannot be crowded, so no digest is needed, and every node must find the
 * same row whatever its own secret.
 *
 * A take may also count a few requests ahead for the caller's host to hand out (a lease; see
 * struct kw_gcra_ahead), never more than the bucket allows.
 *
 * Every function returns -1 (logged) when the database cannot answer; the caller refuses the
 * request (fail closed, as the shared-memory table does when it is unusable).
 * Only for a PostgreSQL store: on SQLite, lib/ratelimit.c is the limiter.
 */
#ifndef KW_STORE_GCRA_H
#define KW_STORE_GCRA_H

#include <stdint.h>

#include "ratelimit.h"
#include "store.h"

/* 1 if s is a PostgreSQL store (the cluster limiter applies), else 0. */
int kw_store_gcra_enabled(struct kw_store *s);

/*
 * Taking ahead (a lease): when the bucket already runs at least min_lead_us ahead of now, the
 * take may count up to `units` more requests than this one, for the caller to hand out without
 * asking again (kw_rl_lease_put). They count as taken at the end of the run the bucket already
 * had, so they must be used before it: kw_gcra_lease.valid_us from the statement's clock (the
 * caller measures from before it sent the statement, so its deadline is never later). On a
 * full bucket (nothing to run ahead of) a take counts one request only, so a burst taken all
 * at once is never cut short by units leased elsewhere.
 */
struct kw_gcra_ahead {
	int64_t units;	     /* at most this many beyond the request's own */
	int64_t min_lead_us; /* only when the bucket already runs this far ahead */
};
struct kw_gcra_lease {
	int64_t units;	  /* taken beyond this request's (0: none) */
	int64_t valid_us; /* to be used within this long */
};

/*
 * Take one request for key (interval_us > 0, burst >= 1), and up to ahead->units more when
 * ahead and lease are not NULL, unless block_key (may be NULL) holds a time after now: then
 * *blocked = 1 and nothing is taken. Fills *res as kw_rl_take does for this request (remaining:
 * what the database's bucket has left). 0, or -1 on a database error.
 */
int kw_store_gcra_take(struct kw_store *s, const char *key, const char *block_key,
		       int64_t offset_us, int64_t interval_us, int64_t burst,
		       const struct kw_gcra_ahead *ahead, struct kw_rl_result *res, int *blocked,
		       struct kw_gcra_lease *lease) KW_WUR;
/* What the next take would say, without taking it. 0 or -1. */
int kw_store_gcra_peek(struct kw_store *s, const char *key, int64_t offset_us, int64_t interval_us,
		       int64_t burst, struct kw_rl_result *res) KW_WUR;
/*
 * Set key's time to now + for_us unless it already holds a time after now: 1 when it was set
 * (the block or throttle starts with this call; one caller across the cluster gets 1), 0 when
 * it was already running, -1 on error.
 */
int kw_store_gcra_start(struct kw_store *s, const char *key, int64_t offset_us,
			int64_t for_us) KW_WUR;
/*
 * Failed credentials and address blocks across the cluster, the rule of kw_rl_count_failure
 * (lib/ratelimit.h) for kw-api and kw-ws alike: a failure from client is counted ("f:"
 * bucket, max_failures per 5 minutes) and the one that reaches max_failures blocks the
 * address ("b:" for block_us). 1 when this failure started the block (one caller across the
 * cluster gets 1; it records the event), 0 if not, -1 on error.
 */
int kw_store_gcra_count_failure(struct kw_store *s, const char *client, int64_t offset_us,
				int64_t max_failures, int64_t block_us) KW_WUR;
/* 1 if client is blocked now, 0 if not, -1 on error. */
int kw_store_gcra_blocked(struct kw_store *s, const char *client, int64_t offset_us) KW_WUR;
/* Call fn for every block in force: the address and how long it still runs (us). 0 or -1. */
int kw_store_gcra_blocks(struct kw_store *s, int64_t offset_us,
			 void (*fn)(const char *address, int64_t left_us, void *ctx),
			 void *ctx) KW_WUR;
/* 1 if key holds a time after now (a block in force), 0 if not, -1 on error. */
int kw_store_gcra_active(struct kw_store *s, const char *key, int64_t offset_us) KW_WUR;
/* Forget keys[0..n) (kw-admin unblock). 0 or -1. */
int kw_store_gcra_forget(struct kw_store *s, const char *const *keys, int n) KW_WUR;
/* Drop rows whose time has passed (they mean "no state"); the number dropped, or -1. */
int64_t kw_store_gcra_prune(struct kw_store *s, int64_t offset_us);

#endif
