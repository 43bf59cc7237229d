/*
 * store_security.c — SQL for keys, security events, limiter state and blocks
 * (contract in store_security.h).
 */
#include "store_security.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store_int.h"

#define TOUCH_EVERY_S 60

static const char SQL_KEY_INSERT[] =
	"INSERT INTO api_keys (name, prefix, key_sha256, scope, rate_per_minute, created_at)"
	" VALUES (?, ?, ?, ?, ?, ?) RETURNING id";

int kw_store_key_insert(struct kw_store *s, const char *name, const char *prefix,
			const char *key_sha256, int scope, int64_t rate, int64_t now, int64_t *id)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_KEY_INSERT);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, name);
	kw_sql_bind_text_static(st, 2, prefix);
	kw_sql_bind_text_static(st, 3, key_sha256);
	kw_sql_bind_text_static(st, 4, scope == 2 ? "admin" : "read");
	kw_sql_bind_i64(st, 5, rate);
	kw_sql_bind_i64(st, 6, now);
	int rc = kw_sql_step(st);
	if (rc == KW_ROW)
		*id = kw_sql_col_i64(st, 0);
	else
		kw_error("store: cannot insert key: %s", kw_store_errmsg(s));
	kw_sql_reset(st);
	return rc == KW_ROW ? 0 : -1;
}

#define KEY_COLS                                                                                   \
	"id, name, prefix, key_sha256, scope, rate_per_minute, created_at,"                        \
	" coalesce(last_used_at, 0), coalesce(revoked_at, 0)"

static void read_key(struct kw_stmt *st, struct kw_key_row *k)
{
	memset(k, 0, sizeof(*k));
	k->id = kw_sql_col_i64(st, 0);
	kw_strlcpy(k->name, kw_store_col_str(st, 1), sizeof(k->name));
	kw_strlcpy(k->prefix, kw_store_col_str(st, 2), sizeof(k->prefix));
	kw_strlcpy(k->key_sha256, kw_store_col_str(st, 3), sizeof(k->key_sha256));
	const char *sc = kw_sql_col_text(st, 4);
	k->scope = sc && !strcmp(sc, "admin") ? 2 : 1;
	k->rate_per_minute = kw_sql_col_i64(st, 5);
	k->created_at = kw_sql_col_i64(st, 6);
	k->last_used_at = kw_sql_col_i64(st, 7);
	k->revoked_at = kw_sql_col_i64(st, 8);
}

static int find_one(struct kw_store *s, struct kw_stmt *st, struct kw_key_row *out)
{
	int rc = kw_sql_step(st);
	int found = 0;
	if (rc == KW_ROW) {
		read_key(st, out);
		found = 1;
	} else if (rc != KW_DONE) {
		kw_error("store: key lookup failed: %s", kw_store_errmsg(s));
		found = -1;
	}
	kw_sql_reset(st);
	return found;
}

static const char SQL_KEY_FIND[] = "SELECT " KEY_COLS " FROM api_keys WHERE key_sha256 = ?";

int kw_store_key_find(struct kw_store *s, const char *key_sha256, struct kw_key_row *out)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_KEY_FIND);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, key_sha256);
	return find_one(s, st, out);
}

static const char SQL_KEY_GET[] = "SELECT " KEY_COLS " FROM api_keys WHERE id = ?";

int kw_store_key_get(struct kw_store *s, int64_t id, struct kw_key_row *out)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_KEY_GET);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, id);
	return find_one(s, st, out);
}

static const char SQL_KEY_TOUCH[] =
	"UPDATE api_keys SET last_used_at = ? WHERE id = ? AND coalesce(last_used_at, 0) < ?";

void kw_store_key_touch(struct kw_store *s, const struct kw_key_row *k, int64_t now)
{
	if (k->last_used_at > now - TOUCH_EVERY_S)
		return;
	struct kw_stmt *st = kw_store_stmt(s, SQL_KEY_TOUCH);
	if (!st)
		return;
	kw_sql_bind_i64(st, 1, now);
	kw_sql_bind_i64(st, 2, k->id);
	kw_sql_bind_i64(st, 3, now - TOUCH_EVERY_S);
	if (kw_sql_step(st) != KW_DONE) /* not worth failing a request for */
		kw_warn("store: cannot record key use: %s", kw_store_errmsg(s));
	kw_sql_reset(st);
}

static const char SQL_KEY_REVOKE[] =
	"UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL";

int kw_store_key_revoke(struct kw_store *s, int64_t id, int64_t now)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_KEY_REVOKE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, now);
	kw_sql_bind_i64(st, 2, id);
	int rc = kw_sql_step(st);
	kw_sql_reset(st);
	if (rc != KW_DONE) {
		kw_error("store: cannot revoke key: %s", kw_store_errmsg(s));
		return -1;
	}
	return kw_store_changes(s) ? 1 : 0;
}

static const char SQL_TOKEN_REVOKE[] =
	"INSERT INTO revoked_tokens (jti, revoked_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING";
static const char SQL_TOKEN_PRUNE[] = "DELETE FROM revoked_tokens WHERE revoked_at < ?";

int kw_store_token_revoke(struct kw_store *s, const char *jti, int64_t now)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_TOKEN_PRUNE);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, now - KW_TOKEN_REVOCATION_KEEP_S);
	int rc = kw_sql_step(st);
	kw_sql_reset(st);
	st = rc == KW_DONE ? kw_store_stmt(s, SQL_TOKEN_REVOKE) : NULL;
	if (!st) {
		kw_error("store: cannot revoke token: %s", kw_store_errmsg(s));
		return -1;
	}
	kw_sql_bind_text_static(st, 1, jti);
	kw_sql_bind_i64(st, 2, now);
	rc = kw_sql_step(st);
	kw_sql_reset(st);
	if (rc != KW_DONE) {
		kw_error("store: cannot revoke token: %s", kw_store_errmsg(s));
		return -1;
	}
	return kw_store_changes(s) ? 1 : 0;
}

static const char SQL_TOKEN_REVOKED[] = "SELECT 1 FROM revoked_tokens WHERE jti = ?";

int kw_store_token_revoked(struct kw_store *s, const char *jti)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_TOKEN_REVOKED);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, jti);
	int rc = kw_sql_step(st);
	kw_sql_reset(st);
	if (rc == KW_ROW)
		return 1;
	if (rc == KW_DONE)
		return 0;
	kw_error("store: cannot read revoked tokens: %s", kw_store_errmsg(s));
	return -1;
}

static const char SQL_KEY_LIST[] = "SELECT " KEY_COLS " FROM api_keys ORDER BY id";

int kw_store_key_list(struct kw_store *s, void (*fn)(const struct kw_key_row *, void *), void *ctx)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_KEY_LIST);
	if (!st)
		return -1;
	int rc;
	struct kw_key_row k;
	while ((rc = kw_sql_step(st)) == KW_ROW) {
		read_key(st, &k);
		fn(&k, ctx);
	}
	kw_sql_reset(st);
	if (rc != KW_DONE) {
		kw_error("store: cannot list keys: %s", kw_store_errmsg(s));
		return -1;
	}
	return 0;
}

static const char SQL_KEY_COUNT[] = "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL";

int64_t kw_store_key_count_active(struct kw_store *s)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_KEY_COUNT);
	if (!st)
		return -1;
	int64_t n = -1;
	if (kw_sql_step(st) == KW_ROW)
		n = kw_sql_col_i64(st, 0);
	else
		kw_error("store: cannot count keys: %s", kw_store_errmsg(s));
	kw_sql_reset(st);
	return n;
}

static const char SQL_EVENT_ADD[] =
	"INSERT INTO security_events (at, type, client, key_id, detail, request_id)"
	" VALUES (?, ?, ?, ?, ?, ?)";

int kw_store_sec_event_add(struct kw_store *s, int64_t at, const char *type, const char *client,
			   int64_t key_id, const char *detail, const char *request_id)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_EVENT_ADD);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, at);
	kw_sql_bind_text_static(st, 2, type);
	kw_sql_bind_text_static(st, 3, client ? client : "");
	if (key_id > 0)
		kw_sql_bind_i64(st, 4, key_id);
	kw_sql_bind_text_static(st, 5, detail ? detail : "");
	kw_sql_bind_text_static(st, 6, request_id ? request_id : "");
	int rc = kw_sql_step(st);
	kw_sql_reset(st);
	if (rc != KW_DONE) {
		kw_error("store: cannot record security event: %s", kw_store_errmsg(s));
		return -1;
	}
	return 0;
}

static const char SQL_RL_EXPIRE[] = "DELETE FROM rate_limit_state WHERE tat_us <= ?";
static const char SQL_RL_PUT[] = "INSERT INTO rate_limit_state (key_digest, tat_us) VALUES (?, ?)"
				 " ON CONFLICT (key_digest) DO UPDATE SET tat_us = excluded.tat_us";

int kw_store_rl_save(struct kw_store *s, const struct kw_rl_entry *e, size_t n, int64_t now_us)
{
	/* The promise is "at most a second of limiter state lost if the machine dies": WAL with
	 * synchronous=NORMAL does not sync at commit, so this one transaction a second is made
	 * durable (FULL syncs the WAL at commit), and the connection goes back to NORMAL. */
	if (kw_store_pragma(s, "PRAGMA synchronous=FULL") < 0)
		return -1;
	int rc = -1;
	if (kw_store_begin(s) < 0)
		goto out;
	struct kw_stmt *st = kw_store_stmt(s, SQL_RL_EXPIRE);
	if (!st)
		goto fail;
	kw_sql_bind_i64(st, 1, now_us);
	int step = kw_sql_step(st);
	kw_sql_reset(st);
	if (step != KW_DONE)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		st = kw_store_stmt(s, SQL_RL_PUT);
		if (!st)
			goto fail;
		kw_sql_bind_i64(st, 1, (int64_t)e[i].key);
		kw_sql_bind_i64(st, 2, e[i].tat_us);
		step = kw_sql_step(st);
		kw_sql_reset(st);
		if (step != KW_DONE)
			goto fail;
	}
	if (kw_store_commit(s) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	kw_error("store: cannot save limiter state: %s", kw_store_errmsg(s));
	kw_store_rollback(s);
out:
	if (kw_store_pragma(s, "PRAGMA synchronous=NORMAL") < 0)
		rc = -1;
	return rc;
}

static const char SQL_RL_LOAD[] =
	"SELECT key_digest, tat_us FROM rate_limit_state WHERE tat_us > ?";

int kw_store_rl_restore(struct kw_store *s, struct kw_rl *rl, int64_t now_us)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_RL_LOAD);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, now_us);
	int rc;
	while ((rc = kw_sql_step(st)) == KW_ROW)
		kw_rl_load(rl, (uint64_t)kw_sql_col_i64(st, 0), kw_sql_col_i64(st, 1));
	kw_sql_reset(st);
	if (rc != KW_DONE) {
		kw_error("store: cannot restore limiter state: %s", kw_store_errmsg(s));
		return -1;
	}
	return 0;
}

static const char SQL_BLOCK_LIVE[] = "SELECT count(*) FROM blocked_addresses"
				     " WHERE address = ? AND until_at > ?";
static const char SQL_BLOCK_DEL[] = "DELETE FROM blocked_addresses WHERE address = ?";
static const char SQL_RL_DEL[] = "DELETE FROM rate_limit_state WHERE key_digest = ?";

int kw_store_unblock(struct kw_store *s, const char *address, const uint64_t *digests, size_t n,
		     int64_t now, int *was_blocked)
{
	struct kw_stmt *st;
	*was_blocked = 0;
	if (kw_store_begin(s) < 0)
		return -1;
	if (!(st = kw_store_stmt(s, SQL_BLOCK_LIVE)))
		goto fail;
	kw_sql_bind_text_static(st, 1, address);
	kw_sql_bind_i64(st, 2, now);
	if (kw_sql_step(st) == KW_ROW)
		*was_blocked = kw_sql_col_i64(st, 0) > 0;
	kw_sql_reset(st);
	if (!(st = kw_store_stmt(s, SQL_BLOCK_DEL)))
		goto fail;
	kw_sql_bind_text_static(st, 1, address);
	if (kw_sql_step(st) != KW_DONE) {
		kw_sql_reset(st);
		goto fail;
	}
	kw_sql_reset(st);
	for (size_t i = 0; i < n; i++) {
		if (!(st = kw_store_stmt(s, SQL_RL_DEL)))
			goto fail;
		kw_sql_bind_i64(st, 1, (int64_t)digests[i]);
		int rc = kw_sql_step(st);
		kw_sql_reset(st);
		if (rc != KW_DONE)
			goto fail;
	}
	if (kw_store_sec_event_add(s, now, "address_unblocked", address, 0,
				   "block lifted by kw-admin unblock", NULL) < 0 ||
	    kw_store_commit(s) < 0)
		goto fail;
	return 0;
fail:
	kw_error("store: cannot lift the block on %s: %s", address, kw_store_errmsg(s));
	kw_store_rollback(s);
	return -1;
}

static const char SQL_BLOCK_ADD[] =
	"INSERT INTO blocked_addresses (address, blocked_at, until_at, reason) VALUES (?, ?, ?, ?)"
	" ON CONFLICT (address) DO UPDATE SET blocked_at = excluded.blocked_at,"
	" until_at = excluded.until_at, reason = excluded.reason";

int kw_store_block_add(struct kw_store *s, const char *address, int64_t at, int64_t until,
		       const char *reason)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_BLOCK_ADD);
	if (!st)
		return -1;
	kw_sql_bind_text_static(st, 1, address);
	kw_sql_bind_i64(st, 2, at);
	kw_sql_bind_i64(st, 3, until);
	kw_sql_bind_text_static(st, 4, reason);
	int rc = kw_sql_step(st);
	kw_sql_reset(st);
	if (rc != KW_DONE) {
		kw_error("store: cannot record blocked address: %s", kw_store_errmsg(s));
		return -1;
	}
	return 0;
}

static int worker_row(struct kw_store *s, const struct kw_worker_row *w)
{
	struct kw_stmt *st = NULL;
	switch (w->kind) {
	case KW_WROW_EVENT:
		if (!(st = kw_store_stmt(s, SQL_EVENT_ADD)))
			return -1;
		kw_sql_bind_i64(st, 1, w->at);
		kw_sql_bind_text_static(st, 2, w->type);
		kw_sql_bind_text_static(st, 3, w->client);
		if (w->key_id > 0)
			kw_sql_bind_i64(st, 4, w->key_id);
		kw_sql_bind_text_static(st, 5, w->detail);
		kw_sql_bind_text_static(st, 6, w->request_id);
		break;
	case KW_WROW_BLOCK:
		if (!(st = kw_store_stmt(s, SQL_BLOCK_ADD)))
			return -1;
		kw_sql_bind_text_static(st, 1, w->client);
		kw_sql_bind_i64(st, 2, w->at);
		kw_sql_bind_i64(st, 3, w->until);
		kw_sql_bind_text_static(st, 4, w->type);
		break;
	case KW_WROW_KEY_USE:
		if (!(st = kw_store_stmt(s, SQL_KEY_TOUCH)))
			return -1;
		kw_sql_bind_i64(st, 1, w->at);
		kw_sql_bind_i64(st, 2, w->key_id);
		kw_sql_bind_i64(st, 3, w->at - TOUCH_EVERY_S);
		break;
	}
	int rc = kw_sql_step(st);
	kw_sql_reset(st);
	return rc == KW_DONE ? 0 : -1;
}

int kw_store_worker_rows(struct kw_store *s, const struct kw_worker_row *rows, size_t n)
{
	if (!n)
		return 0;
	/* Not kw_store_begin(): a busy database is an expected answer here, not an error. */
	if (kw_store_begin_quiet(s) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (worker_row(s, &rows[i]) < 0)
			goto fail;
	if (kw_store_commit_quiet(s) < 0)
		goto fail;
	return 0;
fail:;
	int busy = kw_store_was_busy(s);
	if (!busy)
		kw_error("store: cannot record %zu security rows: %s", n, kw_store_errmsg(s));
	kw_store_rollback(s);
	return busy ? KW_STORE_BUSY : -1;
}
