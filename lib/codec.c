/*
 * codec.c — shared text shapes and encodings (see codec.h). Each check here is the only copy of
 * its rule: a second hand-written loop elsewhere would drift from it.
 */
#include "codec.h"

#include <string.h>

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
