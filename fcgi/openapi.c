/*
 * openapi.c — GET /api/openapi.json: an OpenAPI 3.1 document generated from the route table
 * (routes.c: paths, parameters, body, success status and reply component) and the response
 * components (schema.c), so that the document cannot drift from what the dispatcher accepts
 * and the serializers write.
 *
 * What it derives: one path item per pattern ({x} segments become path parameters), one
 * operation per method, every query parameter with its type, range, length or choices, the
 * request body, the success answer (the component, or the v1 envelope whose `data` is the
 * component or a list of it, one named envelope per component), CSV as an alternative
 * text/csv answer with its columns (x-csv-columns), 304 on GETs, and every error status the
 * route can answer, each with the Error component: 400 (the query check runs on every route),
 * 401 (public routes too: a credential that is sent is checked), 403 (blocking, CORS, scope),
 * 404 where a path names a resource, 409 on refresh, 413/415 where a body is read, 429, 500
 * and 503.
 *
 * The document is built from constant tables in a fixed order and carries no time or host:
 * byte-identical between runs and workers, so its ETag is stable. `servers` is relative ("/"):
 * a client resolves it against the address it fetched the document from.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "schema.h"
#include "version.h"

static json_object *str(const char *s)
{
	return json_object_new_string(s);
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
	case KW_P_ENUM:
		json_object_object_add(s, "type", str("string"));
		json_object_object_add(s, "enum", kw_schema_choices(p->choices));
		break;
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

/* The success body's schema of a route (owned), or NULL when it is not JSON. */
static json_object *reply_schema(const struct kw_route *rt)
{
	char name[96];
	switch (rt->shape) {
	case KW_REPLY_BODY:
		if (rt->reply)
			return kw_schema_ref(rt->reply);
		return json_tokener_parse("{\"type\":\"object\"}");
	case KW_REPLY_ITEM:
	case KW_REPLY_LIST:
		snprintf(name, sizeof(name), "%s%s", rt->reply,
			 rt->shape == KW_REPLY_LIST ? "List" : "Envelope");
		return kw_schema_ref(name);
	case KW_REPLY_TEXT: break;
	}
	return NULL;
}

/* The v1 envelope around one component: data is the component or a list of it. */
static json_object *envelope(const char *item, int list)
{
	json_object *s = json_object_new_object(), *props = json_object_new_object();
	json_object *data;
	char desc[160];
	snprintf(desc, sizeof(desc), "the v1 envelope: data is %s %s", list ? "a list of" : "one",
		 item);
	json_object_object_add(s, "type", str("object"));
	json_object_object_add(s, "description", str(desc));
	if (list) {
		data = json_object_new_object();
		json_object_object_add(data, "type", str("array"));
		json_object_object_add(data, "items", kw_schema_ref(item));
	} else {
		data = kw_schema_ref(item);
	}
	json_object_object_add(props, "data", data);
	json_object_object_add(
		props, "has_more",
		json_tokener_parse("{\"type\":\"boolean\",\"description\":\"true when next_cursor "
				   "gives another page\"}"));
	json_object_object_add(
		props, "next_cursor",
		json_tokener_parse("{\"type\":[\"string\",\"null\"],\"description\":\"opaque: pass "
				   "it back as cursor for the next page; null on the last\"}"));
	json_object_object_add(props, "meta", kw_schema_ref("Meta"));
	json_object_object_add(s, "properties", props);
	json_object_object_add(
		s, "required",
		json_tokener_parse("[\"data\",\"has_more\",\"next_cursor\",\"meta\"]"));
	json_object_object_add(s, "additionalProperties", json_object_new_boolean(0));
	return s;
}

/* A response object: description, and content of the given media type when schema is set
 * (ownership of schema taken). */
static json_object *response(const char *desc, const char *media, json_object *schema)
{
	json_object *r = json_object_new_object();
	json_object_object_add(r, "description", str(desc));
	if (schema) {
		json_object *c = json_object_new_object(), *mt = json_object_new_object();
		json_object_object_add(mt, "schema", schema);
		json_object_object_add(c, media, mt);
		json_object_object_add(r, "content", c);
	}
	return r;
}

static json_object *error_response(const char *desc)
{
	return response(desc, "application/json", kw_schema_ref("Error"));
}

/* The success response: JSON, text, and the CSV alternative with its columns. */
static json_object *ok_response(const struct kw_route *rt)
{
	json_object *r;
	const char *desc = rt->ok_status == 202 ? "accepted: kw-fetch will run soon" : "success";
	if (rt->shape == KW_REPLY_TEXT) {
		json_object *s = json_object_new_object();
		json_object_object_add(s, "type", str("string"));
		return response(desc, rt->reply, s);
	}
	r = response(desc, "application/json", reply_schema(rt));
	if (rt->csv_columns) {
		json_object *c = NULL, *csv = json_object_new_object(),
			    *s = json_object_new_object();
		json_object *cols = json_object_new_array();
		char d[512];
		for (const char *p = rt->csv_columns; *p;) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			json_object_array_add(cols, json_object_new_string_len(p, (int)n));
			p += n + (comma ? 1 : 0);
		}
		snprintf(d, sizeof(d),
			 "RFC 4180 CSV with a header line (?format=csv or Accept: text/csv); "
			 "columns as in the JSON fields of the same name: %s",
			 rt->csv_columns);
		json_object_object_add(s, "type", str("string"));
		json_object_object_add(s, "description", str(d));
		json_object_object_add(csv, "schema", s);
		json_object_object_add(csv, "x-csv-columns", cols);
		json_object_object_get_ex(r, "content", &c);
		json_object_object_add(c, "text/csv", csv);
	}
	return r;
}

static json_object *security(const char *const *schemes, int optional)
{
	json_object *sec = json_object_new_array();
	if (optional)
		json_object_array_add(sec, json_object_new_object());
	for (; schemes && *schemes; schemes++) {
		json_object *k = json_object_new_object();
		json_object_object_add(k, *schemes, json_object_new_array());
		json_object_array_add(sec, k);
	}
	return sec;
}

static const char *const auth_schemes[] = { "ApiKeyAuth", "BearerAuth", NULL };

/* operationId: the method in lower case, then the pattern with every other byte as '_'. */
static void operation_id(const struct kw_route *rt, char *opid, size_t size)
{
	size_t o = 0;
	for (const char *c = rt->method; *c && o + 1 < size; c++)
		opid[o++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
	for (const char *c = rt->pattern; *c && o + 1 < size; c++)
		opid[o++] = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ? *c : '_';
	opid[o] = '\0';
}

/* Path parameters in pattern order, then the query parameters; *has_path_arg set if any. */
static json_object *parameters(const struct kw_route *rt, int *has_path_arg)
{
	json_object *params = json_object_new_array();
	*has_path_arg = 0;
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
		*has_path_arg = 1;
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
	return params;
}

static json_object *request_body(const struct kw_route *rt)
{
	json_object *rb = json_object_new_object(), *c = json_object_new_object();
	json_object *mt = json_object_new_object();
	json_object_object_add(mt, "schema", body_schema(rt->body));
	json_object_object_add(c, "application/json", mt);
	json_object_object_add(rb, "required", json_object_new_boolean(0));
	json_object_object_add(rb, "content", c);
	return rb;
}

/* Every status the route can answer, each with its cause. */
static json_object *responses(const struct kw_route *rt, int public, int has_path_arg)
{
	json_object *res = json_object_new_object();
	char code[8];
	snprintf(code, sizeof(code), "%d", rt->ok_status);
	json_object_object_add(res, code, ok_response(rt));
	if (!strcmp(rt->method, "GET"))
		json_object_object_add(
			res, "304",
			response("not modified (If-None-Match matched the ETag)", NULL, NULL));
	json_object_object_add(res, "400",
			       error_response(rt->body ? "invalid parameter or body"
						       : "invalid or unknown parameter"));
	/* A public route needs none, but a credential that is sent is checked all the same. */
	json_object_object_add(res, "401",
			       error_response(public ? "a credential was sent and is invalid"
						     : "credentials missing or invalid"));
	json_object_object_add(
		res, "403",
		error_response(public ? "address blocked, or origin not allowed"
				      : "address blocked, origin not allowed, or scope too small"));
	if (has_path_arg)
		json_object_object_add(res, "404", error_response("no such resource"));
	if (rt->flags & KW_ROUTE_MAY_CONFLICT)
		json_object_object_add(res, "409", error_response("a fetch run is already going"));
	if (rt->body) {
		json_object_object_add(res, "413",
				       error_response("body larger than MAX_BODY_BYTES"));
		json_object_object_add(res, "415", error_response("body is not application/json"));
	}
	json_object_object_add(res, "429", error_response("rate limited (see Retry-After)"));
	json_object_object_add(res, "500", error_response("the answer could not be formatted"));
	if (rt->flags & KW_ROUTE_503_SAME_SHAPE) {
		json_object *any = json_object_new_object(), *alt = json_object_new_array();
		json_object_array_add(alt, reply_schema(rt));
		json_object_array_add(alt, kw_schema_ref("Error"));
		json_object_object_add(any, "anyOf", alt);
		json_object_object_add(
			res, "503",
			response("database unavailable (with this route's shape when the check "
				 "itself answered)",
				 "application/json", any));
	} else {
		json_object_object_add(res, "503", error_response("database unavailable"));
	}
	return res;
}

static json_object *operation(const struct kw_route *rt)
{
	json_object *op = json_object_new_object();
	char opid[160];
	int has_path_arg = 0;
	operation_id(rt, opid, sizeof(opid));
	json_object_object_add(op, "operationId", str(opid));
	json_object_object_add(op, "summary", str(rt->summary ? rt->summary : ""));
	json_object_object_add(op, "parameters", parameters(rt, &has_path_arg));
	if (rt->body)
		json_object_object_add(op, "requestBody", request_body(rt));
	int public = (rt->flags & KW_ROUTE_PUBLIC) && !(rt->flags & KW_ROUTE_SELF_GATED);
	json_object_object_add(op, "responses", responses(rt, public, has_path_arg));
	if (public)
		json_object_object_add(op, "security", json_object_new_array());
	else
		json_object_object_add(op, "security",
				       security(auth_schemes, rt->flags & KW_ROUTE_SELF_GATED));
	if (rt->flags & KW_ROUTE_ADMIN)
		json_object_object_add(op, "x-required-scope", str("admin"));
	return op;
}

/* 1 if the document refers to component name: a route's answer, a field, the envelope's
 * Meta or the Error of every error status. One used only as another's `base` is left out
 * (its fields are copied, nothing points at it). */
static int referenced(const char *name)
{
	if (!strcmp(name, "Error") || !strcmp(name, "Meta"))
		return 1;
	for (int i = 0; i < kw_routes_count; i++)
		if (kw_routes[i].shape != KW_REPLY_TEXT && kw_routes[i].reply &&
		    !strcmp(kw_routes[i].reply, name))
			return 1;
	for (int i = 0; i < kw_schemas_count; i++)
		for (const struct kw_field *f = kw_schemas[i].fields; f && f->name; f++)
			if (f->ref && !strcmp(f->ref, name))
				return 1;
	return 0;
}

static json_object *components(void)
{
	json_object *c = json_object_new_object(), *schemas = json_object_new_object();
	for (int i = 0; i < kw_schemas_count; i++)
		if (referenced(kw_schemas[i].name))
			json_object_object_add(schemas, kw_schemas[i].name,
					       kw_schema_json(&kw_schemas[i]));
	/* One named envelope per component a v1 route answers with, in route order. */
	for (int i = 0; i < kw_routes_count; i++) {
		const struct kw_route *rt = &kw_routes[i];
		char name[96];
		if (rt->shape != KW_REPLY_ITEM && rt->shape != KW_REPLY_LIST)
			continue;
		snprintf(name, sizeof(name), "%s%s", rt->reply,
			 rt->shape == KW_REPLY_LIST ? "List" : "Envelope");
		if (!json_object_object_get_ex(schemas, name, NULL))
			json_object_object_add(schemas, name,
					       envelope(rt->reply, rt->shape == KW_REPLY_LIST));
	}
	json_object_object_add(c, "schemas", schemas);
	json_object_object_add(
		c, "securitySchemes",
		json_tokener_parse("{\"ApiKeyAuth\":{\"type\":\"apiKey\",\"in\":\"header\","
				   "\"name\":\"X-API-Key\",\"description\":\"an API key made by "
				   "kw-admin key create\"},\"BearerAuth\":{\"type\":\"http\","
				   "\"scheme\":\"bearer\",\"bearerFormat\":\"JWT\",\"description\":"
				   "\"an HS256 token made by kw-admin token create\"}}"));
	return c;
}

json_object *kw_openapi_document(void)
{
	json_object *doc = json_object_new_object(), *info = json_object_new_object();
	json_object *paths = json_object_new_object();
	json_object_object_add(doc, "openapi", str("3.1.0"));
	json_object_object_add(info, "title", str("KalshiWhale API"));
	json_object_object_add(info, "version", str(KW_VERSION));
	json_object_object_add(info, "description",
			       str("Whale trades, detection signals and market data from Kalshi, "
				   "stored by kw-fetch. Generated from the server's route table."));
	json_object_object_add(info, "contact",
			       json_tokener_parse("{\"name\":\"" KW_PRODUCT " maintainers\"}"));
	json_object_object_add(info, "license",
			       json_tokener_parse("{\"name\":\"" KW_LICENSE_NAME
						  "\",\"identifier\":\"" KW_LICENSE_ID "\"}"));
	json_object_object_add(doc, "info", info);
	/* Relative: the document is served by the API it describes, under the same origin. */
	json_object_object_add(
		doc, "servers",
		json_tokener_parse("[{\"url\":\"/\",\"description\":\"the server that serves this "
				   "document\"}]"));
	json_object_object_add(doc, "security", security(auth_schemes, 0));
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
	return doc;
}

void kw_handle_openapi(struct kw_req *r)
{
	kw_reply_json(r, 200, kw_openapi_document());
}
