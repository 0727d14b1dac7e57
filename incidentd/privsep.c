/*
 * Privilege separation.  The console and the acknowledgement links (the
 * HTTP side, which anyone who reaches the listener may talk to) run in a
 * process of their own: incidentd execs itself with -H and writes it the
 * configuration on a pipe with the SMTP password and the credential
 * headers of the SMS gateway and the webhooks blanked (cfg_redact), so
 * they never enter that process's memory.  That process has its own
 * database session, serves HTTP and does nothing else; this one ingests
 * and sends, serves no HTTP, and is not dumpable, so the console's process
 * (same user) cannot read its memory through ptrace or /proc.
 *
 * The console's process dies with this one (PR_SET_PDEATHSIG) and is
 * started again, after a backoff, if it dies alone.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "incidentd.h"
#include "timeutil.h"
#include "xmalloc.h"

#define PRIVSEP_BACKOFF_MIN_MS 1000
#define PRIVSEP_BACKOFF_MAX_MS 30000
/* A console process that lived this long resets the backoff. */
#define PRIVSEP_STABLE_MS 10000

/* The console's process, seen from incidentd. */
struct privsep {
	struct incidentd *idd;
	pid_t pid; /* 0: not running */
	char *text; /* the redacted config */
	size_t len;
	char *argv[8];
	struct event *sigchld;
	struct event *restart;
	uint64_t started_ms;
	uint64_t backoff_ms;
};

static void privsep_restart_after(struct privsep *);

/* Starts the console's process and writes it the config.  Returns 0/-1. */
static int
privsep_spawn(struct privsep *ps)
{
	pid_t parent = getpid(), pid;
	int p[2];
	size_t off = 0;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("console process: pipe");
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("console process: fork");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* It must not outlive incidentd, even after a SIGKILL. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 ||
		    getppid() != parent || dup2(p[0], STDIN_FILENO) == -1)
			_exit(1);
		execv("/proc/self/exe", ps->argv);
		_exit(127);
	}
	close(p[0]);
	while (off < ps->len) {
		ssize_t w = write(p[1], ps->text + off, ps->len - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_warn("console process: writing its configuration");
			break;
		}
		off += (size_t)w;
	}
	close(p[1]);
	ps->pid = pid;
	ps->started_ms = timeutil_mono_ms();
	log_notice("console process started (pid %ld)", (long)pid);
	return 0;
}

static void
privsep_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct privsep *ps = arg;

	(void)fd;
	(void)what;
	if (!ps->idd->stopping && ps->pid == 0 && privsep_spawn(ps) == -1)
		privsep_restart_after(ps);
}

/* Tries again after the backoff, which doubles up to its maximum. */
static void
privsep_restart_after(struct privsep *ps)
{
	struct timeval tv = timeutil_ms_to_tv(ps->backoff_ms);

	log_notice("console process: starting it again in %llu ms",
	    (unsigned long long)ps->backoff_ms);
	event_add(ps->restart, &tv);
	ps->backoff_ms = ps->backoff_ms * 2 > PRIVSEP_BACKOFF_MAX_MS ?
	    PRIVSEP_BACKOFF_MAX_MS :
	    ps->backoff_ms * 2;
}

static void
privsep_sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
	struct privsep *ps = arg;
	int status;
	pid_t pid;

	(void)fd;
	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != ps->pid)
			continue;
		ps->pid = 0;
		if (WIFSIGNALED(status))
			log_warnx("console process %ld killed by signal %d",
			    (long)pid, WTERMSIG(status));
		else
			log_notice("console process %ld exited (%d)", (long)pid,
			    WEXITSTATUS(status));
		if (ps->idd->stopping)
			continue;
		if (timeutil_mono_ms() - ps->started_ms > PRIVSEP_STABLE_MS)
			ps->backoff_ms = PRIVSEP_BACKOFF_MIN_MS;
		privsep_restart_after(ps);
	}
}

/*
 * Runs the HTTP side in its own process: file names the config (for its
 * messages), text is the config with the notification credentials
 * blanked (taken over).  Returns 0, or -1 after logging.
 */
int
privsep_start(struct incidentd *idd, const char *file, char *text, size_t len,
    int debug, int use_syslog)
{
	struct privsep *ps = xcalloc(1, sizeof(*ps));
	int n = 0;

	ps->idd = idd;
	ps->text = text;
	ps->len = len;
	ps->backoff_ms = PRIVSEP_BACKOFF_MIN_MS;
	ps->argv[n++] = (char *)"incidentd";
	ps->argv[n++] = (char *)"-H";
	if (debug)
		ps->argv[n++] = (char *)"-d";
	if (use_syslog)
		ps->argv[n++] = (char *)"-s";
	ps->argv[n++] = (char *)"-f";
	ps->argv[n++] = xstrdup(file);
	ps->argv[n] = NULL;
	idd->privsep = ps;
	ps->sigchld = evsignal_new(idd->base, SIGCHLD, privsep_sigchld_cb, ps);
	ps->restart = evtimer_new(idd->base, privsep_restart_cb, ps);
	if (ps->sigchld == NULL || ps->restart == NULL ||
	    evsignal_add(ps->sigchld, NULL) == -1) {
		log_warnx("console process: cannot watch it");
		return -1;
	}
	/* The console's process runs as the same user: keep it out of this
	 * one's memory. */
	if (prctl(PR_SET_DUMPABLE, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
	return privsep_spawn(ps);
}

/*
 * Stops the console's process: SIGTERM, and SIGKILL if it is still there
 * after a few seconds.  NULL-safe.
 */
void
privsep_stop(struct incidentd *idd)
{
	struct privsep *ps = idd->privsep;

	if (ps == NULL)
		return;
	if (ps->pid > 0) {
		int status;

		kill(ps->pid, SIGTERM);
		for (int i = 0; i < 50; i++) {
			if (waitpid(ps->pid, &status, WNOHANG) != 0)
				break;
			usleep(100000);
			if (i == 49) {
				log_warnx("console process %ld ignored SIGTERM",
				    (long)ps->pid);
				kill(ps->pid, SIGKILL);
				waitpid(ps->pid, &status, 0);
			}
		}
	}
	if (ps->sigchld != NULL)
		event_free(ps->sigchld);
	if (ps->restart != NULL)
		event_free(ps->restart);
	explicit_bzero(ps->text, ps->len);
	free(ps->text);
	for (size_t i = 0; ps->argv[i] != NULL; i++)
		if (i > 0 && strcmp(ps->argv[i - 1], "-f") == 0)
			free(ps->argv[i]);
	free(ps);
	idd->privsep = NULL;
}

/* The console's process: its config, from standard input.  NULL on error. */
char *
privsep_read_config(size_t *lenp)
{
	size_t len = 0, cap = 65536;
	char *buf = xmalloc(cap + 1);
	ssize_t r;

	for (;;) {
		if (len == cap) {
			if (cap >= (16u << 20)) {
				free(buf);
				return NULL;
			}
			cap *= 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		r = read(STDIN_FILENO, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
}
