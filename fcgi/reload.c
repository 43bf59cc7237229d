/*
 * reload.c — RELOAD=true (development): a worker notices that its binary was rebuilt or its
 * settings file changed, and exits between requests; the web server (lighttpd's bin-path,
 * spawn-fcgi under systemd) starts a fresh one. In production, configuration changes take
 * effect on a graceful web-server reload instead, so this costs nothing there.
 *
 * The files are stat(2)ed at most once a second, never per request.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "log.h"

#define RELOAD_CHECK_US 1000000

static void snap(const char *path, struct kw_reload_file *f)
{
	struct stat st;
	if (!*path || stat(path, &st) < 0) {
		f->ino = 0;
		f->mtime_ns = -1;
		return;
	}
	f->ino = st.st_ino;
	f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

void kw_reload_init(struct kw_reload *w, int enabled)
{
	memset(w, 0, sizeof(*w));
	w->enabled = enabled;
	if (!enabled)
		return;
	ssize_t n = readlink("/proc/self/exe", w->exe.path, sizeof(w->exe.path) - 1);
	w->exe.path[n > 0 ? n : 0] = '\0';
	const char *env = getenv("KW_ENV_FILE");
	kw_strlcpy(w->env.path, env && *env ? env : ".env", sizeof(w->env.path));
	snap(w->exe.path, &w->exe);
	snap(w->env.path, &w->env);
	w->next_check_us = kw_mono_us() + RELOAD_CHECK_US;
}

int kw_reload_due(struct kw_reload *w)
{
	if (!w->enabled || kw_mono_us() < w->next_check_us)
		return 0;
	w->next_check_us = kw_mono_us() + RELOAD_CHECK_US;
	struct kw_reload_file *files[] = { &w->exe, &w->env };
	for (size_t i = 0; i < KW_ARRAY_LEN(files); i++) {
		struct kw_reload_file now = *files[i];
		snap(now.path, &now);
		if (now.ino != files[i]->ino || now.mtime_ns != files[i]->mtime_ns) {
			kw_info("reload: %s changed; worker exiting so that a fresh one starts",
				now.path);
			return 1;
		}
	}
	return 0;
}
