/*
 * ws_proto.c — parsing and checking client messages for kw-ws (see ws_proto.h).
 *
 * Each field is checked where it is read, and the first problem ends the parse: a client gets
 * one precise error per message. json-c keeps the last of duplicate keys; that is harmless
 * here (the message is only read), so duplicates are not counted as in jsonbody.c.
 */
#include "ws_proto.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

void kw_sub_free(struct kw_sub *s)
{
	for (int i = 0; i < s->ntickers; i++)
		free(s->tickers[i]);
	for (int i = 0; i < s->ncategories; i++)
		free(s->categories[i]);
	s->ntickers = s->ncategories = 0;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
int kw_ws_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, len;
	while (i < n) {
		if (s[i] < 0x80)
			i++;
		else if (kw_utf8_multibyte(s + i, n - i, &len) >= 0)
			i += len;
		else
			return 0;
	}
	return 1;
}

static int channel_bit(const char *name)
{
	if (!strcmp(name, "alerts"))
		return KW_CH_ALERTS;
	if (!strcmp(name, "whale_alerts"))
		return KW_CH_WHALE_ALERTS;
	if (!strcmp(name, "trades"))
		return KW_CH_TRADES;
	if (!strcmp(name, "markets"))
		return KW_CH_MARKETS;
	return 0;
}

/* Fill v[0..max) with the strings of array a; -1 with err set if anything is off. */
static int string_list(json_object *a, char **v, int *nv, int max, int tickers, const char *field,
		       char *err, size_t errlen)
{
	if (!json_object_is_type(a, json_type_array)) {
		snprintf(err, errlen, "%s must be an array of strings", field);
		return -1;
	}
	size_t n = json_object_array_length(a);
	if (n > (size_t)max) {
		snprintf(err, errlen, "%s has more than %d entries", field, max);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		const char *s =
			json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
		size_t len = s ? (size_t)json_object_get_string_len(e) : 0;
		if (!s || len != strlen(s) ||
		    (tickers ? !kw_ident_is_clean(s, len, KW_WS_FILTER_TEXT_MAX)
			     : (len == 0 || len > KW_WS_FILTER_TEXT_MAX ||
				!kw_text_is_clean(s, len)))) {
			snprintf(err, errlen, "%s[%zu] is not a valid %s", field, i,
				 tickers ? "ticker" : "category");
			return -1;
		}
		v[(*nv)++] = kw_xstrdup(s);
	}
	return 0;
}

static int parse_subscribe(json_object *o, struct kw_sub *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->channels = KW_CH_ALL;
	json_object_object_foreach(o, key, val)
	{
		if (!strcmp(key, "type"))
			continue;
		if (!strcmp(key, "channels")) {
			if (!json_object_is_type(val, json_type_array) ||
			    json_object_array_length(val) > 8) {
				snprintf(err, errlen, "channels must be an array of channel names");
				return -1;
			}
			s->channels = 0;
			for (size_t i = 0; i < json_object_array_length(val); i++) {
				json_object *e = json_object_array_get_idx(val, i);
				int bit = json_object_is_type(e, json_type_string)
						  ? channel_bit(json_object_get_string(e))
						  : 0;
				if (!bit) {
					snprintf(
						err, errlen,
						"channels[%zu] is not one of alerts, whale_alerts, "
						"trades, markets",
						i);
					return -1;
				}
				s->channels |= (unsigned)bit;
			}
		} else if (!strcmp(key, "tickers")) {
			if (string_list(val, s->tickers, &s->ntickers, KW_WS_MAX_TICKERS, 1,
					"tickers", err, errlen) < 0)
				return -1;
		} else if (!strcmp(key, "categories")) {
			if (string_list(val, s->categories, &s->ncategories, KW_WS_MAX_CATEGORIES,
					0, "categories", err, errlen) < 0)
				return -1;
		} else if (!strcmp(key, "min_notional")) {
			int64_t v = json_object_get_int64(val);
			if (!json_object_is_type(val, json_type_int) || v < 0 ||
			    v > KW_WS_MAX_MIN_NOTIONAL) {
				snprintf(err, errlen,
					 "min_notional must be an integer number of dollars, "
					 "0 to 1000000000");
				return -1;
			}
			s->min_notional_micros = v * 1000000;
		} else {
			snprintf(err, errlen, "unknown field in subscribe");
			return -1;
		}
	}
	return 0;
}

int kw_ws_request_parse(const char *text, size_t len, struct kw_ws_request *out, const char **code,
			char *err, size_t errlen)
{
	int rc = -1;
	json_tokener *tok = json_tokener_new_ex(4);
	json_object *o = NULL, *type = NULL;
	memset(out, 0, sizeof(*out));
	*code = "invalid_json";
	if (!tok || len > INT32_MAX) {
		snprintf(err, errlen, "cannot parse this message");
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "messages are JSON objects, one per frame");
		goto out;
	}
	*code = "invalid_message";
	if (!json_object_object_get_ex(o, "type", &type) ||
	    !json_object_is_type(type, json_type_string)) {
		snprintf(err, errlen, "a message needs a string \"type\"");
		goto out;
	}
	const char *t = json_object_get_string(type);
	if (!strcmp(t, "ping")) {
		out->type = KW_WS_REQ_PING;
		if (json_object_object_length(o) != 1) {
			snprintf(err, errlen, "ping takes no fields");
			goto out;
		}
	} else if (!strcmp(t, "subscribe")) {
		out->type = KW_WS_REQ_SUBSCRIBE;
		*code = "invalid_subscribe";
		if (parse_subscribe(o, &out->sub, err, errlen) < 0)
			goto out;
	} else if (!strcmp(t, "resume")) {
		json_object *since = NULL;
		out->type = KW_WS_REQ_RESUME;
		*code = "invalid_resume";
		out->since_id = -1;
		if (json_object_object_get_ex(o, "since_id", &since) &&
		    json_object_is_type(since, json_type_int))
			out->since_id = json_object_get_int64(since);
		if (out->since_id < 0 || json_object_object_length(o) != 2) {
			snprintf(err, errlen, "resume needs since_id, a non-negative integer");
			goto out;
		}
	} else {
		*code = "unknown_type";
		snprintf(err, errlen, "type must be subscribe, resume or ping");
		goto out;
	}
	*code = NULL;
	rc = 0;
out:
	if (rc < 0)
		kw_sub_free(&out->sub);
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	return rc;
}
