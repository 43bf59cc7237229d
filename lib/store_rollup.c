/*
 * store_rollup.c — kw-fetch's rollups for the stats and analytics routes (contract in
 * store_rollup.h, tables in sql/0013_rollups.sql).
 *
 * Each window is moved the way market_activity is (store_fetch.c): the trades between the old
 * and the new cutoff (a few minutes of trades, read along trades_dedup) are subtracted, the
 * trades stored since (a rowid range) added, each as one grouped statement. A market's last
 * trade never leaves a window before all its trades have (then its row goes): new trades come
 * sorted per market and replace it when they are later, compared as (created_us, trade_id),
 * the order /api/v1/stats always used. The price a change starts from (store_api.h
 * kw_store_price_at) is read again, one primary-key seek each and written only where it
 * changed, for the markets where it can have changed: those that gained trades (a new row),
 * those whose market row or snapshots changed since the last update (rollup_dirty,
 * sql/0017_rollup_dirty.sql, which every store writer of those rows fills), and for 1 h and 7 d those with a snapshot between
 * the old and the new window start. Any other market's start price is what it was: its
 * inputs are the same. A window counted from scratch reads every market's.
 *
 * The top-50 list keeps itself: new trades enter it and it is trimmed to 50; when one of its
 * trades leaves the window the list is chosen again from the window (from the partial whale
 * index when the window holds 50 trades of $1,000 or more, as kw_store_top_trades does).
 *
 * Not here: anything per request. Nothing reads the clock: now_s comes from the run.
 */
#include "store_rollup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "store_api.h"
#include "store_fetch.h"

const int64_t kw_stats_window_s[KW_STATS_WINDOWS] = { 3600, 86400, 7 * 86400 };

#define HOUR_US 3600000000LL
#define HOURS_KEPT (8 * 24)
#define BIG 9223372036854775807LL

/* ---- sums ---------------------------------------------------------------------------------- */

/* ?4 = 1 adds, -1 subtracts the trades with created_us in [?1, ?2) and id in (?3, ?5] to
 * window ?6; TIME / ID ("+" or "") choose the side SQLite walks, as in store_fetch.c. A new
 * row's first and last trade are placeholders that any real trade replaces. */
#define MARKETS_MOVE(TIME, ID)                                                                     \
	"INSERT INTO stats_markets (window_s, ticker, trades, notional_micros, yes_micros,"        \
	" last_us, last_trade_id, last_price_micros)"                                              \
	" SELECT ?6, ticker, ?4 * count(*), ?4 * ifnull(sum(notional_micros), 0),"                 \
	"  ?4 * sum(iif(taker_side = 'yes', notional_micros, 0)), -1, '', 0 FROM trades"           \
	"  WHERE " TIME "created_us >= ?1 AND " TIME "created_us < ?2"                             \
	"    AND " ID "id > ?3 AND " ID "id <= ?5 GROUP BY ticker"                                 \
	" ON CONFLICT (window_s, ticker) DO UPDATE SET trades = stats_markets.trades + "           \
	"excluded.trades,"                                                                         \
	" notional_micros = stats_markets.notional_micros + excluded.notional_micros,"             \
	" yes_micros = stats_markets.yes_micros + excluded.yes_micros"
static const char SQL_MARKETS_EDGE[] = MARKETS_MOVE("", "+");
static const char SQL_MARKETS_NEW[] = MARKETS_MOVE("+", "");

/* The whale threshold of t's market, as the whales list and detection apply it: the
 * category's (?8, lower-cased keys) or the default (?7). */
#define WHALES_MOVE(TIME, ID)                                                                      \
	"INSERT INTO stats_whales (window_s, category, trades)"                                    \
	" SELECT ?6, ifnull(m.category, ''), ?4 * count(*)"                                        \
	"  FROM trades t LEFT JOIN markets m ON m.ticker = t.ticker"                               \
	"  WHERE " TIME "t.created_us >= ?1 AND " TIME "t.created_us < ?2"                         \
	"    AND " ID "t.id > ?3 AND " ID "t.id <= ?5"                                             \
	"    AND t.notional_micros >= CASE WHEN m.category IS NULL OR instr(m.category, '\"') > 0" \
	"     THEN ?7 ELSE ifnull(json_extract(?8, '$.\"' || lower(m.category) || '\"'), ?7) END"  \
	"  GROUP BY 2"                                                                             \
	" ON CONFLICT (window_s, category) DO UPDATE SET trades = stats_whales.trades + "          \
	"excluded.trades"
static const char SQL_WHALES_EDGE[] = WHALES_MOVE("", "+");
static const char SQL_WHALES_NEW[] = WHALES_MOVE("+", "");

static const char SQL_MARKETS_PRUNE[] = "DELETE FROM stats_markets WHERE window_s = ?1"
					" AND trades <= 0";
static const char SQL_WHALES_PRUNE[] = "DELETE FROM stats_whales WHERE window_s = ?1"
				       " AND trades <= 0";

static int move(struct kw_store *s, int64_t window_s, const struct kw_rollup_rules *rules,
		int64_t from_us, int64_t to_us, int64_t after_id, int64_t upto_id, int sign,
		int by_id)
{
	if (from_us >= to_us || after_id >= upto_id)
		return 0;
	const char *sqls[2] = { by_id ? SQL_MARKETS_NEW : SQL_MARKETS_EDGE,
				by_id ? SQL_WHALES_NEW : SQL_WHALES_EDGE };
	for (int k = 0; k < 2; k++) {
		struct kw_stmt *st = kw_store_stmt(s, sqls[k]);
		if (!st)
			return -1;
		kw_sql_bind_i64(st, 1, from_us);
		kw_sql_bind_i64(st, 2, to_us);
		kw_sql_bind_i64(st, 3, after_id);
		kw_sql_bind_int(st, 4, sign);
		kw_sql_bind_i64(st, 5, upto_id);
		kw_sql_bind_i64(st, 6, window_s);
		if (k == 1) {
			kw_sql_bind_i64(st, 7, rules->default_threshold_micros);
			kw_sql_bind_text_static(
				st, 8,
				rules->category_thresholds ? rules->category_thresholds : "{}");
		}
		if (kw_store_step_done(s, st, "updating the stats rollups") < 0)
			return -1;
	}
	return 0;
}

/* ---- last trades and start prices ----------------------------------------------------------- */

/*
 * The trades stored since (id in (?3, ?4], created_us >= ?2, the window's cutoff), the latest
 * of each market (ordered as (created_us, trade_id)) offered to its row in window ?1: one
 * statement a window, so a step costs three statements whatever the number of markets (a
 * statement per market was a round trip each on PostgreSQL). The latest at or after the
 * cutoff is the latest of the range whenever that one is in the window, and no trade of the
 * market is otherwise, so each window gets what one walk of the range offered it. A window
 * whose own "since" is later than ?3 is offered trades it already counted, which the
 * comparison ignores.
 */
static const char SQL_SET_LAST[] =
	"UPDATE stats_markets SET last_us = x.created_us, last_trade_id = x.trade_id,"
	" last_price_micros = x.yes_price_micros"
	" FROM (SELECT ticker, created_us, trade_id, yes_price_micros FROM"
	"  (SELECT ticker, created_us, trade_id, yes_price_micros, row_number() OVER"
	"    (PARTITION BY ticker ORDER BY created_us DESC, trade_id DESC) AS latest"
	"   FROM trades WHERE +created_us >= ?2 AND id > ?3 AND id <= ?4) n"
	"  WHERE latest = 1) AS x"
	" WHERE stats_markets.window_s = ?1 AND stats_markets.ticker = x.ticker"
	" AND (stats_markets.last_us, stats_markets.last_trade_id) < (x.created_us, x.trade_id)";

static int new_lasts(struct kw_store *s, const int64_t *cutoff_us, int64_t after_id,
		     int64_t upto_id)
{
	if (after_id >= upto_id)
		return 0;
	for (int w = 0; w < KW_STATS_WINDOWS; w++) {
		struct kw_stmt *st = kw_store_stmt(s, SQL_SET_LAST);
		if (!st)
			return -1;
		kw_sql_bind_i64(st, 1, kw_stats_window_s[w]);
		kw_sql_bind_i64(st, 2, cutoff_us[w]);
		kw_sql_bind_i64(st, 3, after_id);
		kw_sql_bind_i64(st, 4, upto_id);
		if (kw_store_step_done(s, st, "updating the markets' last trades") < 0)
			return -1;
	}
	return 0;
}

/* The start price of every market of the window, written where it changed (IS NOT: NULL is
 * a value here, "no price then"); each price is looked up once (MATERIALIZED: otherwise
 * SQLite flattens x and looks each up twice). */
#define START_PRICE_SET(PRICE)                                                                     \
	"WITH x AS MATERIALIZED (SELECT y.ticker AS t, " PRICE " AS p FROM stats_markets y"        \
	"  WHERE y.window_s = ?1)"                                                                 \
	" UPDATE stats_markets SET start_price_micros = x.p FROM x WHERE"                          \
	" stats_markets.window_s = ?1 AND stats_markets.ticker = x.t"                              \
	" AND stats_markets.start_price_micros IS DISTINCT FROM x.p"
#define PRICE_DAY "(SELECT previous_price_micros FROM markets m WHERE m.ticker = y.ticker)"
#define PRICE_AT                                                                                   \
	"(SELECT last_price_micros FROM market_snapshots p WHERE p.ticker = y.ticker"              \
	" AND p.taken_at <= ?2 ORDER BY p.taken_at DESC LIMIT 1)"
static const char SQL_START_DAY[] = START_PRICE_SET(PRICE_DAY);
static const char SQL_START_AT[] = START_PRICE_SET(PRICE_AT);

/* The same for the markets whose start price can have changed since the last update (?3 =
 * the old window start, ?4 = the trade id counted up to before, ?5 = the kind of change in
 * rollup_dirty that moves this window's price). Each candidate list is read along an index:
 * rollup_dirty's key, market_snapshots_time, the trades' rowid. */
#define START_PRICE_SOME(PRICE)                                                                    \
	"WITH x AS MATERIALIZED (SELECT y.ticker AS t, " PRICE " AS p FROM stats_markets y"        \
	"  WHERE y.window_s = ?1 AND y.ticker IN ("                                                \
	"   SELECT ticker FROM rollup_dirty WHERE kind = ?5"                                       \
	"   UNION SELECT ticker FROM market_snapshots WHERE taken_at > ?3 AND taken_at <= ?2"      \
	"   UNION SELECT ticker FROM trades WHERE id > ?4))"                                       \
	" UPDATE stats_markets SET start_price_micros = x.p FROM x WHERE"                          \
	" stats_markets.window_s = ?1 AND stats_markets.ticker = x.t"                              \
	" AND stats_markets.start_price_micros IS DISTINCT FROM x.p"
static const char SQL_START_SOME_DAY[] = START_PRICE_SOME(PRICE_DAY);
static const char SQL_START_SOME_AT[] = START_PRICE_SOME(PRICE_AT);
static const char SQL_DIRTY_CLEAR[] = "DELETE FROM rollup_dirty";
static const char SQL_DIRTY_MARKETS[] = "SELECT EXISTS (SELECT 1 FROM rollup_dirty WHERE kind = 1)";

/* ---- top trades ---------------------------------------------------------------------------- */

static const char SQL_TOP_EXPIRE[] = "DELETE FROM stats_top_trades WHERE window_s = ?1"
				     " AND created_us < ?2";
static const char SQL_TOP_CLEAR[] = "DELETE FROM stats_top_trades WHERE window_s = ?1";
static const char SQL_TOP_BIG[] = "SELECT count(*) FROM (SELECT 1 FROM trades"
				  " WHERE notional_micros >= 1000000000 AND created_us >= ?1"
				  " AND id <= ?2 LIMIT ?3) b";
#define TOP_FILL(FLOOR)                                                                            \
	"INSERT INTO stats_top_trades (window_s, trade_rowid, notional_micros,"                    \
	" created_us) SELECT ?4, id, notional_micros, created_us FROM trades"                      \
	" WHERE " FLOOR                                                                            \
	"notional_micros IS NOT NULL AND created_us >= ?1 AND id > ?5 AND id <= ?2"                \
	" ORDER BY notional_micros DESC, id DESC LIMIT ?3 ON CONFLICT DO NOTHING"
static const char SQL_TOP_FILL_BIG[] = TOP_FILL("notional_micros >= 1000000000 AND ");
static const char SQL_TOP_FILL_ALL[] = TOP_FILL("");
static const char SQL_TOP_FILL_NEW[] =
	"INSERT INTO stats_top_trades (window_s, trade_rowid, notional_micros,"
	" created_us) SELECT ?4, id, notional_micros, created_us FROM trades"
	" WHERE notional_micros IS NOT NULL AND +created_us >= ?1 AND id > ?5 AND id <= ?2"
	" ORDER BY notional_micros DESC, id DESC LIMIT ?3 ON CONFLICT DO NOTHING";
static const char SQL_TOP_TRIM[] =
	"DELETE FROM stats_top_trades WHERE window_s = ?1 AND trade_rowid NOT IN"
	" (SELECT trade_rowid FROM stats_top_trades WHERE window_s = ?1"
	"  ORDER BY notional_micros DESC, trade_rowid DESC LIMIT ?2)";

static int top_fill(struct kw_store *s, const char *sql, int64_t window_s, int64_t cutoff_us,
		    int64_t after_id, int64_t upto_id)
{
	struct kw_stmt *st = kw_store_stmt(s, sql);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, cutoff_us);
	kw_sql_bind_i64(st, 2, upto_id);
	kw_sql_bind_int(st, 3, KW_STATS_TOP_MAX);
	kw_sql_bind_i64(st, 4, window_s);
	kw_sql_bind_i64(st, 5, after_id);
	return kw_store_step_done(s, st, "choosing a window's top trades");
}

static int one_window_stmt(struct kw_store *s, const char *sql, int64_t window_s, int64_t arg,
			   const char *what)
{
	struct kw_stmt *st = kw_store_stmt(s, sql);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, window_s);
	kw_sql_bind_i64(st, 2, arg);
	return kw_store_step_done(s, st, what);
}

/* ---- per-market hours ---------------------------------------------------------------------- */

static const char SQL_HOURS_ADD[] =
	"INSERT INTO market_hours (ticker, hour, notional_micros, trades)"
	" SELECT ticker, created_us / 3600000000, ifnull(sum(notional_micros), 0), count(*)"
	"   FROM trades"
	"  WHERE id > ?1 AND id <= ?2 AND +created_us >= ?3 GROUP BY 1, 2"
	" ON CONFLICT (ticker, hour) DO UPDATE SET"
	" notional_micros = market_hours.notional_micros + excluded.notional_micros,"
	" trades = market_hours.trades + excluded.trades";
static const char SQL_HOURS_PRUNE[] = "DELETE FROM market_hours WHERE hour < ?1";
static const char SQL_HOURS_CLEAR[] = "DELETE FROM market_hours";

/* ---- legacy views -------------------------------------------------------------------------- */

/* Open markets in the legacy order (24 h contract volume, then ticker, both descending), the
 * first KW_LEGACY_VIEW_MAX of each view. 'all' and 'crypto' walk markets_v1_volume_24h and
 * stop at the limit; the categories are ranked in one pass. */
#define VIEW_ORDER "ifnull(m.volume_24h_centi, -1) DESC, m.ticker DESC"
#define VIEW_OPEN "m.status IN ('active', 'open')"
static const char SQL_VIEWS_CLEAR[] = "DELETE FROM legacy_views";
static const char SQL_VIEW_ALL[] =
	"INSERT INTO legacy_views (view, rank, ticker)"
	" SELECT 'all', row_number() OVER (ORDER BY " VIEW_ORDER "), m.ticker FROM markets m"
	" WHERE " VIEW_OPEN " ORDER BY " VIEW_ORDER " LIMIT ?1";
static const char SQL_VIEW_CRYPTO[] =
	"INSERT INTO legacy_views (view, rank, ticker)"
	" SELECT 'crypto', row_number() OVER (ORDER BY " VIEW_ORDER "), m.ticker FROM markets m"
	" WHERE " VIEW_OPEN " AND " KW_SQL_CRYPTO_VIEW("?2") " ORDER BY " VIEW_ORDER " LIMIT ?1";
static const char SQL_VIEW_CATEGORIES[] =
	"INSERT INTO legacy_views (view, rank, ticker)"
	" SELECT 'c:' || c, rn, ticker FROM (SELECT lower(m.category) AS c, m.ticker AS ticker,"
	"  row_number() OVER (PARTITION BY lower(m.category) ORDER BY " VIEW_ORDER ") AS rn"
	"  FROM markets m WHERE " VIEW_OPEN " AND m.category IS NOT NULL) r WHERE rn <= ?1";
static const char STATE_VIEWS_AT[] = "legacy_views_at";
static const char STATE_VIEWS_RULES[] = "legacy_views_rules";

/* The basis the stamps stored in fetch_state and stats_windows were hashed from: FNV-1a's
 * offset basis short of its last digit. Kept: a stamp that changed with an upgrade would make
 * the next run count every window again from the trades. */
#define STAMP_BASIS 1469598103934665603ULL

static int64_t text_hash(const char *c)
{
	return (int64_t)(kw_fnv1a_str(STAMP_BASIS, c) >> 1);
}

/* Ranked again only when a market row changed since (rollup_dirty kind 1: the order and the
 * membership read nothing else), the crypto prefixes changed, or on a rebuild: ranking every
 * market cost most of a run that found nothing new. */
static int views_update(struct kw_store *s, int64_t now_s, const char *prefixes, int rebuild)
{
	const char *sqls[] = { SQL_VIEW_ALL, SQL_VIEW_CRYPTO, SQL_VIEW_CATEGORIES };
	int64_t at = 0, rules = 0, dirty = 0, hash = text_hash(prefixes ? prefixes : "");
	int have_at = kw_store_fetch_state_get(s, STATE_VIEWS_AT, &at);
	int have_rules = kw_store_fetch_state_get(s, STATE_VIEWS_RULES, &rules);
	if (have_at < 0 || have_rules < 0 || kw_store_scalar(s, SQL_DIRTY_MARKETS, &dirty) < 0)
		return -1;
	if (!rebuild && have_at && have_rules && rules == hash && !dirty)
		return 0;
	if (kw_store_exec(s, SQL_VIEWS_CLEAR) < 0)
		return -1;
	for (size_t i = 0; i < KW_ARRAY_LEN(sqls); i++) {
		struct kw_stmt *st = kw_store_stmt(s, sqls[i]);
		if (!st)
			return -1;
		kw_sql_bind_int(st, 1, KW_LEGACY_VIEW_MAX);
		if (i == 1)
			kw_sql_bind_text_static(st, 2, prefixes ? prefixes : "[]");
		if (kw_store_step_done(s, st, "ranking the legacy views") < 0)
			return -1;
	}
	if (kw_store_fetch_state_set(s, STATE_VIEWS_RULES, hash) < 0)
		return -1;
	return kw_store_fetch_state_set(s, STATE_VIEWS_AT, now_s);
}

/* ---- the update ---------------------------------------------------------------------------- */

static const char SQL_WINDOW_GET[] =
	"SELECT cutoff_us, upto_id, whale_rules, markets_traded FROM stats_windows"
	" WHERE window_s = ?1";
static const char SQL_WINDOW_PUT[] =
	"INSERT INTO stats_windows (window_s, as_of, cutoff_us, upto_id,"
	" markets_traded, whale_rules) VALUES (?1, ?2, ?3, ?4,"
	" (SELECT count(*) FROM stats_markets WHERE window_s = ?1), ?5)"
	" ON CONFLICT (window_s) DO UPDATE SET as_of = excluded.as_of,"
	" cutoff_us = excluded.cutoff_us, upto_id = excluded.upto_id,"
	" markets_traded = excluded.markets_traded, whale_rules = excluded.whale_rules";
static const char SQL_MARKETS_CLEAR[] = "DELETE FROM stats_markets WHERE window_s = ?1";
static const char SQL_WHALES_CLEAR[] = "DELETE FROM stats_whales WHERE window_s = ?1";
static const char STATE_HOURS_UPTO[] = "rollup_hours_upto_id";
static const char STATE_HOURS_FROM[] = "rollup_hours_from";

/* FNV-1a of the whale rules, so that a change of thresholds recounts the whale trades. */
static int64_t rules_hash(const struct kw_rollup_rules *r)
{
	unsigned char le[8]; /* the threshold's bytes, least significant first, on any host */
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)((uint64_t)r->default_threshold_micros >> (8 * i));
	uint64_t h =
		kw_fnv1a_str(STAMP_BASIS, r->category_thresholds ? r->category_thresholds : "{}");
	return (int64_t)(kw_fnv1a(h, le, sizeof(le)) >> 1);
}

/* Every kind of change in ?1 (KW_DIRTY_* bits) for market ?2, in one statement: a changed
 * market is marked for both kinds at once, and each statement is a round trip on PostgreSQL. */
static const char SQL_DIRTY_MARK[] =
	"INSERT INTO rollup_dirty (kind, ticker) SELECT k, ?2 FROM"
	" (SELECT 1 AS k UNION ALL SELECT 2) v WHERE (?1 & k) <> 0 ON CONFLICT DO NOTHING";

int kw_store_rollup_dirty(struct kw_store *s, int kinds, const char *ticker)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_DIRTY_MARK);
	if (!st)
		return -1;
	kw_sql_bind_int(st, 1, kinds & (KW_DIRTY_MARKET | KW_DIRTY_SNAPSHOT));
	kw_sql_bind_text_static(st, 2, ticker);
	return kw_store_step_done(s, st, "noting a changed market");
}

/* Start prices of window_s starting at from_s: every market's when full, else the markets
 * whose price can have moved since the window started at old_from_s and counted trades up to
 * after_id. */
static int start_prices(struct kw_store *s, int64_t window_s, int64_t from_s, int64_t old_from_s,
			int64_t after_id, int full)
{
	int day = window_s == 86400;
	if (full)
		return one_window_stmt(s, day ? SQL_START_DAY : SQL_START_AT, window_s, from_s,
				       "reading start prices");
	struct kw_stmt *st = kw_store_stmt(s, day ? SQL_START_SOME_DAY : SQL_START_SOME_AT);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, window_s);
	kw_sql_bind_i64(st, 2, from_s);
	/* The 24 h price does not depend on the time: no snapshot range. */
	kw_sql_bind_i64(st, 3, day ? from_s : old_from_s);
	kw_sql_bind_i64(st, 4, after_id);
	kw_sql_bind_int(st, 5, day ? 1 : 2);
	return kw_store_step_done(s, st, "reading start prices");
}

/* 1 and the state when the window has one, 0 when not, -1 on error. */
static int window_get(struct kw_store *s, int64_t window_s, int64_t *cutoff, int64_t *upto,
		      int64_t *rules, int64_t *markets)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_WINDOW_GET);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, window_s);
	int step = kw_sql_step(st), rc = step == KW_ROW ? 1 : step == KW_DONE ? 0 : -1;
	if (rc == 1) {
		*cutoff = kw_sql_col_i64(st, 0);
		*upto = kw_sql_col_i64(st, 1);
		*rules = kw_sql_col_i64(st, 2);
		*markets = kw_sql_col_i64(st, 3);
	}
	kw_sql_reset(st);
	return rc < 0 ? kw_store_fail(s, "reading a stats window") : rc;
}

/*
 * The update in steps. Each step is one transaction that leaves every rollup counting whole
 * trades under its own state, so that another writer waits for one step (about
 * KW_STORE_WRITE_STEP_US on SQLite, docs/database-locks.md; longer on PostgreSQL, where
 * nobody waits for these rows: KW_PG_WRITE_STEP_US) and a run stopped between two steps leaves
 * rollups that the next run carries on from:
 *   - stats_windows (cutoff_us, upto_id): the window holds exactly its trades with
 *     created_us >= cutoff_us and id <= upto_id; the old edge leaves a slice of time a step
 *     (cutoff_us follows), new trades come in a range of ids a step (upto_id follows);
 *   - fetch_state rollup_hours_upto_id: market_hours counts the trades up to it;
 *   - the top list: the 50 biggest of the window at upto_id, and perhaps trades older than the
 *     cutoff, which the next expiry finds and then chooses the list again;
 *   - fetch_state rollup_price_from_W / rollup_price_after_W: the window start and the trade
 *     id the start prices were last read at, so the markets that gained trades in the steps
 *     of a stopped run are read at the end of the next.
 * The start prices, the windows' as_of, the legacy views and rollup_dirty move in the last
 * step, the only commit that advances the market-data generation (as one transaction did).
 */
#define FIRST_IDS 2000
#define FIRST_SLICE_US (600LL * 1000000)
#define TINY_IDS 3
#define TINY_SLICE_US (1800LL * 1000000)

static const char SQL_WINDOW_MOVED[] =
	"UPDATE stats_windows SET cutoff_us = ?2, upto_id = ?3 WHERE window_s = ?1";

struct win {
	int64_t window_s, from_s, cutoff, hash;
	int64_t old_cutoff, old_upto, old_markets; /* as stored: reached so far */
	int64_t price_from, price_after;	   /* start prices read at (fetch_state) */
	int full;
	char price_from_name[48], price_after_name[48];
};

struct steps {
	const struct kw_rollup_rules *rules;
	int64_t done, t0;
};

/* The next step's size from how long the last one took, aiming at the backend's step length
 * (kw_store_write_step_us). */
static int64_t next_step(struct kw_store *s, const struct steps *k, int64_t size, int64_t lo,
			 int64_t hi, int64_t tiny)
{
	if (k->rules->tiny_steps)
		return tiny;
	int64_t took = kw_mono_us() - k->t0;
	size = took > 0 ? size * kw_store_write_step_us(s) / took : size * 4;
	return size < lo ? lo : size > hi ? hi : size;
}

/* The step's time runs from when it holds the lock (kw_store_begin may first wait). */
static int step_begin(struct kw_store *s, struct steps *k)
{
	if (kw_store_begin(s) < 0)
		return -1;
	k->t0 = kw_mono_us();
	return 0;
}

/* Commits a step that is not the last (no new data generation yet); -1 also when the test
 * hook stops the run here. */
static int step_commit(struct kw_store *s, struct steps *k)
{
	if (kw_store_commit_step(s) < 0)
		return -1;
	k->done++;
	return k->rules->stop_after_steps && k->done >= k->rules->stop_after_steps ? -1 : 0;
}

static int window_moved(struct kw_store *s, const struct win *w, int64_t cutoff, int64_t upto)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_WINDOW_MOVED);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, w->window_s);
	kw_sql_bind_i64(st, 2, cutoff);
	kw_sql_bind_i64(st, 3, upto);
	return kw_store_step_done(s, st, "storing a stats window");
}

static int window_put(struct kw_store *s, const struct win *w, int64_t now_s, int64_t cutoff,
		      int64_t upto)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_WINDOW_PUT);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, w->window_s);
	kw_sql_bind_i64(st, 2, now_s);
	kw_sql_bind_i64(st, 3, cutoff);
	kw_sql_bind_i64(st, 4, upto);
	kw_sql_bind_i64(st, 5, w->hash);
	return kw_store_step_done(s, st, "storing a stats window");
}

/* In the first step: where the window is, and a window to be counted from scratch emptied
 * (no state, trades removed under it, the clock went back, other whale rules, a rebuild). */
static int window_start(struct kw_store *s, struct win *w, int64_t now_s,
			const struct kw_rollup_rules *rules, int64_t upto, int rebuild)
{
	int64_t rules_was = 0;
	w->from_s = now_s - w->window_s;
	if (rules->retention_s > 0 && w->from_s < now_s - rules->retention_s)
		w->from_s = now_s - rules->retention_s;
	w->cutoff = w->from_s * 1000000;
	w->hash = rules_hash(rules);
	snprintf(w->price_from_name, sizeof(w->price_from_name), "rollup_price_from_%lld",
		 (long long)w->window_s);
	snprintf(w->price_after_name, sizeof(w->price_after_name), "rollup_price_after_%lld",
		 (long long)w->window_s);
	int have = window_get(s, w->window_s, &w->old_cutoff, &w->old_upto, &rules_was,
			      &w->old_markets);
	if (have < 0)
		return -1;
	int have_from = kw_store_fetch_state_get(s, w->price_from_name, &w->price_from);
	int have_after = kw_store_fetch_state_get(s, w->price_after_name, &w->price_after);
	if (have_from < 0 || have_after < 0)
		return -1;
	if (have && (!have_from || !have_after)) {
		/* Stored by the one-transaction update: prices read where the sums are. */
		w->price_from = w->old_cutoff / 1000000;
		w->price_after = w->old_upto;
	}
	w->full = rebuild || !have || w->old_upto > upto || w->cutoff < w->old_cutoff ||
		  rules_was != w->hash;
	if (!w->full)
		return 0;
	w->old_cutoff = w->cutoff;
	w->old_upto = 0;
	w->old_markets = 0;
	w->price_from = w->from_s;
	w->price_after = 0;
	if (one_window_stmt(s, SQL_MARKETS_CLEAR, w->window_s, 0, "clearing stats") < 0 ||
	    one_window_stmt(s, SQL_WHALES_CLEAR, w->window_s, 0, "clearing stats") < 0 ||
	    one_window_stmt(s, SQL_TOP_CLEAR, w->window_s, 0, "clearing top trades") < 0 ||
	    window_put(s, w, now_s, w->cutoff, 0) < 0 ||
	    kw_store_fetch_state_set(s, w->price_after_name, 0) < 0)
		return -1;
	return 0;
}

/* The trades that left the window, a slice of time a step. */
static int window_expire(struct kw_store *s, struct win *w, const struct kw_rollup_rules *rules,
			 struct steps *k)
{
	int64_t slice = rules->tiny_steps ? TINY_SLICE_US : FIRST_SLICE_US;
	while (w->old_cutoff < w->cutoff) {
		int64_t to = w->cutoff - w->old_cutoff > slice ? w->old_cutoff + slice : w->cutoff;
		if (step_begin(s, k) < 0)
			return -1;
		if (move(s, w->window_s, rules, w->old_cutoff, to, 0, w->old_upto, -1, 0) < 0 ||
		    one_window_stmt(s, SQL_MARKETS_PRUNE, w->window_s, 0, "pruning stats") < 0 ||
		    one_window_stmt(s, SQL_WHALES_PRUNE, w->window_s, 0, "pruning stats") < 0 ||
		    window_moved(s, w, to, w->old_upto) < 0 || step_commit(s, k) < 0)
			return -1;
		w->old_cutoff = to;
		slice = next_step(s, k, slice, 1000000, 86400LL * 1000000, TINY_SLICE_US);
	}
	/* A top trade that left: the list is chosen again from the window. */
	if (step_begin(s, k) < 0 ||
	    one_window_stmt(s, SQL_TOP_EXPIRE, w->window_s, w->cutoff, "expiring top trades") < 0)
		return -1;
	if (kw_store_changes(s) > 0) {
		if (one_window_stmt(s, SQL_TOP_CLEAR, w->window_s, 0, "clearing top trades") < 0)
			return -1;
		struct kw_stmt *st = kw_store_stmt(s, SQL_TOP_BIG);
		if (!st)
			return -1;
		kw_sql_bind_i64(st, 1, w->cutoff);
		kw_sql_bind_i64(st, 2, w->old_upto);
		kw_sql_bind_int(st, 3, KW_STATS_TOP_MAX);
		if (kw_sql_step(st) != KW_ROW) {
			kw_sql_reset(st);
			return kw_store_fail(s, "counting big trades");
		}
		int enough = kw_sql_col_i64(st, 0) >= KW_STATS_TOP_MAX;
		kw_sql_reset(st);
		if (top_fill(s, enough ? SQL_TOP_FILL_BIG : SQL_TOP_FILL_ALL, w->window_s,
			     w->cutoff, 0, w->old_upto) < 0)
			return -1;
	}
	return step_commit(s, k);
}

/* One window's share of a step of new trades: ids (old_upto, to]. */
static int window_add(struct kw_store *s, struct win *w, const struct kw_rollup_rules *rules,
		      int64_t to)
{
	if (w->old_upto >= to)
		return 0;
	if (move(s, w->window_s, rules, w->cutoff, BIG, w->old_upto, to, 1, 1) < 0 ||
	    top_fill(s, SQL_TOP_FILL_NEW, w->window_s, w->cutoff, w->old_upto, to) < 0 ||
	    one_window_stmt(s, SQL_TOP_TRIM, w->window_s, KW_STATS_TOP_MAX, "trimming top trades") <
		    0 ||
	    window_moved(s, w, w->cutoff, to) < 0)
		return -1;
	return 0;
}

static int hours_add(struct kw_store *s, int64_t after_id, int64_t to, int64_t first_hour)
{
	struct kw_stmt *st = kw_store_stmt(s, SQL_HOURS_ADD);
	if (!st)
		return -1;
	kw_sql_bind_i64(st, 1, after_id);
	kw_sql_bind_i64(st, 2, to);
	kw_sql_bind_i64(st, 3, first_hour * HOUR_US);
	if (kw_store_step_done(s, st, "adding market hours") < 0)
		return -1;
	return kw_store_fetch_state_set(s, STATE_HOURS_UPTO, to);
}

/* The last step: start prices, each window's as_of and market count, the legacy views. */
static int finish(struct kw_store *s, struct win *w, int64_t now_s, int64_t upto,
		  const struct kw_rollup_rules *rules, int rebuild)
{
	for (int i = 0; i < KW_STATS_WINDOWS; i++) {
		/* Every market's start price when more trades came in than the window had
		 * markets: one walk of the window costs less than listing their markets. */
		int all = w[i].full || w[i].price_after <= 0 ||
			  upto - w[i].price_after > w[i].old_markets;
		if (start_prices(s, w[i].window_s, w[i].from_s, w[i].price_from, w[i].price_after,
				 all) < 0 ||
		    window_put(s, &w[i], now_s, w[i].cutoff, upto) < 0 ||
		    kw_store_fetch_state_set(s, w[i].price_from_name, w[i].from_s) < 0 ||
		    kw_store_fetch_state_set(s, w[i].price_after_name, upto) < 0)
			return -1;
	}
	if (views_update(s, now_s, rules->crypto_prefixes, rebuild) < 0 ||
	    kw_store_exec(s, SQL_DIRTY_CLEAR) < 0)
		return -1;
	return 0;
}

int kw_store_rollups_update(struct kw_store *s, int64_t now_s, const struct kw_rollup_rules *rules,
			    int rebuild)
{
	int64_t upto = 0, hours_upto = 0, first_hour = now_s / 3600 - HOURS_KEPT, pruned_from = 0;
	struct steps k = { .rules = rules };
	struct win w[KW_STATS_WINDOWS];
	memset(w, 0, sizeof(w));
	if (step_begin(s, &k) < 0)
		return -1;
	int have = kw_store_fetch_state_get(s, STATE_HOURS_UPTO, &hours_upto);
	int have_from = kw_store_fetch_state_get(s, STATE_HOURS_FROM, &pruned_from);
	if (have < 0 || have_from < 0 || kw_store_trades_max_id(s, &upto) < 0)
		goto fail;
	if (rebuild || !have || hours_upto > upto) {
		hours_upto = 0;
		if (kw_store_exec(s, SQL_HOURS_CLEAR) < 0 ||
		    kw_store_fetch_state_set(s, STATE_HOURS_UPTO, 0) < 0)
			goto fail;
	}
	/* The prune walks every market's hours (no index on the hour alone), most of a run with
	 * nothing new, so it runs only when the first hour kept moved: no hour before it was
	 * kept at the last prune, and none is added since (SQL_HOURS_ADD starts there). */
	if (!have_from || pruned_from != first_hour) {
		struct kw_stmt *st = kw_store_stmt(s, SQL_HOURS_PRUNE);
		if (!st)
			goto fail;
		kw_sql_bind_i64(st, 1, first_hour);
		if (kw_store_step_done(s, st, "pruning market hours") < 0 ||
		    kw_store_fetch_state_set(s, STATE_HOURS_FROM, first_hour) < 0)
			goto fail;
	}
	for (int i = 0; i < KW_STATS_WINDOWS; i++) {
		w[i].window_s = kw_stats_window_s[i];
		if (window_start(s, &w[i], now_s, rules, upto, rebuild) < 0)
			goto fail;
	}
	if (step_commit(s, &k) < 0)
		goto fail;

	for (int i = 0; i < KW_STATS_WINDOWS; i++)
		if (window_expire(s, &w[i], rules, &k) < 0)
			goto fail;

	/* The trades stored since, a range of ids a step, for whichever rollups lack them. */
	int64_t lo = hours_upto, ids = rules->tiny_steps ? TINY_IDS : FIRST_IDS,
		cutoffs[KW_STATS_WINDOWS];
	for (int i = 0; i < KW_STATS_WINDOWS; i++) {
		cutoffs[i] = w[i].cutoff;
		if (w[i].old_upto < lo)
			lo = w[i].old_upto;
	}
	while (lo < upto) {
		int64_t to = upto - lo > ids ? lo + ids : upto;
		if (step_begin(s, &k) < 0)
			goto fail;
		if (hours_upto < to) {
			if (hours_add(s, hours_upto, to, first_hour) < 0)
				goto fail;
		}
		for (int i = 0; i < KW_STATS_WINDOWS; i++)
			if (window_add(s, &w[i], rules, to) < 0)
				goto fail;
		/* Offered again a trade counted in a stopped run: the comparison ignores it. */
		if (new_lasts(s, cutoffs, lo, to) < 0 || step_commit(s, &k) < 0)
			goto fail;
		hours_upto = hours_upto > to ? hours_upto : to;
		for (int i = 0; i < KW_STATS_WINDOWS; i++)
			if (w[i].old_upto < to)
				w[i].old_upto = to;
		lo = to;
		ids = next_step(s, &k, ids, 1000, 10000000, TINY_IDS);
	}

	if (step_begin(s, &k) < 0 || finish(s, w, now_s, upto, rules, rebuild) < 0 ||
	    kw_store_commit(s) < 0)
		goto fail;
	return 0;
fail:
	kw_store_rollback(s);
	return -1;
}
