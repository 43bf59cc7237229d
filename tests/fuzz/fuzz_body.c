/*
 * fuzz_body.c — libFuzzer target for kw_json_body_parse() (lib/jsonbody.c): any bytes as a
 * request body. Invariants: accepted bodies are objects holding only declared fields of the
 * declared types; refused ones have a message without control characters; nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonbody.h"

static const struct kw_body_field decl[] = {
	{ "force_update", KW_BODY_BOOL, 0, 0, 0, 0 },
	{ "limit", KW_BODY_INT, 0, 1, 100, 0 },
	{ "name", KW_BODY_STR, 0, 0, 0, 16 },
	{ NULL, 0, 0, 0, 0, 0 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *o = NULL;
	char err[160] = "";
	if (kw_json_body_parse((const char *)data, size, decl, &o, err, sizeof(err)) == 0) {
		if (!json_object_is_type(o, json_type_object))
			abort();
		json_object_object_foreach(o, k, v)
		{
			if (!strcmp(k, "force_update") &&
			    !json_object_is_type(v, json_type_boolean))
				abort();
			else if (!strcmp(k, "limit") && !json_object_is_type(v, json_type_int))
				abort();
			else if (!strcmp(k, "name") && !json_object_is_type(v, json_type_string))
				abort();
			else if (strcmp(k, "force_update") && strcmp(k, "limit") &&
				 strcmp(k, "name"))
				abort();
		}
		json_object_put(o);
	} else {
		if (o || !err[0])
			abort();
		for (const char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20)
				abort();
	}
	return 0;
}
