/*
 * limit.c — kw-api's use of the shared GCRA table (lib/ratelimit.h): taking a request
 * from the caller's bucket, the 429 reply, and the rate-limit headers on every response.
 *
 * Headers (draft-ietf-httpapi-ratelimit-headers, quoted policy name, plus the older
 * X-RateLimit-* trio that most clients read):
 *   RateLimit-Policy: "default";q=<burst>;w=<seconds to refill the burst>
 *   RateLimit: "default";r=<remaining>;t=<seconds until the full burst is back>
 *   X-RateLimit-Limit: <burst>   X-RateLimit-Remaining: <remaining>
 *   X-RateLimit-Reset: <delta seconds until the full burst is back> (not an epoch time)
 *   Retry-After: <integer seconds >= 1> on 429 only.
 * Replies made before a bucket was charged (blocked address, preflight) show the client
 * address's bucket without charging it.
 *
 * On PostgreSQL (sec->cluster) the unit is taken from the database's table instead
 * (lib/store_gcra.h), with the block on the client address looked up in the same statement,
 * so a key's limit and an address's block hold across every node sharing the database. When
 * the database cannot answer, the request is refused with 503 and Retry-After: 1 (fail
 * closed, as when the shared-memory table cannot be used): handing out quota nobody counted
 * would break the limit the moment a second node did the same.
 *
 * The test clock: with ENVIRONMENT=development and KW_TEST_CLOCK_FILE set, the file's content
 * (an integer number of seconds, may be negative) is added to the wall clock on every call, so
 * the integration tests can move time forward by a minute without sleeping. It is read only
 * in development and is announced at start-up; production ignores the variable.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "log.h"
#include "store_gcra.h"

static int64_t test_offset_us(const char *path)
{
	char buf[32];
	int64_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, " \r\n")] = '\0';
	if (kw_parse_i64(buf, -100000000, 100000000, &off) < 0)
		return 0;
	return off * 1000000;
}

int64_t kw_sec_now_us(struct kw_app *app)
{
	int64_t now = kw_now_us();
	if (app->sec && app->sec->test_clock_file)
		now += test_offset_us(app->sec->test_clock_file);
	return now;
}

/* The test clock's shift alone (0 in production): the cluster limiter adds it to the database
 * server's clock. */
static int64_t clock_offset_us(struct kw_app *app)
{
	return app->sec && app->sec->test_clock_file ? test_offset_us(app->sec->test_clock_file)
						     : 0;
}

void kw_sec_reply_blocked(struct kw_req *r)
{
	kw_reply_error(r, 403, "blocked",
		       "this address is temporarily blocked after repeated failed authentications");
}

static void reply_limiter_down(struct kw_req *r)
{
	kw_reply_header(r, "Retry-After", "1");
	kw_reply_error(r, 503, "database_unavailable", "the database is unavailable");
}

/* A block in the database is mirrored into this host's table for at most this long, and the
 * mirror is renewed every BLOCK_SYNC_US while the block holds: a block made on another node is
 * enforced here within BLOCK_SYNC_US, and one lifted there (kw-admin unblock) within
 * BLOCK_MIRROR_US. */
#define BLOCK_SYNC_US 250000
#define BLOCK_MIRROR_US 2000000

struct mirror {
	struct kw_rl *rl;
	int64_t now;
};

static void mirror_block(const char *address, int64_t left_us, void *ctx)
{
	struct mirror *m = ctx;
	char key[KW_CLIENT_ADDR_MAX + 4];
	snprintf(key, sizeof(key), "b:%s", address);
	kw_rl_raise(m->rl, key, m->now + (left_us < BLOCK_MIRROR_US ? left_us : BLOCK_MIRROR_US));
}

void kw_sec_cluster_sync_blocks(struct kw_req *r)
{
	struct kw_sec *sec = r->app->sec;
	struct kw_rl_result turn;
	struct mirror m = { sec->rl, kw_sec_now_us(r->app) };
	/* One request of the host every BLOCK_SYNC_US reads the blocks (a GCRA of burst 1 in
	 * the shared table elects it); the others go on with the mirror as it stands. */
	kw_rl_take(sec->rl, "s:block-sync", m.now, BLOCK_SYNC_US, 1, &turn);
	if (!turn.allowed || !r->thr->store)
		return;
	if (kw_store_gcra_blocks(r->thr->store, clock_offset_us(r->app), mirror_block, &m) < 0)
		kw_warn("ratelimit: the cluster's blocks could not be read; the last copy holds");
}

int kw_sec_cluster_failure(struct kw_req *r, int64_t max_failures, int64_t block_us)
{
	if (!r->thr->store)
		return -1;
	int started = kw_store_gcra_count_failure(r->thr->store, r->sec.client,
						  clock_offset_us(r->app), max_failures, block_us);
	if (started == 1) { /* enforced here from the next request, before any sync */
		struct mirror m = { r->app->sec->rl, kw_sec_now_us(r->app) };
		mirror_block(r->sec.client, block_us, &m);
	}
	return started;
}

/*
 * Taking ahead (a lease, lib/store_gcra.h): when a bucket in the database already runs
 * LEASE_MIN_LEAD_US ahead of now (its client sends faster than it refills), one statement
 * takes this request and up to LEASE_UNITS more, which this host's workers then hand out from
 * the shared table. A lease lives at most LEASE_LIFE_US and holds at most what the key
 * refills in that time: quota parked on one node, which another node cannot give, is never
 * more than a second's refill, for a second. Keys that refill slower than one request a
 * second are never leased: every request is one statement.
 */
#define LEASE_UNITS 8
#define LEASE_MIN_LEAD_US 20000
#define LEASE_LIFE_US 1000000

/* The cluster limiter's take: 0 taken (r->sec.rl filled), -1 replied (403, 503) or refused
 * (*refused = 1, r->sec.rl filled, nothing replied yet). A unit leased by this host earlier
 * is used first, without a statement. */
static int cluster_take(struct kw_req *r, int64_t interval_us, int64_t burst, int *refused)
{
	char block[KW_CLIENT_ADDR_MAX + 4], lkey[sizeof(r->sec.bucket) + 2];
	struct kw_sec *sec = r->app->sec;
	int blocked;
	int64_t left, rem;
	*refused = 0;
	int64_t before = kw_sec_now_us(r->app);
	snprintf(lkey, sizeof(lkey), "l:%s", r->sec.bucket);
	if (interval_us < 1)
		interval_us = 1;
	if (kw_rl_lease_take(sec->rl, lkey, before, &left, &rem)) {
		/* What the headers say: the database's bucket as the lease left it, plus the
		 * units still leased here. */
		int64_t ignored;
		int64_t remaining = rem + left < burst - 1 ? rem + left : burst - 1;
		kw_rl_decide(before + (burst - 1 - remaining) * interval_us, before, interval_us,
			     burst, &r->sec.rl, &ignored);
		r->sec.rl_set = 1;
		return 0;
	}
	struct kw_store *s = kw_app_store_or_reply(r);
	if (!s)
		return -1; /* 503 replied */
	snprintf(block, sizeof(block), "b:%s", r->sec.client);
	int64_t units = LEASE_LIFE_US / interval_us;
	const struct kw_gcra_ahead ahead = { units < LEASE_UNITS ? units : LEASE_UNITS,
					     LEASE_MIN_LEAD_US };
	struct kw_gcra_lease lease;
	if (kw_store_gcra_take(s, r->sec.bucket, block, clock_offset_us(r->app), interval_us, burst,
			       &ahead, &r->sec.rl, &blocked, &lease) < 0) {
		reply_limiter_down(r);
		return -1;
	}
	if (blocked) { /* nothing taken: the headers show the address's bucket */
		kw_sec_reply_blocked(r);
		return -1;
	}
	r->sec.rl_set = 1;
	if (lease.units) {
		int64_t life = lease.valid_us < LEASE_LIFE_US ? lease.valid_us : LEASE_LIFE_US;
		kw_rl_lease_put(sec->rl, lkey, before, lease.units, before + life,
				r->sec.rl.remaining);
		r->sec.rl.remaining += lease.units;
	}
	*refused = !r->sec.rl.allowed;
	return *refused ? -1 : 0;
}

int kw_sec_limit_or_reply(struct kw_req *r, int64_t interval_us, int64_t burst)
{
	struct kw_app *app = r->app;
	int64_t now = kw_sec_now_us(app);
	char key[sizeof(r->sec.bucket) + 2];
	int first;
	if (app->sec->cluster) {
		int refused;
		if (cluster_take(r, interval_us, burst, &refused) == 0)
			return 0;
		if (!refused)
			return -1;
		/* One event per bucket per window across the cluster, as on one host. */
		snprintf(key, sizeof(key), "e:%s", r->sec.bucket);
		first = kw_store_gcra_start(r->thr->store, key, clock_offset_us(app),
					    r->sec.rl.window_s * 1000000) == 1;
	} else {
		kw_rl_take(app->sec->rl, r->sec.bucket, now, interval_us, burst, &r->sec.rl);
		r->sec.rl_set = 1;
		if (r->sec.rl.allowed)
			return 0;
		/* Once per bucket per window, not per request: a client hammering at the limit
		 * must not turn each refusal into a log line and a database row. */
		snprintf(key, sizeof(key), "e:%s", r->sec.bucket);
		first = kw_rl_raise(app->sec->rl, key, now + r->sec.rl.window_s * 1000000) < now;
	}
	if (first) {
		char detail[96];
		snprintf(detail, sizeof(detail), "limit %lld per %llds exceeded",
			 (long long)r->sec.rl.limit, (long long)r->sec.rl.window_s);
		kw_sec_event(r, "rate_limit_exceeded", detail);
	}
	char ra[24];
	snprintf(ra, sizeof(ra), "%lld", (long long)r->sec.rl.retry_after_s);
	kw_reply_header(r, "Retry-After", ra);
	kw_reply_error(r, 429, "rate_limited",
		       "too many requests: retry after Retry-After seconds");
	return -1;
}

/* Append s / a non-negative decimal at p; the caller's buffer has room (fixed text, at most
 * ten numbers of at most 20 digits). */
static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

static char *put_int(char *p, int64_t v)
{
	char tmp[24];
	int n = 0;
	uint64_t u = v < 0 ? 0 : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		*p++ = tmp[--n];
	return p;
}

void kw_sec_rl_headers(struct kw_req *r, struct kw_buf *h)
{
	struct kw_sec *sec = r->app->sec;
	struct kw_rl_result res;
	if (r->sec.rl_set) {
		res = r->sec.rl;
	} else if (sec && sec->rl) {
		char bucket[KW_CLIENT_ADDR_MAX + 4];
		snprintf(bucket, sizeof(bucket), "a:%s", r->sec.client);
		if (!sec->cluster)
			kw_rl_peek(sec->rl, bucket, kw_sec_now_us(r->app), sec->interval_us,
				   sec->burst, &res);
		else if (!r->thr || !r->thr->store ||
			 kw_store_gcra_peek(r->thr->store, bucket, clock_offset_us(r->app),
					    sec->interval_us, sec->burst, &res) < 0)
			return; /* the database cannot say: no figures rather than wrong ones */
	} else {
		return;
	}
	/* Built by hand: printf-style formatting of ten numbers was a visible share of a cheap
	 * request's CPU. */
	char buf[320], *p = buf;
	p = put_str(p, "RateLimit-Policy: \"default\";q=");
	p = put_int(p, res.limit);
	p = put_str(p, ";w=");
	p = put_int(p, res.window_s);
	p = put_str(p, "\r\nRateLimit: \"default\";r=");
	p = put_int(p, res.remaining);
	p = put_str(p, ";t=");
	p = put_int(p, res.reset_s);
	p = put_str(p, "\r\nX-RateLimit-Limit: ");
	p = put_int(p, res.limit);
	p = put_str(p, "\r\nX-RateLimit-Remaining: ");
	p = put_int(p, res.remaining);
	p = put_str(p, "\r\nX-RateLimit-Reset: ");
	p = put_int(p, res.reset_s);
	p = put_str(p, "\r\n");
	if (kw_buf_append(h, buf, (size_t)(p - buf)) < 0)
		kw_error("reply: header buffer full");
}
