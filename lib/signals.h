/*
 * signals.h — the one list of detection signals. Everything that names a signal is derived
 * from KW_SIGNALS: the alert type enum, the `type` parameter's allowed values (and so the
 * OpenAPI enum), detection's log summary, the labels the dashboard shows (served by
 * GET /api/v1/signals) and which signals a cooldown applies to. The SQL CHECK on alerts.type
 * cannot be generated (migrations are fixed text), so tests/unit/test_whale.c reads the CHECK
 * from the schema and fails when it and this list disagree.
 *
 * Kinds: an EVENT signal (a single trade) is raised for every occurrence; a STATE signal
 * (something about a market over a window) is held back by ALERT_COOLDOWN_MIN.
 *
 * X(ENUM_SUFFIX, name, label, kind, what it means)
 */
#ifndef KW_SIGNALS_H
#define KW_SIGNALS_H

#include <stddef.h>

enum kw_signal_kind { KW_SIGNAL_EVENT, KW_SIGNAL_STATE };

#define KW_SIGNALS(X)                                                                              \
	X(WHALE_TRADE, whale_trade, "Whale trade", KW_SIGNAL_EVENT,                                \
	  "one trade whose taker premium is at or over the whale threshold")                       \
	X(VOLUME_SURGE, volume_surge, "Volume surge", KW_SIGNAL_STATE,                             \
	  "many trades in a short window, a multiple of the market's usual premium")               \
	X(ODDS_FLIP, odds_flip, "Odds flip", KW_SIGNAL_STATE,                                      \
	  "the last traded price moved many points within a short window")                         \
	X(ORDER_BOOK_SHIFT, order_book_shift, "Order-book shift", KW_SIGNAL_STATE,                 \
	  "resting depth or its YES share changed sharply since the previous run")                 \
	X(HIGH_VOLUME, high_volume, "High volume", KW_SIGNAL_STATE,                                \
	  "a market's taker premium over 24 hours passed the high-volume mark")

#define KW_SIGNAL_ENUM_(E, n, l, k, d) KW_ALERT_##E,
enum kw_alert_type { KW_SIGNALS(KW_SIGNAL_ENUM_) KW_ALERT_NTYPES };
#undef KW_SIGNAL_ENUM_

/* "whale_trade|volume_surge|..." as one string literal (the `type` parameter's choices). */
#define KW_SIGNAL_CHOICE_(E, n, l, k, d) "|" #n
#define KW_SIGNAL_CHOICES (&(KW_SIGNALS(KW_SIGNAL_CHOICE_))[1])

struct kw_signal {
	enum kw_alert_type type;
	const char *name;  /* alerts.type */
	const char *label; /* what people read */
	enum kw_signal_kind kind;
	const char *description;
};

/* The table, indexed by enum kw_alert_type; KW_ALERT_NTYPES entries. */
extern const struct kw_signal kw_signals[KW_ALERT_NTYPES];

/* The entry named name, or NULL. */
const struct kw_signal *kw_signal_find(const char *name);

#endif
