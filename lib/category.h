/*
 * category.h — the category rules: per-category whale thresholds
 * (WHALE_MIN_NOTIONAL_BY_CATEGORY over WHALE_MIN_NOTIONAL_USD) and the crypto view (the
 * Crypto category, or a series ticker starting with one of CRYPTO_SERIES_PREFIXES). Shared by
 * detection (whale.c), the API's lists and the settings check (config.c).
 *
 * Categories come from Kalshi's series (markets.category), compared case-insensitively.
 */
#ifndef KW_CATEGORY_H
#define KW_CATEGORY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

#define KW_CATEGORY_MAX 32
#define KW_CATEGORY_MAX_PREFIXES 32

struct kw_category_threshold {
	char category[64]; /* lower-cased */
	int64_t micros;
};

/*
 * Parse WHALE_MIN_NOTIONAL_BY_CATEGORY ("Crypto=2500,Sports=20000"; "" = none) into out
 * (up to KW_CATEGORY_MAX). Returns the count, or -1 with a reason in err.
 */
int kw_category_parse(const char *spec, struct kw_category_threshold *out, int max, char *err,
		      size_t errlen) KW_WUR;
/* Check CRYPTO_SERIES_PREFIXES ("KXBTC,KXETH"; "" = none): 0 ok, -1 with a reason. */
int kw_category_check_prefixes(const char *spec, char *err, size_t errlen) KW_WUR;

/* The smallest whale threshold in micro-dollars, over the default and every category. */
int64_t kw_category_min_threshold_micros(const struct kw_config *cfg);
/* Whale threshold in micro-dollars for a market category (NULL or "" = the default). */
int64_t kw_category_threshold_micros(const struct kw_config *cfg, const char *category);
/* 1 when a market with this category / series ticker is in the crypto view. */
int kw_category_is_crypto(const struct kw_config *cfg, const char *category, const char *series);

/* JSON texts the store binds into the API's queries (owned by the caller, free()):
 * {"crypto": 2500000000, ...} with lower-cased category keys, and ["KXBTC", ...]. */
char *kw_category_thresholds_json(const struct kw_config *cfg);
char *kw_category_prefixes_json(const struct kw_config *cfg);

/* The parsed WHALE_MIN_NOTIONAL_BY_CATEGORY of cfg into cats (KW_CATEGORY_MAX entries):
 * the count, 0 (logged) if the setting does not parse (start-up refuses that already). */
int kw_category_load(const struct kw_config *cfg, struct kw_category_threshold *cats);
/* The threshold for category among cats (ncats entries), else the default; *from_category
 * says which. */
int64_t kw_category_threshold_from(const struct kw_config *cfg,
				   const struct kw_category_threshold *cats, int ncats,
				   const char *category, int *from_category);

#endif
