/*
 * admin.h — kw-admin's command groups, one file each. Each takes the loaded configuration and
 * the arguments after its group name and returns the process exit status (0 done, 1 failed,
 * 2 usage error).
 */
#ifndef KW_ADMIN_H
#define KW_ADMIN_H

#include "config.h"

int kw_admin_key(struct kw_config *cfg, int argc, char **argv);	    /* keys.c */
int kw_admin_token(struct kw_config *cfg, int argc, char **argv);   /* tokens.c */
int kw_admin_db(struct kw_config *cfg, int argc, char **argv);	    /* db.c */
int kw_admin_unblock(struct kw_config *cfg, int argc, char **argv); /* unblock.c */

#endif
