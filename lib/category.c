/*
 * category.c — the category rules that detection, the API and the settings check share
 * (contract in category.h): per-category whale thresholds and the crypto view. No SQL and no
 * detection here, so kw-admin's and kw-ws's settings check links without them.
 */
#include "category.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "log.h"

#define MICROS_PER_USD 1000000LL

static int token_is_clean(const char *s, size_t n)
{
	if (n == 0 || n >= 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == ',' || c == '=' || c == '"' || c == '\\')
			return 0;
	}
	return 1;
}

static void trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

int kw_category_parse(const char *spec, struct kw_category_threshold *out, int max, char *err,
		      size_t errlen)
{
	int n = 0;
	const char *p = spec ? spec : "";
	while (*p) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		const char *ks = p, *ke = eq ? eq : end;
		trim(&ks, &ke);
		if (!eq || !token_is_clean(ks, (size_t)(ke - ks))) {
			snprintf(err, errlen,
				 "Category=dollars[,Category=dollars...], e.g. "
				 "Crypto=2500,Sports=20000");
			return -1;
		}
		const char *vs = eq + 1, *ve = end;
		trim(&vs, &ve);
		char num[24];
		int64_t usd;
		if ((size_t)(ve - vs) >= sizeof(num)) {
			snprintf(err, errlen, "the amount for a category must be 1 to 1000000000");
			return -1;
		}
		memcpy(num, vs, (size_t)(ve - vs));
		num[ve - vs] = '\0';
		if (kw_parse_i64(num, 1, 1000000000, &usd) < 0) {
			snprintf(err, errlen, "the amount for a category must be 1 to 1000000000");
			return -1;
		}
		if (n == max) {
			snprintf(err, errlen, "at most %d categories", max);
			return -1;
		}
		size_t kl = (size_t)(ke - ks);
		for (size_t i = 0; i < kl; i++) {
			char c = ks[i];
			out[n].category[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		out[n].category[kl] = '\0';
		for (int i = 0; i < n; i++)
			if (!strcmp(out[i].category, out[n].category)) {
				snprintf(err, errlen, "a category is listed twice");
				return -1;
			}
		out[n].micros = usd * MICROS_PER_USD;
		n++;
		p = comma ? comma + 1 : end;
	}
	return n;
}

int kw_category_check_prefixes(const char *spec, char *err, size_t errlen)
{
	int n = 0;
	const char *p = spec ? spec : "";
	while (*p) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		for (const char *c = p; c < end; c++)
			if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
			      *c == '_')) {
				snprintf(err, errlen,
					 "comma-separated series tickers such as "
					 "KXBTC,KXETH (A-Z, 0-9, - and _)");
				return -1;
			}
		if (end == p || ++n > KW_CATEGORY_MAX_PREFIXES) {
			snprintf(err, errlen, "1 to %d non-empty series prefixes",
				 KW_CATEGORY_MAX_PREFIXES);
			return -1;
		}
		p = comma ? comma + 1 : end;
	}
	return 0;
}

int kw_category_load(const struct kw_config *cfg, struct kw_category_threshold *cats)
{
	char err[160];
	int n = kw_category_parse(cfg->whale_min_notional_by_category, cats, KW_CATEGORY_MAX, err,
				  sizeof(err));
	if (n < 0) { /* validated at start-up; only a caller that skipped that gets here */
		kw_warn("whale: WHALE_MIN_NOTIONAL_BY_CATEGORY ignored: %s", err);
		return 0;
	}
	return n;
}

int64_t kw_category_threshold_from(const struct kw_config *cfg,
				   const struct kw_category_threshold *cats, int ncats,
				   const char *category, int *from_category)
{
	*from_category = 0;
	if (category && *category)
		for (int i = 0; i < ncats; i++)
			if (!strcasecmp(cats[i].category, category)) {
				*from_category = 1;
				return cats[i].micros;
			}
	return cfg->whale_min_notional_usd * MICROS_PER_USD;
}

int64_t kw_category_threshold_micros(const struct kw_config *cfg, const char *category)
{
	struct kw_category_threshold cats[KW_CATEGORY_MAX];
	int from_cat;
	int n = kw_category_load(cfg, cats);
	return kw_category_threshold_from(cfg, cats, n, category, &from_cat);
}

int64_t kw_category_min_threshold_micros(const struct kw_config *cfg)
{
	struct kw_category_threshold cats[KW_CATEGORY_MAX];
	int n = kw_category_load(cfg, cats);
	int64_t min = cfg->whale_min_notional_usd * MICROS_PER_USD;
	for (int i = 0; i < n; i++)
		if (cats[i].micros < min)
			min = cats[i].micros;
	return min;
}

int kw_category_is_crypto(const struct kw_config *cfg, const char *category, const char *series)
{
	if (category && !strcasecmp(category, "crypto"))
		return 1;
	if (!series || !*series)
		return 0;
	const char *p = cfg->crypto_series_prefixes ? cfg->crypto_series_prefixes : "";
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n && !strncmp(series, p, n))
			return 1;
		p += n + (comma ? 1 : 0);
	}
	return 0;
}

char *kw_category_thresholds_json(const struct kw_config *cfg)
{
	struct kw_category_threshold cats[KW_CATEGORY_MAX];
	int n = kw_category_load(cfg, cats);
	json_object *o = json_object_new_object();
	for (int i = 0; i < n; i++)
		json_object_object_add(o, cats[i].category, json_object_new_int64(cats[i].micros));
	char *s = kw_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

char *kw_category_prefixes_json(const struct kw_config *cfg)
{
	json_object *a = json_object_new_array();
	const char *p = cfg->crypto_series_prefixes ? cfg->crypto_series_prefixes : "";
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n)
			json_object_array_add(a, json_object_new_string_len(p, (int)n));
		p += n + (comma ? 1 : 0);
	}
	char *s = kw_xstrdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	return s;
}
