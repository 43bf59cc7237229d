/*
 * admin.h — kw-admin's command groups, one file each. Each takes the loaded configuration and
 * the arguments after its group name and returns the process exit status (0 done, 1 failed,
 * 2 usage error).
 */
#ifndef KW_ADMIN_H
#define KW_ADMIN_H

#include "config.h"

/* `db copy` between the wrong kinds of database (EX_USAGE from sysexits.h). */
#define KW_EX_USAGE 64

int kw_admin_key(struct kw_config *cfg, int argc, char **argv);	    /* keys.c */
int kw_admin_token(struct kw_config *cfg, int argc, char **argv);   /* tokens.c */
int kw_admin_db(struct kw_config *cfg, int argc, char **argv);	    /* dbcmd.c */
int kw_admin_unblock(struct kw_config *cfg, int argc, char **argv); /* unblock.c */

struct kw_rl;
/* The running workers' shared limiter table (DATABASE_PATH-rl.shm), mapped without creating
 * it; NULL when there is none (no worker ever ran) or, with a warning ending in `otherwise`,
 * when it cannot be mapped. The caller kw_rl_close()s it. (unblock.c) */
struct kw_rl *kw_admin_rl_attach(const struct kw_config *cfg, const char *otherwise);

#endif
