/*
 * api.c — the pieces every data route shares (contract in api.h): values as JSON and opaque
 * cursors. The rest of api.h lives in rows.c (JSON text for store rows), cache.c (the v1
 * envelope, the reply cache, ETags) and csv.c (CSV fields and streaming).
 */
#include "api.h"

#include <string.h>

#include "codec.h"
#include "whale.h"

json_object *kw_api_usd(int64_t micros)
{
	return micros == KW_NULL ? NULL : kw_json_decimal(micros, 6);
}

json_object *kw_api_contracts(int64_t centi)
{
	return centi == KW_NULL ? NULL : kw_json_decimal(centi, 2);
}

json_object *kw_api_time(int64_t unix_s)
{
	char buf[32];
	if (unix_s == KW_NULL)
		return NULL;
	kw_fmt_rfc3339(unix_s, buf, sizeof(buf));
	return json_object_new_string(buf);
}

json_object *kw_api_time_us(int64_t unix_us)
{
	char buf[48];
	kw_api_fmt_time_us(buf, sizeof(buf), unix_us);
	return json_object_new_string(buf);
}

json_object *kw_api_str(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

/* ---- cursors ------------------------------------------------------------------------------- */

void kw_api_cursor_encode(char *buf, size_t len, const char *text)
{
	kw_b64url_encode(text, strlen(text), buf, len);
}

int kw_api_cursor_decode_or_reply(struct kw_req *r, const char *prefix, char *out, size_t outlen)
{
	const char *in = kw_query_str(&r->q, "cursor", "");
	size_t o = 0;
	if (kw_b64url_decode(in, strlen(in), out, outlen, &o) < 0)
		goto bad;
	if (strlen(out) != o || !kw_text_is_clean(out, o) || strncmp(out, prefix, strlen(prefix)))
		goto bad;
	return 0;
bad:
	kw_reply_error(r, 400, "invalid_parameter",
		       "parameter 'cursor' is not a cursor from this list; send next_cursor back "
		       "unchanged with the same sort");
	return -1;
}
