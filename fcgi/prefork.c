/*
 * prefork.c — `kw-api --workers N`: one supervising process and N workers that all accept on
 * the same listening socket (fd 0 from systemd's StandardInput=socket or spawn-fcgi, or the
 * --socket the parent bound). lighttpd's bin-path does this job itself (max-procs); this is for
 * the deployments where nobody else does: a systemd socket unit, or --socket for Apache.
 *
 * The parent holds no database connection (SQLite connections must not cross fork()); each
 * worker opens its own after the fork. A worker that exits is replaced; one that dies within a
 * second of starting is replaced after a one-second pause, so a broken configuration cannot
 * become a fork loop. SIGTERM/SIGINT to the parent stop every worker, then the parent.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "log.h"

static volatile sig_atomic_t g_parent_stop;

static void on_parent_signal(int sig)
{
	(void)sig;
	g_parent_stop = 1;
}

struct kid {
	pid_t pid;
	int64_t started_us;
};

/* Fork one worker; returns 0 in the child, 1 in the parent, -1 on failure. */
static int spawn(struct kid *k)
{
	pid_t pid = fork();
	if (pid < 0) {
		kw_error("prefork: fork failed: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		kw_log_forked();
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		return 0;
	}
	k->pid = pid;
	k->started_us = kw_mono_us();
	return 1;
}

int kw_prefork(int workers)
{
	struct kid *kids = kw_xcalloc((size_t)workers, sizeof(*kids));
	struct sigaction sa;
	int rc = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_parent_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: waitpid() must wake up */
	sigaction(SIGINT, &sa, NULL);

	for (int i = 0; i < workers; i++) {
		int s = spawn(&kids[i]);
		if (s == 0) {
			free(kids);
			return KW_PREFORK_CHILD;
		}
		if (s < 0) {
			rc = 1;
			g_parent_stop = 1;
			break;
		}
	}
	kw_info("prefork: supervising %d workers", workers);
	while (!g_parent_stop) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			kw_error("prefork: waitpid failed: %s", strerror(errno));
			rc = 1;
			break;
		}
		for (int i = 0; i < workers; i++) {
			if (kids[i].pid != pid)
				continue;
			int quick = kw_mono_us() - kids[i].started_us < 1000000;
			kw_warn("prefork: worker %d exited (%s %d)%s", (int)pid,
				WIFSIGNALED(status) ? "signal" : "status",
				WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
				quick ? "; restarting in 1 s" : "; restarting");
			kids[i].pid = 0;
			if (quick)
				sleep(1);
			if (g_parent_stop)
				break;
			int s = spawn(&kids[i]);
			if (s == 0) {
				free(kids);
				return KW_PREFORK_CHILD;
			}
		}
	}
	for (int i = 0; i < workers; i++)
		if (kids[i].pid > 0)
			kill(kids[i].pid, SIGTERM);
	for (int i = 0; i < workers; i++)
		if (kids[i].pid > 0)
			while (waitpid(kids[i].pid, NULL, 0) < 0 && errno == EINTR)
				;
	kw_info("prefork: all workers stopped");
	free(kids);
	return rc;
}
