/*
 * alert.c — the one JSON shape of an alert (contract in alert.h).
 *
 * data is the text detection wrote; a row whose data does not parse as a JSON object (only a
 * damaged database) is shown with {} rather than dropped. Amounts in data are JSON numbers
 * printed exactly (kw_json_decimal); the premium for size filters is re-read from the
 * number's own text, never through a double.
 */
#include "alert.h"

#include <string.h>

#include "codec.h"
#include "kalshi.h"
#include "signals.h"
#include "util.h"

static json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *time_or_null(int64_t t)
{
	char buf[32];
	if (t <= 0)
		return NULL;
	kw_fmt_rfc3339(t, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static json_object *parse_data(const char *text)
{
	json_tokener *tok = text ? json_tokener_new_ex(16) : NULL;
	json_object *o = NULL;
	if (tok) {
		o = json_tokener_parse_ex(tok, text, (int)strlen(text));
		if (json_tokener_get_error(tok) != json_tokener_success ||
		    !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	return o ? o : json_object_new_object();
}

static int64_t notional_of(json_object *data)
{
	json_object *v = NULL;
	int64_t micros;
	if (!json_object_object_get_ex(data, "notional_usd", &v) ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return -1;
	const char *text = json_object_get_string(v);
	if (!text || kw_kalshi_parse_fixed(text, strlen(text), 6, &micros) < 0 || micros < 0)
		return -1;
	return micros;
}

json_object *kw_alert_json(const struct kw_alert *a, int64_t *notional_micros)
{
	json_object *o = json_object_new_object();
	json_object *data = parse_data(a->data);
	const struct kw_signal *sig = kw_signal_find(a->type);
	if (notional_micros)
		*notional_micros = notional_of(data);
	json_object_object_add(o, "id", json_object_new_int64(a->id));
	json_object_object_add(o, "type", str_or_null(a->type));
	json_object_object_add(o, "label", str_or_null(sig ? sig->label : a->type));
	json_object_object_add(o, "ticker", str_or_null(a->ticker));
	json_object_object_add(o, "market_id", str_or_null(a->ticker));
	json_object_object_add(o, "title", str_or_null(a->title));
	json_object_object_add(o, "category",
			       a->category && *a->category ? json_object_new_string(a->category)
							   : NULL);
	json_object_object_add(o, "severity", str_or_null(a->severity));
	json_object_object_add(o, "confidence", kw_json_decimal(a->confidence, 2));
	json_object_object_add(o, "description", str_or_null(a->description));
	json_object_object_add(o, "data", data);
	json_object_object_add(o, "timestamp", time_or_null(a->created_at));
	json_object_object_add(o, "created_at", time_or_null(a->created_at));
	json_object_object_add(o, "window_end", time_or_null(a->window_end));
	return o;
}
