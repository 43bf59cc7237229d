/*
 * geoip.h — client address -> ISO 3166-1 country code, from a MaxMind-format database
 * (GeoLite2-Country, DB-IP country lite, ip-location-db country MMDB) read with libmaxminddb.
 *
 * Ownership: kw_geoip_open() returns an owned handle (pair with kw_geoip_close); the database
 * file is memory-mapped once and only read afterwards, so a lookup costs a few microseconds
 * and never allocates. What it leaves out: cities, ASNs, reloading a replaced file (restart the
 * workers, as for any setting).
 */
#ifndef KW_GEOIP_H
#define KW_GEOIP_H

#include <stddef.h>

#include "util.h"

struct kw_geoip;

/* Open path; NULL with one line in err if it is missing or not a MaxMind DB. */
struct kw_geoip *kw_geoip_open(const char *path, char *err, size_t errlen) KW_WUR;
void kw_geoip_close(struct kw_geoip *g);

/*
 * The two-letter country of addr (an IPv4 or IPv6 literal) into out, upper case; "unknown"
 * when g is NULL, addr does not parse, or the database has no country for it. outlen >= 8.
 */
void kw_geoip_country(struct kw_geoip *g, const char *addr, char *out, size_t outlen);

#endif
