/*
 * geoip.c — country lookups with libmaxminddb (contract in geoip.h).
 *
 * Country databases disagree on the path to the code: MaxMind and DB-IP use country.iso_code
 * (registered_country.iso_code when an address has no physical country, e.g. anycast),
 * ip-location-db uses a top-level country_code. All three are tried, in that order. A value is
 * used only if it is two ASCII letters, so a malformed database cannot put arbitrary text into
 * metrics labels.
 */
#include "geoip.h"

#include <ctype.h>
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct kw_geoip {
	MMDB_s mmdb;
};

struct kw_geoip *kw_geoip_open(const char *path, char *err, size_t errlen)
{
	struct kw_geoip *g = kw_xcalloc(1, sizeof(*g));
	int rc = MMDB_open(path, MMDB_MODE_MMAP, &g->mmdb);
	if (rc != MMDB_SUCCESS) {
		snprintf(err, errlen, "GEOIP_DB=%s cannot be used: %s", path, MMDB_strerror(rc));
		free(g);
		return NULL;
	}
	return g;
}

void kw_geoip_close(struct kw_geoip *g)
{
	if (!g)
		return;
	MMDB_close(&g->mmdb);
	free(g);
}

static int code_at(MMDB_entry_s *entry, char *out, size_t outlen, const char *const *path)
{
	MMDB_entry_data_s data;
	if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
	    data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2)
		return -1;
	if (!isalpha((unsigned char)data.utf8_string[0]) ||
	    !isalpha((unsigned char)data.utf8_string[1]))
		return -1;
	out[0] = (char)toupper((unsigned char)data.utf8_string[0]);
	out[1] = (char)toupper((unsigned char)data.utf8_string[1]);
	out[2] = '\0';
	(void)outlen;
	return 0;
}

void kw_geoip_country(struct kw_geoip *g, const char *addr, char *out, size_t outlen)
{
	static const char *const p_country[] = { "country", "iso_code", NULL };
	static const char *const p_registered[] = { "registered_country", "iso_code", NULL };
	static const char *const p_flat[] = { "country_code", NULL };
	int gai_error = 0, mmdb_error = 0;
	kw_strlcpy(out, "unknown", outlen);
	if (!g || !addr || !*addr)
		return;
	MMDB_lookup_result_s res = MMDB_lookup_string(&g->mmdb, addr, &gai_error, &mmdb_error);
	if (gai_error || mmdb_error != MMDB_SUCCESS || !res.found_entry)
		return;
	if (code_at(&res.entry, out, outlen, p_country) == 0 ||
	    code_at(&res.entry, out, outlen, p_registered) == 0 ||
	    code_at(&res.entry, out, outlen, p_flat) == 0)
		return;
	kw_strlcpy(out, "unknown", outlen);
}
