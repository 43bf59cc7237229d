/*
 * proxy.c — TRUSTED_PROXIES ranges and the X-Forwarded-For walk (contract in proxy.h).
 *
 * No allocation: the ranges live in the caller's struct, the walk reads the header in place
 * and writes at most KW_ADDR_MAX bytes to out. Every entry is bounded before it is copied, so
 * a header of any length is safe to walk.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

struct addr {
	int v6;
	unsigned char b[16];
};

/* Parse s[0..n) as an IPv4 or IPv6 address (an IPv4-mapped one is IPv4); -1 if it is not. */
static int parse_addr(const char *s, size_t n, struct addr *a)
{
	char buf[KW_ADDR_MAX];
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->b) == 1)
		return 0;
	struct in6_addr in6;
	if (inet_pton(AF_INET6, buf, &in6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&in6)) {
		memcpy(a->b, in6.s6_addr + 12, 4);
		return 0;
	}
	a->v6 = 1;
	memcpy(a->b, in6.s6_addr, 16);
	return 0;
}

static void addr_text(const struct addr *a, char out[KW_ADDR_MAX])
{
	if (!inet_ntop(a->v6 ? AF_INET6 : AF_INET, a->b, out, KW_ADDR_MAX))
		kw_strlcpy(out, "unknown", KW_ADDR_MAX); /* cannot happen: the buffer is large */
}

int kw_addr_canonical(const char *s, char out[KW_ADDR_MAX])
{
	struct addr a;
	if (!s || parse_addr(s, strnlen(s, KW_ADDR_MAX), &a) < 0)
		return -1;
	addr_text(&a, out);
	return 0;
}

static int in_range(const struct kw_proxy_range *r, const struct addr *a)
{
	if (r->v6 != a->v6)
		return 0;
	int full = r->prefix / 8, rest = r->prefix % 8;
	if (memcmp(r->addr, a->b, (size_t)full))
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (r->addr[full] & mask) == (a->b[full] & mask);
}

static int contains(const struct kw_proxies *p, const struct addr *a)
{
	for (int i = 0; i < p->n; i++)
		if (in_range(&p->range[i], a))
			return 1;
	return 0;
}

int kw_proxies_contains(const struct kw_proxies *p, const char *s, size_t n)
{
	struct addr a;
	return parse_addr(s, n, &a) == 0 && contains(p, &a);
}

/* One TRUSTED_PROXIES entry s[0..n) ("addr" or "addr/prefix") into r; -1 if malformed. */
static int parse_range(const char *s, size_t n, struct kw_proxy_range *r)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	struct addr a;
	if (parse_addr(s, alen, &a) < 0)
		return -1;
	int max = a.v6 ? 128 : 32, prefix = max;
	if (slash) {
		size_t plen = n - alen - 1;
		if (plen == 0 || plen > 3 || (plen > 1 && slash[1] == '0'))
			return -1;
		prefix = 0;
		for (size_t i = 0; i < plen; i++) {
			if (slash[1 + i] < '0' || slash[1 + i] > '9')
				return -1;
			prefix = prefix * 10 + (slash[1 + i] - '0');
		}
		/* An IPv4-mapped address was turned into IPv4 above: its prefix would not fit. */
		if (prefix > max || (!a.v6 && memchr(s, ':', alen)))
			return -1;
	}
	r->v6 = a.v6;
	r->prefix = prefix;
	memcpy(r->addr, a.b, sizeof(r->addr));
	/* Host bits set ("10.0.0.1/8") are almost always a typo for another range: refuse. */
	for (int bit = prefix; bit < max; bit++)
		if (r->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -1;
	return 0;
}

int kw_proxies_parse(struct kw_proxies *p, const char *list, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	const char *s = list ? list : "";
	int entry = 0;
	while (*s) {
		size_t n = strcspn(s, ",");
		size_t a = 0, b = n;
		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		if (b > a) {
			entry++;
			if (p->n == KW_PROXIES_MAX) {
				snprintf(err, errlen,
					 "config: TRUSTED_PROXIES has more than %d entries",
					 KW_PROXIES_MAX);
				return -1;
			}
			if (parse_range(s + a, b - a, &p->range[p->n]) < 0) {
				snprintf(
					err, errlen,
					"config: TRUSTED_PROXIES entry %d is not an address or a "
					"CIDR range (expected e.g. 10.0.0.0/8, ::1/128, 192.0.2.7)",
					entry);
				return -1;
			}
			p->n++;
		}
		s += n;
		if (*s == ',')
			s++;
	}
	return 0;
}

enum kw_fwd kw_client_address(const struct kw_proxies *p, const char *peer, int peer_trusted,
			      const char *xff, char out[KW_ADDR_MAX])
{
	struct addr a;
	if (!peer || !*peer) {
		kw_strlcpy(out, "unknown", KW_ADDR_MAX);
	} else if (!peer_trusted || !xff) {
		/* The common case, kept cheap: web servers and libwebsockets already write the peer
		 * with inet_ntop; only an IPv4-mapped form is shortened, as parsing would. */
		int mapped = !strncmp(peer, "::ffff:", 7) && strchr(peer, '.');
		kw_strlcpy(out, mapped ? peer + 7 : peer, KW_ADDR_MAX);
		return KW_FWD_PEER;
	} else if (parse_addr(peer, strnlen(peer, KW_ADDR_MAX), &a) == 0) {
		addr_text(&a, out);
	} else {
		kw_strlcpy(out, peer, KW_ADDR_MAX);
	}
	if (!peer_trusted || !xff)
		return KW_FWD_PEER;
	size_t end = strlen(xff);
	for (;;) {
		size_t start = end;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		size_t x = start, y = end;
		while (x < y && (xff[x] == ' ' || xff[x] == '\t'))
			x++;
		while (y > x && (xff[y - 1] == ' ' || xff[y - 1] == '\t'))
			y--;
		if (parse_addr(xff + x, y - x, &a) < 0)
			return KW_FWD_MALFORMED; /* out: the nearest trusted hop */
		addr_text(&a, out);
		if (!contains(p, &a) || start == 0)
			return KW_FWD_FORWARDED;
		end = start - 1;
	}
}
