/*
 * incidentctl user: the console's accounts.  add, passwd, disable, enable
 * and list; a password is read from the terminal (twice, not echoed) or
 * as one line from standard input, and only its hash reaches the
 * database.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "incidentctl.h"
#include "incidentd.h"
#include "xmalloc.h"

#define PASSWORD_MIN 12
#define PASSWORD_MAX 1024

/* Reads one line without echo (on a terminal); NULL at end of input. */
static char *
user_read_line(const char *prompt, int tty)
{
	struct termios old, quiet;
	char buf[PASSWORD_MAX + 2], *nl;
	char *ok;

	if (tty) {
		fputs(prompt, stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		}
	}
	ok = fgets(buf, sizeof(buf), stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputs("\n", stderr);
	}
	if (ok == NULL)
		return NULL;
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	else if (strlen(buf) > PASSWORD_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return xstrdup(""); /* refused below as too long */
	}
	if ((nl = strchr(buf, '\r')) != NULL)
		*nl = '\0';
	ok = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return ok;
}

/* A new password, checked; its hash, or NULL after a message. */
static char *
user_new_hash(const char *name)
{
	int tty = isatty(STDIN_FILENO);
	char *pw, *again = NULL, *hash = NULL, prompt[128];

	snprintf(prompt, sizeof(prompt), "new password for %s: ", name);
	if ((pw = user_read_line(prompt, tty)) == NULL) {
		fprintf(stderr,
		    "incidentctl: user: no password on standard "
		    "input\n");
		return NULL;
	}
	if (strlen(pw) < PASSWORD_MIN || strlen(pw) > PASSWORD_MAX) {
		fprintf(stderr,
		    "incidentctl: user: a password has %d to %d "
		    "characters\n",
		    PASSWORD_MIN, PASSWORD_MAX);
		goto done;
	}
	if (tty) {
		again = user_read_line("again: ", tty);
		if (again == NULL || strcmp(pw, again) != 0) {
			fprintf(stderr,
			    "incidentctl: user: the passwords "
			    "differ\n");
			goto done;
		}
	}
	if ((hash = passwd_hash(pw)) == NULL)
		fprintf(stderr,
		    "incidentctl: user: libcrypt could not hash "
		    "the password\n");
done:
	explicit_bzero(pw, strlen(pw));
	free(pw);
	if (again != NULL) {
		explicit_bzero(again, strlen(again));
		free(again);
	}
	return hash;
}

static int
user_change(struct ctl *ctl, const char *sql, int n, const char *const *params,
    const char *done)
{
	PGconn *conn = ctl_connect(ctl);
	PGresult *res;
	int rc;

	if ((res = lifecycle_change(conn, sql, n, params, &rc)) != NULL) {
		printf("%s\n", done);
		PQclear(res);
	}
	PQfinish(conn);
	return rc;
}

static int
user_list(struct ctl *ctl)
{
	static const char *const h[] = { "USER", "NAME", "ROLE", "STATE",
		"PASSWORD SET", NULL };
	PGconn *conn = ctl_connect(ctl);
	PGresult *res;

	res = ctl_query(conn,
	    "SELECT name AS user, display_name AS name, role, "
	    "CASE WHEN disabled_at IS NOT NULL THEN 'disabled' "
	    " WHEN locked_until > now() THEN 'locked' ELSE 'active' END "
	    " AS state, to_char(password_changed_at, 'YYYY-MM-DD HH24:MI') "
	    " AS password_set FROM app_user ORDER BY name",
	    0, NULL);
	if (ctl->json) {
		json_t *j = ctl_rows_json(res);

		ctl_print_json(j);
		json_decref(j);
	} else if (PQntuples(res) == 0)
		printf("no users\n");
	else
		ctl_print_table(res, h);
	PQclear(res);
	PQfinish(conn);
	return 0;
}

/*
 * user add NAME --user-role R [--display-name N] | passwd NAME |
 * disable NAME --reason R | enable NAME | list; changes as an
 * administrator (--role administrator).
 */
int
user_run(struct ctl *ctl, int argc, char *argv[])
{
	const char *params[6];
	char *hash, *done;
	int rc;

	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return user_list(ctl);
	if (argc != 2) {
		fprintf(stderr,
		    "incidentctl: user add NAME --user-role ROLE "
		    "[--display-name N] | user passwd NAME | user disable "
		    "NAME --reason R | user enable NAME | user list\n");
		return CTL_EXIT_USAGE;
	}
	params[0] = argv[1];
	if (strcmp(argv[0], "add") == 0) {
		if (ctl->user_role == NULL) {
			fprintf(stderr,
			    "incidentctl: user add: --user-role "
			    "viewer, operator, administrator or "
			    "outsourcer is needed\n");
			return CTL_EXIT_USAGE;
		}
		if ((hash = user_new_hash(argv[1])) == NULL)
			return CTL_EXIT_USAGE;
		params[1] = ctl->display_name;
		params[2] = ctl->user_role;
		params[3] = hash;
		params[4] = ctl->actor;
		params[5] = ctl->role;
		done =
		    xasprintf("user %s added as %s", argv[1], ctl->user_role);
		rc = user_change(ctl, "SELECT user_add($1, $2, $3, $4, $5, $6)",
		    6, params, done);
	} else if (strcmp(argv[0], "passwd") == 0) {
		if ((hash = user_new_hash(argv[1])) == NULL)
			return CTL_EXIT_USAGE;
		params[1] = hash;
		params[2] = ctl->actor;
		params[3] = ctl->role;
		done = xasprintf("password of %s changed", argv[1]);
		rc =
		    user_change(ctl, "SELECT user_set_password($1, $2, $3, $4)",
			4, params, done);
	} else if (strcmp(argv[0], "disable") == 0 ||
	    strcmp(argv[0], "enable") == 0) {
		hash = NULL;
		params[1] = argv[0][0] == 'd' ? "true" : "false";
		params[2] = ctl->actor;
		params[3] = ctl->role;
		params[4] = ctl->reason;
		done = xasprintf("user %s %sd", argv[1], argv[0]);
		rc = user_change(ctl,
		    "SELECT user_set_disabled($1, $2::boolean, $3, $4, $5)", 5,
		    params, done);
	} else {
		fprintf(stderr,
		    "incidentctl: user: add, passwd, disable, "
		    "enable or list, not '%s'\n",
		    argv[0]);
		return CTL_EXIT_USAGE;
	}
	free(hash);
	free(done);
	return rc;
}
