/*
 * schema.h — the response schemas of kw-api: one table (schema.c) naming every JSON object the
 * serializers write, with each field's type, unit, nullability and choices. openapi.c turns it
 * into the document's components/schemas; tests/unit/test_contract.c checks the serializers'
 * output against that document, so a field written but not named here fails a test.
 *
 * A component is closed (additionalProperties: false) and every field is required unless
 * marked optional: a client may rely on a key being present, with null where nullable.
 * `base` copies another component's fields first (a legacy market is a market plus two
 * aliases), so a shape is declared once.
 */
#ifndef KW_FCGI_SCHEMA_H
#define KW_FCGI_SCHEMA_H

#include <json-c/json.h>

#include "signals.h" /* KW_SIGNAL_CHOICES: alert-type enums come from the signal table */

enum kw_ftype {
	KW_FT_STRING,
	KW_FT_INTEGER,
	KW_FT_NUMBER, /* an exact decimal written as a JSON number (dollars, contracts, percent) */
	KW_FT_BOOLEAN,
	KW_FT_TIME,   /* RFC 3339 string */
	KW_FT_OBJECT, /* ref = component, or NULL for a free-form object */
	KW_FT_ARRAY,  /* items: ref = component, or `items` */
	KW_FT_MAP,    /* object with caller-chosen keys; values: ref = component, or `items` */
};

enum kw_fflag {
	KW_FF_NULLABLE = 1,
	KW_FF_OPTIONAL = 2, /* may be absent (not in `required`) */
	/* STRING whose choices are the signal table's names: the document adds each signal's
	 * label (x-enum-labels) and meaning (x-enumDescriptions) beside the enum. */
	KW_FF_SIGNAL = 4,
};

struct kw_field {
	const char *name;
	enum kw_ftype type;
	int flags;
	const char *ref;     /* OBJECT / ARRAY / MAP: component of the value or elements */
	enum kw_ftype items; /* ARRAY / MAP without ref: type of the elements */
	const char *choices; /* STRING: "a|b|c" enum; MAP: the allowed keys */
	const char *desc;    /* with the unit: dollars, contracts, seconds, percent */
};

struct kw_schema {
	const char *name;
	const char *desc;
	const char *base;	       /* component whose fields come first, or NULL */
	const struct kw_field *fields; /* {NULL}-terminated */
};

extern const struct kw_schema kw_schemas[];
extern const int kw_schemas_count;

/* The named component, or NULL. */
const struct kw_schema *kw_schema_find(const char *name);
/* JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) of one component; refs point into
 * #/components/schemas. Owned by the caller. */
json_object *kw_schema_json(const struct kw_schema *s);
/* {"$ref": "#/components/schemas/<name>"} (owned). */
json_object *kw_schema_ref(const char *name);
/* A "a|b|c" choice list as a JSON array of strings (owned). */
json_object *kw_schema_choices(const char *choices);

#endif
