-- The console's accounts and sessions: password hashes are made by the
-- callers (yescrypt); a session is keyed by the SHA-256 of its token.

-- Adds a user with a password hash made by the caller (never the
-- password itself).
-- Only an administrator manages users.
CREATE OR REPLACE FUNCTION user_admin_check(p_actor_role text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF p_actor_role IS DISTINCT FROM 'administrator' THEN
		PERFORM lifecycle_fail('LC001', format('managing users is an '
		    'administrator''s task, not the %s role''s', p_actor_role));
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION user_add(p_name text, p_display text, p_role text,
    p_hash text, p_actor text, p_actor_role text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM user_admin_check(p_actor_role);
	IF p_name IS NULL OR p_name !~ '^[A-Za-z0-9._@-]{1,64}$' THEN
		PERFORM lifecycle_fail('LC001', format('a user name is 1-64 '
		    'letters, digits and . _ @ -, not %L', p_name));
	END IF;
	IF p_role IS NULL OR p_role NOT IN ('viewer', 'operator',
	    'administrator', 'outsourcer') THEN
		PERFORM lifecycle_fail('LC001', format('a user''s role is '
		    'viewer, operator, administrator or outsourcer, not %L',
		    p_role));
	END IF;
	IF EXISTS (SELECT 1 FROM app_user WHERE name = p_name) THEN
		PERFORM lifecycle_fail('LC001', format('user %s exists already',
		    p_name));
	END IF;
	INSERT INTO app_user (name, display_name, role, password_hash)
	VALUES (p_name, coalesce(p_display, ''), p_role, p_hash);
	INSERT INTO user_change (actor, user_name, what, detail)
	VALUES (p_actor, p_name, 'added', 'role ' || p_role);
END
$$;

-- Sets a user's password hash; unlocks the account.
CREATE OR REPLACE FUNCTION user_set_password(p_name text, p_hash text, p_actor text,
    p_actor_role text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM user_admin_check(p_actor_role);
	UPDATE app_user SET password_hash = p_hash,
	    password_changed_at = now(), failed_logins = 0,
	    locked_until = NULL
	WHERE name = p_name;
	IF NOT FOUND THEN
		PERFORM lifecycle_fail('LC003', 'no user ' || p_name);
	END IF;
	-- whoever was logged in with the old password is no longer
	DELETE FROM app_session WHERE user_name = p_name;
	INSERT INTO user_change (actor, user_name, what)
	VALUES (p_actor, p_name, 'password changed');
END
$$;

-- Disables (p_disable) or enables a user; a reason is kept.
CREATE OR REPLACE FUNCTION user_set_disabled(p_name text, p_disable boolean,
    p_actor text, p_actor_role text, p_reason text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v_user app_user;
BEGIN
	PERFORM user_admin_check(p_actor_role);
	SELECT * INTO v_user FROM app_user WHERE name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		PERFORM lifecycle_fail('LC003', 'no user ' || p_name);
	END IF;
	IF (v_user.disabled_at IS NOT NULL) = p_disable THEN
		PERFORM lifecycle_fail('LC001', format('user %s is %s already',
		    p_name, CASE WHEN p_disable THEN 'disabled'
		    ELSE 'enabled' END));
	END IF;
	IF p_disable AND coalesce(btrim(p_reason), '') = '' THEN
		PERFORM lifecycle_fail('LC001', 'disabling ' || p_name ||
		    ' needs a reason (--reason)');
	END IF;
	UPDATE app_user SET disabled_at = CASE WHEN p_disable THEN now() END,
	    failed_logins = 0, locked_until = NULL
	WHERE name = p_name;
	DELETE FROM app_session WHERE user_name = p_name;
	INSERT INTO user_change (actor, user_name, what, detail)
	VALUES (p_actor, p_name, CASE WHEN p_disable THEN 'disabled'
	    ELSE 'enabled' END, coalesce(p_reason, ''));
END
$$;

-- Records a login attempt that incidentd checked against the hash.  A
-- failure counts towards a lock: from the fifth in a row the account is
-- locked for 1, 2, 4 ... minutes, at most an hour.  A success opens a
-- session (p_token: 32 random bytes in hex) for p_idle.  Returns the
-- outcome: 'ok', 'wrong', 'locked' (with until), 'disabled'.
CREATE OR REPLACE FUNCTION user_login_result(p_name text, p_ok boolean, p_remote text,
    p_token text, p_csrf text, p_idle interval, OUT outcome text,
    OUT until timestamptz, OUT role text, OUT display_name text)
LANGUAGE plpgsql AS $$
DECLARE
	v_user app_user;
BEGIN
	SELECT * INTO v_user FROM app_user WHERE name = p_name FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO user_login (user_name, remote, ok, why)
		VALUES (left(coalesce(p_name, ''), 64), coalesce(p_remote, ''),
		    false, 'no such user');
		outcome := 'wrong';
		RETURN;
	END IF;
	IF v_user.disabled_at IS NOT NULL THEN
		outcome := 'disabled';
	ELSIF v_user.locked_until > now() THEN
		outcome := 'locked';
		until := v_user.locked_until;
	ELSIF NOT p_ok THEN
		outcome := 'wrong';
		UPDATE app_user SET failed_logins = failed_logins + 1,
		    locked_until = CASE WHEN failed_logins + 1 >= 5 THEN now()
		        + least(interval '1 minute' * power(2, least(
		            failed_logins + 1 - 5, 10)), interval '1 hour') END
		WHERE name = p_name RETURNING locked_until INTO until;
	ELSE
		outcome := 'ok';
		UPDATE app_user SET failed_logins = 0, locked_until = NULL
		WHERE name = p_name;
		INSERT INTO app_session (token_hash, user_name, csrf, remote,
		    expires_at)
		VALUES (sha256(decode(p_token, 'hex')), p_name, p_csrf,
		    coalesce(p_remote, ''), now() + p_idle);
		role := v_user.role;
		display_name := v_user.display_name;
	END IF;
	INSERT INTO user_login (user_name, remote, ok, why)
	VALUES (p_name, coalesce(p_remote, ''), outcome = 'ok',
	    CASE WHEN outcome = 'ok' THEN '' ELSE outcome END);
END
$$;

-- The user of a live session, renewing it for p_idle; no row when the
-- token is unknown, lapsed, or its user disabled.
CREATE OR REPLACE FUNCTION session_touch(p_token text, p_idle interval,
    OUT user_name text, OUT role text, OUT display_name text,
    OUT csrf text)
RETURNS SETOF record LANGUAGE sql AS $$
	UPDATE app_session s SET last_seen = now(),
	    expires_at = now() + p_idle
	FROM app_user u
	WHERE s.token_hash = sha256(decode(p_token, 'hex'))
	  AND s.expires_at > now() AND u.name = s.user_name
	  AND u.disabled_at IS NULL
	RETURNING u.name, u.role, u.display_name, s.csrf
$$;

-- Ends a session; true if there was one.
CREATE OR REPLACE FUNCTION session_end(p_token text)
RETURNS boolean LANGUAGE sql AS $$
	WITH d AS (DELETE FROM app_session
	           WHERE token_hash = sha256(decode(p_token, 'hex'))
	           RETURNING 1)
	SELECT count(*) > 0 FROM d
$$;
