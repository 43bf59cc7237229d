/*
 * proxy.h — which address a request comes from: TRUSTED_PROXIES (addresses and CIDR ranges)
 * and the X-Forwarded-For walk, shared by kw-api and kw-ws so that both count, limit and block
 * the same client.
 *
 * X-Forwarded-For (de facto; RFC 7239 section 5.2 describes the same list for Forwarded) is a
 * comma-separated list to which every proxy appends the address of the peer it received the
 * request from. Only entries appended by proxies we trust are facts: everything to the left of
 * the first untrusted entry may be the client's own text. So the list is read from the right:
 * while the peer (and then each entry) is a trusted proxy, the entry before it is believed;
 * the first address that is not a trusted proxy is the client. The whole header is read (the
 * web server caps header size): a cut-off header would let a client push its own entry into
 * the part that is read.
 *
 * Forwarded addresses are parsed (inet_pton) and returned in canonical text (inet_ntop), so
 * that one client cannot become many by spelling its address differently ("2001:db8::1" vs
 * "2001:DB8:0:0::1"); an IPv4-mapped IPv6 address is its IPv4 address. A peer address comes
 * from the socket (already inet_ntop's text) and is only shortened when IPv4-mapped.
 *
 * Left out: the Forwarded header (no deployment here sends it), ports in entries, obfuscated
 * identifiers ("unknown", "_hidden"): such an entry from a trusted hop makes the header
 * malformed.
 */
#ifndef KW_PROXY_H
#define KW_PROXY_H

#include <stddef.h>

#include "util.h"

#define KW_ADDR_MAX 64	  /* canonical address text and NUL, with room to spare */
#define KW_PROXIES_MAX 32 /* TRUSTED_PROXIES entries */

struct kw_proxy_range {
	int v6;			/* 0: IPv4 (4 bytes used), 1: IPv6 */
	unsigned char addr[16]; /* network byte order, host bits cleared */
	int prefix;		/* bits that must match */
};

struct kw_proxies {
	int n;
	struct kw_proxy_range range[KW_PROXIES_MAX];
};

/*
 * Parse TRUSTED_PROXIES: comma-separated addresses or CIDR ranges ("10.0.0.0/8, ::1/128,
 * 192.0.2.7"); empty means none. -1 with one line in err for a malformed entry, host bits set
 * beyond the prefix, or more than KW_PROXIES_MAX entries.
 */
int kw_proxies_parse(struct kw_proxies *p, const char *list, char *err, size_t errlen) KW_WUR;

/* The canonical text of address s into out: inet_ntop's form, an IPv4-mapped IPv6 address as
 * its IPv4 address. That is the form kw-api and kw-ws count, limit and block a client by, so
 * whoever names an address (kw-admin unblock) must use it too. 0, or -1 if s is no address. */
int kw_addr_canonical(const char *s, char out[KW_ADDR_MAX]) KW_WUR;

/* 1 if the address text s[0..n) parses and lies in one of the ranges. */
int kw_proxies_contains(const struct kw_proxies *p, const char *s, size_t n);

enum kw_fwd {
	KW_FWD_PEER,	  /* the peer is the client (not a trusted proxy, or no header) */
	KW_FWD_FORWARDED, /* the client was taken from X-Forwarded-For */
	KW_FWD_MALFORMED, /* a trusted hop's entry is not an address: out is that hop */
};

/*
 * The client address of a request from peer (the TCP peer's text; NULL or "" when unknown,
 * e.g. a unix socket) carrying X-Forwarded-For xff (NULL if absent), into out. peer_trusted
 * says whether the peer is a trusted proxy (the caller decides for a unix-socket peer; for an
 * address it is kw_proxies_contains). On KW_FWD_MALFORMED out holds the nearest trusted hop,
 * never an entry the client chose; callers refuse such a request (400).
 */
enum kw_fwd kw_client_address(const struct kw_proxies *p, const char *peer, int peer_trusted,
			      const char *xff, char out[KW_ADDR_MAX]);

#endif
