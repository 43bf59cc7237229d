/*
 * codec.h — the shapes and encodings of text that several modules share, each written once:
 * the shape of a credential.
 *
 * Pure functions on bytes: no allocation unless stated, no logging, no library beyond libc, so
 * that every program (kw-fetch too, which links no JWT library) can use them.
 */
#ifndef KW_CODEC_H
#define KW_CODEC_H

#include <stddef.h>

#define KW_KEY_MAX_LEN 256 /* longer X-API-Key values are refused unread */

/* 1 if key has the shape of a credential: 1..KW_KEY_MAX_LEN printable ASCII, no spaces. */
int kw_key_is_wellformed(const char *key);

#endif
