/*
 * whale.h — whale detection: turns stored trades and snapshots into alerts (the category
 * rules it applies, which the API and the settings check share, are in category.h).
 *
 * Signals (all thresholds are settings, see config.h; "high" multiples are fixed):
 *   whale_trade       one trade's taker premium >= the market category's threshold
 *                     (WHALE_MIN_NOTIONAL_BY_CATEGORY, else WHALE_MIN_NOTIONAL_USD); high at 5x.
 *   volume_surge      a market's taker premium in a SURGE_WINDOW_MIN bucket (aligned to the Unix
 *                     epoch) >= VOLUME_SURGE_MULTIPLIER x the mean per-bucket premium over the
 *                     24 h before the bucket (empty buckets count as zero), and >=
 *                     SURGE_MIN_NOTIONAL_USD, with at least SURGE_MIN_TRADES trades in the
 *                     bucket and as many in its 24 h baseline (fewer: no signal; a single trade
 *                     is a whale trade or nothing). The multiplier is exact (thousandths).
 *                     High at max(5, multiplier) x.
 *   odds_flip         a market snapshot's last yes price is >= ODDS_CHANGE_POINTS (percentage
 *                     points) above the lowest or below the highest last price among the
 *                     market's snapshots in the ODDS_WINDOW_MIN before it. High at max(25, pts).
 *   order_book_shift  a watched market's book against its book from the previous run that took
 *                     books, when that one is younger than ORDERBOOK_BASELINE_MAX_MIN (else
 *                     the market starts a fresh baseline: it re-entered the watch list): total
 *                     bid depth (yes + no) changed by >= ORDERBOOK_CHANGE_PERCENT percent of the
 *                     earlier depth, or the yes share of depth moved by >= that many points
 *                     (data.reason "depth" or "imbalance"). High at max(50, pct). A book that
 *                     held depth and holds none is its own reason ("book_emptied", high), not
 *                     a -100 % change. No baseline or an empty earlier book -> no signal.
 *   high_volume       a market's taker premium over the 24 h ending at its newest trade
 *                     >= HIGH_VOLUME_USD; at most once per market per UTC day. High at 5x.
 * Each alert is stored once under a deterministic alert_key "type:ticker:window" (window = the
 * Kalshi trade id, the bucket start, the snapshot time or the UTC day). whale_trade is an
 * event: every trade at or over its threshold is its own alert, however close to another.
 * The state signals (the others, see signals.h) have a cooldown that runs forward only: an
 * alert holds back later signals of its type for its market whose window ends within
 * ALERT_COOLDOWN_MIN after its own (event time, not wall time, so a replay decides exactly as
 * the live run did), unless the later one is stronger (alerts.strength: the surge multiple,
 * the move in points, the change in percent, the 24 h premium); a stronger one follows the
 * weaker as its own alert, so it is never lost. alerts.data holds the numbers and thresholds
 * in force.
 *
 * Confidence (0..100) grows linearly from 50 at the threshold to 100 at the high mark.
 * Categories come from Kalshi's series (markets.category); "crypto" is the Crypto category
 * (case-insensitive) or a series ticker starting with one of CRYPTO_SERIES_PREFIXES.
 */
#ifndef KW_WHALE_H
#define KW_WHALE_H

#include <json-c/json.h>
#include <stdint.h>

#include "config.h"
#include "signals.h"
#include "store.h"
#include "util.h"

#define KW_WHALE_HIGH_MULTIPLE 5 /* whale_trade and high_volume: high at 5x the threshold */
#define KW_SURGE_HIGH_MULTIPLE 5.0
#define KW_ODDS_HIGH_POINTS 25
#define KW_BOOK_HIGH_PERCENT 50

/* "whale_trade", ... (the alerts.type values). */
const char *kw_alert_type_name(enum kw_alert_type t);

struct kw_detect_stats {
	int64_t fired[KW_ALERT_NTYPES]; /* alerts stored by this run, per type */
	int64_t fired_total;
	int64_t duplicates; /* already stored under the same alert_key (a re-run) */
	int64_t cooled;	    /* held back by ALERT_COOLDOWN_MIN (no stronger than what fired) */
	int64_t surge_few_trades;     /* surge windows under SURGE_MIN_TRADES trades */
	int64_t surge_thin_baseline;  /* surge windows whose 24 h baseline is under it */
	int64_t trades_without_side;  /* stored, counted, but no premium: premium signals skip */
	int64_t books_fresh_baseline; /* books with no recent previous-run book to compare */
	int64_t trades_examined;
	int64_t snapshots_examined;
	int64_t books_examined;
	int64_t elapsed_us;
};

/*
 * Examine what was stored since the previous run and record the alerts it raises, in one
 * transaction (or a savepoint when the caller already holds one). now (Unix seconds) is the
 * alerts' created_at; the very first run (no detect_state yet) examines only the trades of the
 * 24 h, the snapshots of the ODDS_WINDOW_MIN and the order books of the hour before now.
 * Re-running over the same data adds nothing. 0 on success, -1 (logged,
 * nothing stored) on a database error.
 */
int kw_detect_run(struct kw_store *s, const struct kw_config *cfg, int64_t now,
		  struct kw_detect_stats *out) KW_WUR;

/* kw_store_rollups_update (store_rollup.h) with the whale thresholds and retention of cfg. */
int kw_whale_rollups(struct kw_store *s, const struct kw_config *cfg, int64_t now_s,
		     int rebuild) KW_WUR;

/* Linear confidence: 50 at threshold, 100 at high (values in any common unit). */
int kw_whale_confidence(long double value, long double threshold, long double high);

#endif
