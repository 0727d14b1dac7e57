-- The console's users: a name, a role of the lifecycle (viewer, operator,
-- administrator, or outsourcer, who sees only incidents assigned to the
-- outsourcer), a password hash (yescrypt, from libcrypt) and whether the
-- account is disabled.  Every change is kept in user_change.

CREATE TABLE app_user (
	name                text PRIMARY KEY
	                        CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
	display_name        text NOT NULL DEFAULT '',
	role                text NOT NULL CHECK (role IN ('viewer', 'operator',
	                        'administrator', 'outsourcer')),
	password_hash       text NOT NULL CHECK (password_hash LIKE '$%'),
	created_at          timestamptz NOT NULL DEFAULT now(),
	password_changed_at timestamptz NOT NULL DEFAULT now(),
	disabled_at         timestamptz,
	failed_logins       integer NOT NULL DEFAULT 0,
	locked_until        timestamptz
);

CREATE TABLE user_change (
	id        bigserial PRIMARY KEY,
	at        timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor     text NOT NULL,
	user_name text NOT NULL,
	what      text NOT NULL,
	detail    text NOT NULL DEFAULT ''
);

-- Sessions of the console: the token itself only in the user's cookie;
-- here its SHA-256, the CSRF token that state-changing requests must
-- echo, and when it lapses (idle time, renewed on use).
CREATE TABLE app_session (
	token_hash bytea PRIMARY KEY,
	user_name  text NOT NULL REFERENCES app_user (name) ON DELETE CASCADE,
	csrf       text NOT NULL,
	remote     text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT now(),
	last_seen  timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL
);

CREATE INDEX app_session_user ON app_session (user_name);

-- Every login attempt, append-only.
CREATE TABLE user_login (
	id        bigserial PRIMARY KEY,
	at        timestamptz NOT NULL DEFAULT clock_timestamp(),
	user_name text NOT NULL,
	remote    text NOT NULL DEFAULT '',
	ok        boolean NOT NULL,
	why       text NOT NULL DEFAULT ''
);
