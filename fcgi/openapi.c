/*
 * openapi.c — GET /api/openapi.json: an OpenAPI 3.1 document generated from the route table
 * (routes.c) and each route's declared query parameters (struct kw_param) and body
 * (struct kw_body_field), so that the document cannot drift from what the dispatcher accepts.
 *
 * What it derives: one path item per pattern ({x} segments become path parameters), one
 * operation per method, every query parameter with its type, range, length or choices, the
 * request body, CSV as an alternative 200 media type where `format` is declared, 304 on GETs,
 * 400 where anything is validated, 401/403 on protected routes, 404 where a path names a
 * resource, 202 and 409 on POST /api/v1/refresh (200 on the legacy POST /api/refresh). Response bodies are described by a few shared schemas
 * (the v1 envelope, the error shape); row fields are described in the handlers and the README.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "version.h"

static json_object *str(const char *s)
{
	return json_object_new_string(s);
}

static json_object *ref(const char *name)
{
	char buf[128];
	json_object *o = json_object_new_object();
	snprintf(buf, sizeof(buf), "#/components/schemas/%s", name);
	json_object_object_add(o, "$ref", str(buf));
	return o;
}

static json_object *param_schema(const struct kw_param *p)
{
	json_object *s = json_object_new_object();
	switch (p->type) {
	case KW_P_STR:
		json_object_object_add(s, "type", str("string"));
		json_object_object_add(s, "minLength", json_object_new_int(1));
		json_object_object_add(
			s, "maxLength",
			json_object_new_int64((int64_t)(p->maxlen ? p->maxlen : 128)));
		break;
	case KW_P_INT:
		json_object_object_add(s, "type", str("integer"));
		json_object_object_add(s, "format", str("int64"));
		json_object_object_add(s, "minimum", json_object_new_int64(p->min));
		json_object_object_add(s, "maximum", json_object_new_int64(p->max));
		break;
	case KW_P_BOOL: json_object_object_add(s, "type", str("boolean")); break;
	case KW_P_ENUM: {
		json_object *e = json_object_new_array();
		const char *c = p->choices;
		while (c && *c) {
			const char *bar = strchr(c, '|');
			size_t n = bar ? (size_t)(bar - c) : strlen(c);
			json_object_array_add(e, json_object_new_string_len(c, (int)n));
			c = bar ? bar + 1 : NULL;
		}
		json_object_object_add(s, "type", str("string"));
		json_object_object_add(s, "enum", e);
		break;
	}
	case KW_P_TIME:
		json_object_object_add(s, "type", str("string"));
		json_object_object_add(s, "format", str("date-time"));
		break;
	}
	return s;
}

static json_object *body_schema(const struct kw_body_field *f)
{
	json_object *s = json_object_new_object(), *props = json_object_new_object();
	json_object *req = json_object_new_array();
	json_object_object_add(s, "type", str("object"));
	json_object_object_add(s, "additionalProperties", json_object_new_boolean(0));
	for (; f && f->name; f++) {
		json_object *p = json_object_new_object();
		if (f->type == KW_BODY_BOOL) {
			json_object_object_add(p, "type", str("boolean"));
		} else if (f->type == KW_BODY_INT) {
			json_object_object_add(p, "type", str("integer"));
			json_object_object_add(p, "minimum", json_object_new_int64(f->min));
			json_object_object_add(p, "maximum", json_object_new_int64(f->max));
		} else {
			json_object_object_add(p, "type", str("string"));
			json_object_object_add(
				p, "maxLength",
				json_object_new_int64((int64_t)(f->maxlen ? f->maxlen : 128)));
		}
		json_object_object_add(props, f->name, p);
		if (f->required)
			json_object_array_add(req, str(f->name));
	}
	json_object_object_add(s, "properties", props);
	if (json_object_array_length(req))
		json_object_object_add(s, "required", req);
	else
		json_object_put(req);
	return s;
}

static json_object *response(const char *desc, const char *schema)
{
	json_object *r = json_object_new_object(), *c = json_object_new_object();
	json_object *mt = json_object_new_object();
	json_object_object_add(r, "description", str(desc));
	if (schema) {
		json_object_object_add(mt, "schema", ref(schema));
		json_object_object_add(c, "application/json", mt);
		json_object_object_add(r, "content", c);
	} else {
		json_object_put(mt);
		json_object_put(c);
	}
	return r;
}

static int has_param(const struct kw_param *p, const char *name)
{
	for (; p && p->name; p++)
		if (!strcmp(p->name, name))
			return 1;
	return 0;
}

static json_object *operation(const struct kw_route *rt)
{
	json_object *op = json_object_new_object(), *params = json_object_new_array();
	char opid[160];
	size_t o = 0;
	for (const char *c = rt->method; *c && o + 1 < sizeof(opid); c++)
		opid[o++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
	for (const char *c = rt->pattern; *c && o + 1 < sizeof(opid); c++)
		opid[o++] = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ? *c : '_';
	opid[o] = '\0';
	json_object_object_add(op, "operationId", str(opid));
	json_object_object_add(op, "summary", str(rt->summary ? rt->summary : ""));

	/* Path parameters, in pattern order. */
	int has_path_arg = 0;
	for (const char *c = strchr(rt->pattern, '{'); c; c = strchr(c + 1, '{')) {
		const char *e = strchr(c, '}');
		if (!e)
			break;
		json_object *p = json_object_new_object(), *s = json_object_new_object();
		json_object_object_add(p, "name",
				       json_object_new_string_len(c + 1, (int)(e - c - 1)));
		json_object_object_add(p, "in", str("path"));
		json_object_object_add(p, "required", json_object_new_boolean(1));
		json_object_object_add(s, "type", str("string"));
		json_object_object_add(p, "schema", s);
		json_object_array_add(params, p);
		has_path_arg = 1;
	}
	for (const struct kw_param *d = rt->params; d && d->name; d++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "name", str(d->name));
		json_object_object_add(p, "in", str("query"));
		json_object_object_add(p, "required", json_object_new_boolean(0));
		json_object_object_add(p, "description", str(d->help ? d->help : ""));
		json_object_object_add(p, "schema", param_schema(d));
		json_object_array_add(params, p);
	}
	json_object_object_add(op, "parameters", params);

	int is_get = !strcmp(rt->method, "GET");
	int v1_refresh = rt->handler == kw_handle_v1_refresh;
	int is_refresh = v1_refresh || rt->handler == kw_handle_refresh;
	if (is_refresh) {
		json_object *rb = json_object_new_object(), *c = json_object_new_object();
		json_object *mt = json_object_new_object();
		json_object_object_add(mt, "schema", body_schema(kw_body_refresh));
		json_object_object_add(c, "application/json", mt);
		json_object_object_add(rb, "required", json_object_new_boolean(0));
		json_object_object_add(rb, "content", c);
		json_object_object_add(op, "requestBody", rb);
	}

	json_object *res = json_object_new_object();
	int v1 = !strncmp(rt->pattern, "/api/v1/", 8) && !is_refresh;
	json_object *ok = response(v1_refresh	? "accepted: kw-fetch will run soon"
				   : is_refresh ? "asked: a run was queued, or one is going"
						: "success",
				   v1 ? "Envelope" : "Object");
	if (has_param(rt->params, "format")) {
		json_object *c = NULL, *csv = json_object_new_object(),
			    *s = json_object_new_object();
		json_object_object_get_ex(ok, "content", &c);
		json_object_object_add(s, "type", str("string"));
		json_object_object_add(csv, "schema", s);
		json_object_object_add(c, "text/csv", csv);
	}
	json_object_object_add(res, v1_refresh ? "202" : "200", ok);
	if (is_get)
		json_object_object_add(
			res, "304",
			response("not modified (If-None-Match matched the ETag)", NULL));
	json_object_object_add(res, "400", response("invalid parameter or body", "Error"));
	if (!(rt->flags & KW_ROUTE_PUBLIC)) {
		json_object_object_add(res, "401",
				       response("credentials missing or invalid", "Error"));
		json_object_object_add(res, "403", response("not allowed", "Error"));
		json_object_object_add(res, "429", response("rate limited", "Error"));
	}
	if (has_path_arg)
		json_object_object_add(res, "404", response("no such resource", "Error"));
	if (v1_refresh)
		json_object_object_add(res, "409",
				       response("a fetch run is already going", "Error"));
	json_object_object_add(res, "503", response("database unavailable", "Error"));
	json_object_object_add(op, "responses", res);
	if (!(rt->flags & KW_ROUTE_PUBLIC)) {
		json_object *sec = json_object_new_array(), *k = json_object_new_object();
		json_object *b = json_object_new_object();
		json_object_object_add(k, "ApiKeyAuth", json_object_new_array());
		json_object_object_add(b, "BearerAuth", json_object_new_array());
		json_object_array_add(sec, k);
		json_object_array_add(sec, b);
		json_object_object_add(op, "security", sec);
	}
	if (rt->flags & KW_ROUTE_ADMIN)
		json_object_object_add(op, "x-required-scope", str("admin"));
	return op;
}

static json_object *components(void)
{
	json_object *c = json_object_new_object(), *schemas = json_object_new_object();
	json_object *env = json_tokener_parse(
		"{\"type\":\"object\",\"required\":[\"data\",\"has_more\",\"next_cursor\","
		"\"meta\"],\"properties\":{\"data\":{},\"has_more\":{\"type\":\"boolean\"},"
		"\"next_cursor\":{\"type\":[\"string\",\"null\"]},\"meta\":{\"type\":\"object\","
		"\"properties\":{\"generated_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
		"\"source_lag_s\":{\"type\":[\"integer\",\"null\"]}}}}}");
	json_object *err = json_tokener_parse(
		"{\"type\":\"object\",\"required\":[\"error\",\"request_id\"],\"properties\":"
		"{\"error\":{\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"string\"},"
		"\"message\":{\"type\":\"string\"}}},\"request_id\":{\"type\":\"string\"}}}");
	json_object *obj = json_tokener_parse("{\"type\":\"object\"}");
	json_object_object_add(schemas, "Envelope", env);
	json_object_object_add(schemas, "Error", err);
	json_object_object_add(schemas, "Object", obj);
	json_object_object_add(c, "schemas", schemas);
	json_object_object_add(
		c, "securitySchemes",
		json_tokener_parse("{\"ApiKeyAuth\":{\"type\":\"apiKey\",\"in\":\"header\","
				   "\"name\":\"X-API-Key\"},\"BearerAuth\":{\"type\":\"http\","
				   "\"scheme\":\"bearer\",\"bearerFormat\":\"JWT\"}}"));
	return c;
}

void kw_handle_openapi(struct kw_req *r)
{
	json_object *doc = json_object_new_object(), *info = json_object_new_object();
	json_object *paths = json_object_new_object();
	json_object_object_add(doc, "openapi", str("3.1.0"));
	json_object_object_add(info, "title", str("KalshiWhale API"));
	json_object_object_add(info, "version", str(KW_VERSION));
	json_object_object_add(info, "description",
			       str("Whale trades, detection signals and market data from Kalshi, "
				   "stored by kw-fetch. Generated from the server's route table."));
	json_object_object_add(doc, "info", info);
	for (int i = 0; i < kw_routes_count; i++) {
		const struct kw_route *rt = &kw_routes[i];
		json_object *item = NULL;
		char method[16];
		size_t n = 0;
		if (!json_object_object_get_ex(paths, rt->pattern, &item)) {
			item = json_object_new_object();
			json_object_object_add(paths, rt->pattern, item);
		}
		for (const char *c = rt->method; *c && n + 1 < sizeof(method); c++)
			method[n++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		method[n] = '\0';
		json_object_object_add(item, method, operation(rt));
	}
	json_object_object_add(doc, "paths", paths);
	json_object_object_add(doc, "components", components());
	kw_reply_json(r, 200, doc);
}
