/*
 * Privileges.  Everything that needs root (the raw ICMP sockets, a low
 * metrics port) is opened first; then monitord becomes an ordinary user for
 * the rest of its life, so a bug in a reply parser cannot be turned into
 * root.  The privileged part is this one function.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitord.h"

/*
 * Switches to user (its uid, primary gid and no other groups) for good.
 * Not being root is fine when the user is who we already are.  Returns 0,
 * or -1 after logging why.
 */
int
priv_drop(const char *user)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		if (errno != 0)
			log_warn("user '%s'", user);
		else
			log_warnx("user '%s' does not exist", user);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (geteuid() != 0) {
		if (geteuid() == uid)
			return 0;
		log_warnx("not started as root: cannot become user '%s'", user);
		return -1;
	}
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		log_warn("cannot become user '%s'", user);
		return -1;
	}
	/* Make sure there is no way back. */
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		log_warnx("privileges could be regained after the switch to "
			  "'%s'",
		    user);
		return -1;
	}
	log_notice("running as user '%s' (uid %u, gid %u)", user, (unsigned)uid,
	    (unsigned)gid);
	return 0;
}

/*
 * Makes the directory of the journal at path ready for user (NULL: the
 * current one): created with mode 0700 if missing, and given to user when
 * run as root.  A world-writable or sticky directory (such as /tmp) is
 * left alone.  systemd runs this as root before each start.  Returns 0,
 * or -1 after logging why.
 */
int
priv_journal_dir(const char *path, const char *user)
{
	char dir[PATH_MAX];
	char *slash;
	struct passwd *pw = NULL;
	struct stat sb;

	if (strlen(path) >= sizeof(dir) ||
	    (slash = strrchr(path, '/')) == NULL || slash == path) {
		log_warnx("journal %s: not in a directory of its own", path);
		return -1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (user != NULL && (pw = getpwnam(user)) == NULL) {
		log_warnx("user '%s' does not exist", user);
		return -1;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("journal directory %s", dir);
		return -1;
	}
	if (lstat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		log_warnx("journal directory %s: not a directory", dir);
		return -1;
	}
	if (pw == NULL || geteuid() != 0 || sb.st_uid == pw->pw_uid)
		return 0;
	if ((sb.st_mode & (S_IWOTH | S_ISVTX)) != 0) {
		log_warnx("journal directory %s is shared (world-writable or "
			  "sticky): give the journal a directory of its own",
		    dir);
		return -1;
	}
	if (lchown(dir, pw->pw_uid, pw->pw_gid) == -1 ||
	    chmod(dir, 0700) == -1) {
		log_warn("journal directory %s", dir);
		return -1;
	}
	log_notice("journal directory %s now belongs to '%s'", dir, user);
	return 0;
}
