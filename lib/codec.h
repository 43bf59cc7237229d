/*
 * codec.h — the shapes and encodings of text that several modules share, each written once:
 * base64url, hex digits, UTF-8 sequences, exact decimals, identifiers (parameter and field
 * names, tickers) and the shape of a credential.
 *
 * Pure functions on bytes: no allocation, no logging, no library beyond libc, so that every
 * program (kw-fetch too, which links no JWT library) can use them. Outputs are always
 * NUL-terminated when their buffer has room for at least the NUL.
 */
#ifndef KW_CODEC_H
#define KW_CODEC_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define KW_KEY_MAX_LEN 256 /* longer X-API-Key values are refused unread */
#define KW_NAME_MAX_LEN 32 /* query parameter and body field names */

/* base64url (RFC 4648 section 5, "-" and "_", no padding) characters for n bytes. */
#define KW_B64URL_LEN(n) (((n)*4 + 2) / 3)

/* The value 0..63 of base64url character c, or -1 (NUL and "=" included). */
int kw_b64url_value(char c);
/*
 * Encode in[0..n) as base64url without padding into out: KW_B64URL_LEN(n) characters and a
 * NUL when outlen allows, else as many characters as fit. Returns the characters written.
 */
size_t kw_b64url_encode(const void *in, size_t n, char *out, size_t outlen);
/*
 * Decode base64url s[0..n) (no padding; bits left over at the end are dropped) into out and
 * NUL-terminate it. Returns 0 with the byte count in *outlen (may be NULL), or -1 for a
 * character outside the alphabet or when out (outcap bytes) cannot hold what is decoded so far
 * plus one byte at any input character.
 */
int kw_b64url_decode(const char *s, size_t n, char *out, size_t outcap, size_t *outlen);

/* The value 0..15 of hex digit c (either case), or -1. */
int kw_hex_value(char c);

/*
 * The code point of the UTF-8 sequence of two to four bytes at s[0..n) (RFC 3629: no overlong
 * form, no surrogate, nothing above U+10FFFF) with its length in *len; -1 when the bytes do
 * not start one (an ASCII byte included: callers handle those themselves).
 */
int32_t kw_utf8_multibyte(const unsigned char *s, size_t n, size_t *len);

/*
 * v / 10^scale (scale 0..18) written exactly, trailing fraction zeros dropped: "-12.5", "3",
 * "0.000001", never a binary float's rounding. Writes at most len - 1 characters and a NUL;
 * returns the characters written.
 */
size_t kw_fmt_decimal(char *buf, size_t len, int64_t v, int scale);

/* 1 if s[0..n) is an identifier we accept: 1..max of [A-Za-z0-9_.-]. Query parameter and body
 * field names (max KW_NAME_MAX_LEN; a name that fails is never echoed in an error message),
 * and market tickers, from Kalshi and from WebSocket clients. */
int kw_ident_is_clean(const char *s, size_t n, size_t max);

/* 1 if key has the shape of a credential: 1..KW_KEY_MAX_LEN printable ASCII, no spaces. */
int kw_key_is_wellformed(const char *key);

/* v / 10^scale as a JSON number printed exactly ("0.56", "12500.5"), e.g. micro-dollars with
 * scale 6 and hundredths of contracts with scale 2. */
json_object *kw_json_decimal(int64_t v, int scale);

#endif
