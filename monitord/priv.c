/*
 * Privileges.  Everything that needs root (the raw ICMP sockets, a low
 * metrics port) is opened first; then monitord becomes an ordinary user for
 * the rest of its life, so a bug in a reply parser cannot be turned into
 * root.  The privileged part is this one function.
 */
#include "config.h"

#include <sys/types.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
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
