/*
 * Running Nagios-compatible plugins from the event loop.  Each run is one
 * posix_spawn() of an argv (no shell), in a process group of its own, with
 * stdin on /dev/null, stdout and stderr on pipes, every other descriptor
 * closed, signal dispositions and mask reset, and a small fixed
 * environment.  At most max runs at once; the rest wait in a FIFO.
 *
 * A run ends when the plugin has exited and both pipes are at their end.
 * A child it forked that keeps the pipes open is given a moment and then
 * killed with the whole process group; so is a plugin past its timeout.
 * monitord is a child subreaper, and SIGCHLD reaps every child, so that no
 * zombie is left behind, not even of a grandchild that escaped the group.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitord.h"
#include "timeutil.h"
#include "xmalloc.h"

/* How long a plugin's children may keep the pipes open after it exits. */
#define PLUGIN_LINGER_MS 200
#define PLUGIN_ERR_MAX 1024

static char plugin_env_path[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
static char plugin_env_lc[] = "LC_ALL=C";
static char *const plugin_env[] = { plugin_env_path, plugin_env_lc, NULL };

/*
 * Where a run is.  QUEUED waits in r->queue; every other state is in
 * r->running.  A run is freed once its result was handed over and its
 * process reaped, whichever comes last.
 */
enum plugin_state {
	PLUGIN_QUEUED, /* waiting for a free slot */
	PLUGIN_RUNNING, /* spawned, not reaped, result not handed over */
	PLUGIN_SPAWN_FAILED, /* nothing runs; reported from the loop */
	PLUGIN_LINGERING, /* reaped; what it started holds the pipes */
	PLUGIN_ABANDONED /* result handed over (or cancelled), not reaped */
};

struct plugin_run {
	TAILQ_ENTRY(plugin_run) link;
	struct plugin_runner *r;
	char **argv;
	uint64_t timeout_ms;
	plugin_cb cb;
	void *arg;
	pid_t pid;
	int out_fd, err_fd;
	struct event *out_ev, *err_ev, *timer;
	char *out;
	size_t out_len;
	int truncated;
	char err[PLUGIN_ERR_MAX + 1];
	size_t err_len;
	enum plugin_state state; /* changed by plugin_set_state only */
	int wstatus; /* as waitpid gave it, once reaped */
	int timed_out;
	int spawn_error; /* errno of a failed start */
	uint64_t start_ns;
};

TAILQ_HEAD(plugin_list, plugin_run);

struct plugin_runner {
	struct event_base *base;
	unsigned max;
	struct plugin_list queue, running;
	uint64_t nqueue, nrunning;
	struct event *sigchld;
	uint64_t started, timeouts, lingerers_killed, spawn_errors;
};

static void plugin_spawn_next(struct plugin_runner *);

/* Frees a run that is neither queued nor running any more. */
static void
plugin_run_free(struct plugin_run *p)
{
	if (p->out_ev != NULL)
		event_free(p->out_ev);
	if (p->err_ev != NULL)
		event_free(p->err_ev);
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->out_fd != -1)
		close(p->out_fd);
	if (p->err_fd != -1)
		close(p->err_fd);
	for (char **a = p->argv; a != NULL && *a != NULL; a++)
		free(*a);
	free(p->argv);
	free(p->out);
	free(p);
}

/* Stops reading a pipe. */
static void
plugin_close(struct event **ev, int *fd)
{
	if (*ev != NULL) {
		event_free(*ev);
		*ev = NULL;
	}
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* Whether the run's process has been reaped (or never ran). */
static int
plugin_reaped(const struct plugin_run *p)
{
	return p->state == PLUGIN_SPAWN_FAILED || p->state == PLUGIN_LINGERING;
}

/*
 * Moves a run to a new state, with what entering it takes: the grace timer
 * for lingering children, the report of a failed start from the loop.
 */
static void
plugin_set_state(struct plugin_run *p, enum plugin_state st)
{
	struct timeval tv;

	p->state = st;
	switch (st) {
	case PLUGIN_RUNNING:
		tv = timeutil_ms_to_tv(p->timeout_ms);
		evtimer_add(p->timer, &tv);
		break;
	case PLUGIN_LINGERING:
		tv = timeutil_ms_to_tv(PLUGIN_LINGER_MS);
		evtimer_add(p->timer, &tv);
		break;
	case PLUGIN_SPAWN_FAILED:
		/* Reported from the loop, never from inside plugin_start. */
		event_active(p->timer, EV_TIMEOUT, 1);
		break;
	case PLUGIN_ABANDONED:
		evtimer_del(p->timer);
		break;
	case PLUGIN_QUEUED:
		break;
	}
}

/* Kills the run's process group (the plugin and what it started). */
static void
plugin_kill(struct plugin_run *p)
{
	if (p->pid > 0 && !plugin_reaped(p)) {
		kill(-p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
	} else if (p->pid > 0) {
		/* the plugin is gone; its group may not be */
		kill(-p->pid, SIGKILL);
	}
}

/* Frees a run that is over, and gives its slot to the next. */
static void
plugin_forget(struct plugin_run *p)
{
	struct plugin_runner *r = p->r;

	TAILQ_REMOVE(&r->running, p, link);
	r->nrunning--;
	plugin_run_free(p);
	plugin_spawn_next(r);
}

/* Hands the result over (once) and forgets the run when it is reaped. */
static void
plugin_finish(struct plugin_run *p)
{
	struct plugin_result res;

	if (p->state != PLUGIN_ABANDONED) {
		plugin_close(&p->out_ev, &p->out_fd);
		plugin_close(&p->err_ev, &p->err_fd);
		evtimer_del(p->timer);
		memset(&res, 0, sizeof(res));
		if (plugin_reaped(p) && p->spawn_error == 0) {
			res.exited = WIFEXITED(p->wstatus);
			res.code = res.exited ? WEXITSTATUS(p->wstatus) : 0;
			res.signo =
			    WIFSIGNALED(p->wstatus) ? WTERMSIG(p->wstatus) : 0;
		}
		res.timed_out = p->timed_out;
		res.spawn_error = p->spawn_error;
		p->out[p->out_len] = '\0';
		res.out = p->out;
		res.out_len = p->out_len;
		res.truncated = p->truncated;
		p->err[p->err_len] = '\0';
		res.err = p->err;
		res.duration_us = (timeutil_mono_ns() - p->start_ns) / 1000;
		if (p->cb != NULL)
			p->cb(&res, p->arg);
	}
	if (!plugin_reaped(p)) {
		/* freed when SIGCHLD says it is gone */
		plugin_set_state(p, PLUGIN_ABANDONED);
		return;
	}
	plugin_forget(p);
}

/*
 * The run is complete when the plugin is reaped and the pipes ended; a
 * plugin reaped with its pipes still open lingers for a moment.
 */
static void
plugin_check_done(struct plugin_run *p)
{
	if (p->out_fd == -1 && p->err_fd == -1)
		plugin_finish(p);
}

static void
plugin_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct plugin_run *p = arg;
	int is_out = fd == p->out_fd;
	char scratch[4096];
	ssize_t n;

	(void)what;
	for (;;) {
		char *dst = scratch;
		size_t room = sizeof(scratch);

		if (is_out && p->out_len < PLUGIN_OUTPUT_MAX) {
			dst = p->out + p->out_len;
			room = PLUGIN_OUTPUT_MAX - p->out_len;
		} else if (!is_out && p->err_len < PLUGIN_ERR_MAX) {
			dst = p->err + p->err_len;
			room = PLUGIN_ERR_MAX - p->err_len;
		}
		n = read(fd, dst, room);
		if (n > 0) {
			if (dst == scratch) {
				if (is_out)
					p->truncated = 1;
			} else if (is_out) {
				p->out_len += (size_t)n;
			} else {
				p->err_len += (size_t)n;
			}
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		break; /* the end, or an error: either way, done with it */
	}
	if (is_out)
		plugin_close(&p->out_ev, &p->out_fd);
	else
		plugin_close(&p->err_ev, &p->err_fd);
	if (p->state == PLUGIN_LINGERING)
		plugin_check_done(p);
}

/* The timeout, or the end of the grace for lingering children. */
static void
plugin_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct plugin_run *p = arg;

	(void)fd;
	(void)what;
	if (p->state == PLUGIN_SPAWN_FAILED) {
		plugin_finish(p);
		return;
	}
	if (p->state == PLUGIN_LINGERING) {
		p->r->lingerers_killed++;
		plugin_kill(p);
		plugin_finish(p);
		return;
	}
	p->timed_out = 1;
	p->r->timeouts++;
	plugin_kill(p);
	plugin_finish(p);
}

/* Reaps every child that has ended. */
static void
plugin_sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
	struct plugin_runner *r = arg;
	struct plugin_run *p;
	pid_t pid;
	int st;

	(void)fd;
	(void)what;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		TAILQ_FOREACH(p, &r->running, link) {
			if (p->pid == pid)
				break;
		}
		if (p == NULL)
			continue; /* an orphan that came to us: reaped */
		p->wstatus = st;
		if (p->state == PLUGIN_ABANDONED) {
			/* timed out or cancelled earlier: now it can go */
			kill(-p->pid, SIGKILL);
			plugin_forget(p);
		} else {
			/* until the pipes end, or for PLUGIN_LINGER_MS */
			plugin_set_state(p, PLUGIN_LINGERING);
			plugin_check_done(p);
		}
	}
}

/* Starts a run; on failure it ends at once with spawn_error. */
static void
plugin_spawn(struct plugin_run *p)
{
	struct plugin_runner *r = p->r;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, rc;

	TAILQ_INSERT_TAIL(&r->running, p, link);
	r->nrunning++;
	p->start_ns = timeutil_mono_ns();
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1) {
		rc = errno;
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCLOSEFROM_NP
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
		POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	rc = posix_spawn(&p->pid, p->argv[0], &fa, &attr, p->argv, plugin_env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(out[1]);
	close(err[1]);
	out[1] = err[1] = -1;
	if (rc != 0)
		goto fail;
	r->started++;
	p->out_fd = out[0];
	p->err_fd = err[0];
	if (fcntl(p->out_fd, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(p->err_fd, F_SETFL, O_NONBLOCK) == -1)
		log_warn("plugin: O_NONBLOCK");
	p->out_ev = event_new(r->base, p->out_fd, EV_READ | EV_PERSIST,
	    plugin_read_cb, p);
	p->err_ev = event_new(r->base, p->err_fd, EV_READ | EV_PERSIST,
	    plugin_read_cb, p);
	if (p->out_ev == NULL || p->err_ev == NULL ||
	    event_add(p->out_ev, NULL) == -1 ||
	    event_add(p->err_ev, NULL) == -1)
		fatalx("plugin: cannot watch the pipes");
	plugin_set_state(p, PLUGIN_RUNNING);
	return;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] != -1)
			close(out[i]);
		if (err[i] != -1)
			close(err[i]);
	}
	r->spawn_errors++;
	p->pid = -1;
	p->spawn_error = rc != 0 ? rc : EINVAL;
	plugin_set_state(p, PLUGIN_SPAWN_FAILED);
}

/* Starts queued runs while there is room. */
static void
plugin_spawn_next(struct plugin_runner *r)
{
	struct plugin_run *p;

	while (r->nrunning < r->max && (p = TAILQ_FIRST(&r->queue)) != NULL) {
		TAILQ_REMOVE(&r->queue, p, link);
		r->nqueue--;
		plugin_spawn(p);
	}
}

/* A runner of at most max plugins at once. */
struct plugin_runner *
plugin_runner_new(struct event_base *base, unsigned max)
{
	struct plugin_runner *r = xcalloc(1, sizeof(*r));

	r->base = base;
	r->max = max > 0 ? max : 1;
	TAILQ_INIT(&r->queue);
	TAILQ_INIT(&r->running);
	/* Orphans of plugins come to us, and SIGCHLD reaps them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("plugin: PR_SET_CHILD_SUBREAPER");
	r->sigchld = evsignal_new(base, SIGCHLD, plugin_sigchld_cb, r);
	if (r->sigchld == NULL || evsignal_add(r->sigchld, NULL) == -1)
		fatalx("plugin: cannot watch SIGCHLD");
	return r;
}

void
plugin_runner_set_max(struct plugin_runner *r, unsigned max)
{
	r->max = max > 0 ? max : 1;
	plugin_spawn_next(r);
}

/*
 * Kills what runs and waits for it: at exit nothing of ours may be left,
 * running or as a zombie.
 */
void
plugin_runner_free(struct plugin_runner *r)
{
	struct plugin_run *p;

	if (r == NULL)
		return;
	while ((p = TAILQ_FIRST(&r->queue)) != NULL) {
		TAILQ_REMOVE(&r->queue, p, link);
		plugin_run_free(p);
	}
	while ((p = TAILQ_FIRST(&r->running)) != NULL) {
		TAILQ_REMOVE(&r->running, p, link);
		if (p->pid > 0) {
			kill(-p->pid, SIGKILL);
			if (!plugin_reaped(p)) {
				kill(p->pid, SIGKILL);
				while (waitpid(p->pid, NULL, 0) == -1 &&
				    errno == EINTR)
					;
			}
		}
		plugin_run_free(p);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	event_free(r->sigchld);
	free(r);
}

/*
 * Runs argv (argv[0] a path) with a timeout; cb gets the result once,
 * from the loop.  Returns the run, for plugin_cancel.
 */
struct plugin_run *
plugin_start(struct plugin_runner *r, char *const argv[], uint64_t timeout_ms,
    plugin_cb cb, void *arg)
{
	struct plugin_run *p = xcalloc(1, sizeof(*p));
	size_t n = 0;

	while (argv[n] != NULL)
		n++;
	p->argv = xreallocarray(NULL, n + 1, sizeof(*p->argv));
	for (size_t i = 0; i < n; i++)
		p->argv[i] = xstrdup(argv[i]);
	p->argv[n] = NULL;
	p->r = r;
	p->timeout_ms = timeout_ms;
	p->cb = cb;
	p->arg = arg;
	p->out_fd = p->err_fd = -1;
	p->out = xmalloc(PLUGIN_OUTPUT_MAX + 1);
	p->timer = evtimer_new(r->base, plugin_timer_cb, p);
	if (p->timer == NULL)
		fatalx("plugin: evtimer_new failed");
	TAILQ_INSERT_TAIL(&r->queue, p, link);
	r->nqueue++;
	plugin_spawn_next(r);
	return p;
}

/* Drops a run: no callback follows; a running plugin is killed. */
void
plugin_cancel(struct plugin_run *p)
{
	struct plugin_runner *r;

	if (p == NULL)
		return;
	r = p->r;
	if (p->state == PLUGIN_QUEUED) {
		TAILQ_REMOVE(&r->queue, p, link);
		r->nqueue--;
		plugin_run_free(p);
		return;
	}
	p->cb = NULL;
	plugin_kill(p);
	plugin_finish(p);
}

/* Running, queued, started in all, timed out in all. */
void
plugin_runner_counts(const struct plugin_runner *r, uint64_t *running,
    uint64_t *queued, uint64_t *started, uint64_t *timeouts)
{
	*running = r != NULL ? r->nrunning : 0;
	*queued = r != NULL ? r->nqueue : 0;
	*started = r != NULL ? r->started : 0;
	*timeouts = r != NULL ? r->timeouts : 0;
}
