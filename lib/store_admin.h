/*
 * store_admin.h — database upkeep behind `kw-admin db`: the integrity check, the vacuum and
 * the online backup. The caller reports; these only do the work and say what happened.
 */
#ifndef KW_STORE_ADMIN_H
#define KW_STORE_ADMIN_H

#include <stddef.h>

#include "store.h"

/* The database's integrity check: 1 when sound, 0 when damaged, and either way res holds the
 * check's first line ("ok" when sound); -1 with err when the check could not run. */
int kw_store_integrity(struct kw_store *s, char *res, size_t reslen, char *err, size_t errlen);

/* Rebuild the file to return its free pages, then truncate the WAL. -1 with err on failure. */
int kw_store_vacuum(struct kw_store *s, char *err, size_t errlen) KW_WUR;

/*
 * Copy the whole database to path (created; the caller removes any old file first) as one
 * read snapshot, so writers carry on meanwhile, then run the integrity check on the copy:
 * 1 when the copy is sound, 0 when it is damaged (res as for kw_store_integrity), -1 with
 * err when the copy or its check could not be made. path is left for the caller to remove
 * or rename.
 */
int kw_store_backup(struct kw_store *s, const char *path, char *res, size_t reslen, char *err,
		    size_t errlen);

#endif
