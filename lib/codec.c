/*
 * codec.c — shared text shapes and encodings (see codec.h). Each function here is the only copy
 * of its rule: API keys, JWTs, WebSocket tickets and list cursors all use the same base64url,
 * the query parser and ticket reader the same hex digits, the JSON writers and CSV the same
 * decimals, the query and body parsers, the Kalshi parser and the WebSocket protocol the same
 * identifier check.
 */
#include "codec.h"

#include <string.h>

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int kw_b64url_value(char c)
{
	const char *p = c ? memchr(B64URL, c, 64) : NULL;
	return p ? (int)(p - B64URL) : -1;
}

size_t kw_b64url_encode(const void *in, size_t n, char *out, size_t outlen)
{
	const unsigned char *b = in;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	if (!outlen)
		return 0;
	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		acc = (acc << 8) | b[i];
		bits += 8;
		while (bits >= 6 && o + 1 < outlen) {
			bits -= 6;
			out[o++] = B64URL[(acc >> bits) & 63];
		}
	}
	if (bits && o + 1 < outlen)
		out[o++] = B64URL[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return o;
}

int kw_b64url_decode(const char *s, size_t n, char *out, size_t outcap, size_t *outlen)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = kw_b64url_value(s[i]);
		if (v < 0 || o + 1 >= outcap)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (o >= outcap)
		return -1;
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return 0;
}

int kw_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int32_t kw_utf8_multibyte(const unsigned char *s, size_t n, size_t *len)
{
	unsigned char b = n ? s[0] : 0;
	size_t need;
	uint32_t cp;
	if ((b & 0xe0) == 0xc0) {
		need = 2;
		cp = b & 0x1f;
	} else if ((b & 0xf0) == 0xe0) {
		need = 3;
		cp = b & 0x0f;
	} else if ((b & 0xf8) == 0xf0) {
		need = 4;
		cp = b & 0x07;
	} else {
		return -1;
	}
	if (n < need)
		return -1;
	for (size_t k = 1; k < need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = need;
	return (int32_t)cp;
}

size_t kw_fmt_decimal(char *buf, size_t len, int64_t v, int scale)
{
	char tmp[48], *e = tmp + sizeof(tmp), *p = e;
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	int started = 0;
	if (scale > 18)
		scale = 18;
	/* Fraction digits from the least significant; zeros count only after a non-zero one. */
	for (int i = 0; i < scale; i++, mag /= 10) {
		int d = (int)(mag % 10);
		if (d || started) {
			*--p = (char)('0' + d);
			started = 1;
		}
	}
	if (started)
		*--p = '.';
	do {
		*--p = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag);
	if (v < 0)
		*--p = '-';
	size_t n = (size_t)(e - p);
	if (n >= len)
		n = len ? len - 1 : 0;
	memcpy(buf, p, n);
	if (len)
		buf[n] = '\0';
	return n;
}

int kw_ident_is_clean(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

int kw_key_is_wellformed(const char *key)
{
	size_t n = key ? strnlen(key, KW_KEY_MAX_LEN + 1) : 0;
	if (n == 0 || n > KW_KEY_MAX_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (key[i] <= 0x20 || key[i] >= 0x7f)
			return 0;
	return 1;
}

/* v / 10^scale as a JSON number printed exactly (no binary-float noise). */
json_object *kw_json_decimal(int64_t v, int scale)
{
	char buf[48];
	uint64_t div = 1;
	if (scale < 0)
		scale = 0;
	if (scale > 18)
		scale = 18;
	for (int i = 0; i < scale; i++)
		div *= 10;
	kw_fmt_decimal(buf, sizeof(buf), v, scale);
	return json_object_new_double_s((double)v / (double)div, buf);
}
