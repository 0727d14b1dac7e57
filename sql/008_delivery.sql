-- How and when notifications are delivered.
--
-- Channels beyond mail and the spool: SMS through an HTTP gateway (same
-- 'sms' rows, another way out) and webhooks for chat tools, a channel of
-- their own.  What the far end called a message it accepted (a relay's
-- queue id, a gateway's message id) is kept with the row.
--
-- Teams, their calendars and their duty roster (当番): in business hours
-- every member of a team is told; outside them, an urgent incident (P1 by
-- default, and one whose priority nobody has set yet) goes at once to the
-- member on duty only, and anything less urgent waits, for every member,
-- until the office opens.  Nothing is dropped: a held message is a row
-- whose next attempt is the opening time.

ALTER TABLE notification ADD COLUMN provider_ref text;
-- When a message was first due: its creation, or the opening of the
-- office it was held for.  Escalation counts from here.
ALTER TABLE notification ADD COLUMN due_at timestamptz;

-- Japan's national holidays and substitute holidays (国民の祝日・休日), as
-- the Cabinet Office publishes them; later years are added by migrations
-- or by hand.
CREATE TABLE national_holiday (
	day  date PRIMARY KEY,
	name text NOT NULL
);
INSERT INTO national_holiday (day, name) VALUES
	('2025-01-01', '元日'), ('2025-01-13', '成人の日'),
	('2025-02-11', '建国記念の日'), ('2025-02-23', '天皇誕生日'),
	('2025-02-24', '休日'), ('2025-03-20', '春分の日'),
	('2025-04-29', '昭和の日'), ('2025-05-03', '憲法記念日'),
	('2025-05-04', 'みどりの日'), ('2025-05-05', 'こどもの日'),
	('2025-05-06', '休日'), ('2025-07-21', '海の日'),
	('2025-08-11', '山の日'), ('2025-09-15', '敬老の日'),
	('2025-09-23', '秋分の日'), ('2025-10-13', 'スポーツの日'),
	('2025-11-03', '文化の日'), ('2025-11-23', '勤労感謝の日'),
	('2025-11-24', '休日'),
	('2026-01-01', '元日'), ('2026-01-12', '成人の日'),
	('2026-02-11', '建国記念の日'), ('2026-02-23', '天皇誕生日'),
	('2026-03-20', '春分の日'), ('2026-04-29', '昭和の日'),
	('2026-05-03', '憲法記念日'), ('2026-05-04', 'みどりの日'),
	('2026-05-05', 'こどもの日'), ('2026-05-06', '休日'),
	('2026-07-20', '海の日'), ('2026-08-11', '山の日'),
	('2026-09-21', '敬老の日'), ('2026-09-22', '休日'),
	('2026-09-23', '秋分の日'), ('2026-10-12', 'スポーツの日'),
	('2026-11-03', '文化の日'), ('2026-11-23', '勤労感謝の日'),
	('2027-01-01', '元日'), ('2027-01-11', '成人の日'),
	('2027-02-11', '建国記念の日'), ('2027-02-23', '天皇誕生日'),
	('2027-03-21', '春分の日'), ('2027-03-22', '休日'),
	('2027-04-29', '昭和の日'), ('2027-05-03', '憲法記念日'),
	('2027-05-04', 'みどりの日'), ('2027-05-05', 'こどもの日'),
	('2027-07-19', '海の日'), ('2027-08-11', '山の日'),
	('2027-09-20', '敬老の日'), ('2027-09-23', '秋分の日'),
	('2027-10-11', 'スポーツの日'), ('2027-11-03', '文化の日'),
	('2027-11-23', '勤労感謝の日');

-- When an office is open: hours on some weekdays in a time zone, closed on
-- national holidays and over the New Year (12/29-1/3) unless told
-- otherwise, with extra closed and open days; or always open (24x7).
CREATE TABLE calendar (
	name        text PRIMARY KEY,
	tz          text NOT NULL DEFAULT 'Asia/Tokyo',
	always_open boolean NOT NULL DEFAULT false,
	weekdays    smallint[] NOT NULL DEFAULT '{1,2,3,4,5}', -- ISO, 1 = Mon
	opens       time NOT NULL DEFAULT '08:30',
	closes      time NOT NULL DEFAULT '17:15',
	holidays    boolean NOT NULL DEFAULT true,
	new_year    boolean NOT NULL DEFAULT true,
	closed_days date[] NOT NULL DEFAULT '{}',
	open_days   date[] NOT NULL DEFAULT '{}',
	CHECK (opens < closes)
);

-- A team: its calendar, its duty rotation (one member at a time, each for
-- duty_every from duty_start on, in order) and the priorities that wake
-- the member on duty outside business hours.
CREATE TABLE team (
	name        text PRIMARY KEY,
	calendar    text REFERENCES calendar (name) ON UPDATE CASCADE,
	duty        text[] NOT NULL DEFAULT '{}',
	duty_start  timestamptz,
	duty_every  interval CHECK (duty_every > '0'),
	after_hours smallint[] NOT NULL DEFAULT '{1}'
);

-- Swaps in the rotation: this member is on duty from starts_at to
-- ends_at, whoever the rotation names.  The latest starting one wins.
CREATE TABLE team_duty_override (
	team      text NOT NULL REFERENCES team (name) ON DELETE CASCADE,
	starts_at timestamptz NOT NULL,
	ends_at   timestamptz NOT NULL,
	contact   text NOT NULL,
	CHECK (starts_at < ends_at)
);
CREATE INDEX team_duty_override_team ON team_duty_override (team,
    starts_at);

-- Whether a calendar's office is open on a (local) day.
CREATE FUNCTION calendar_day_open(p_cal calendar, p_day date)
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT p_day = ANY (p_cal.open_days) OR (
	    NOT p_day = ANY (p_cal.closed_days)
	    AND extract(isodow FROM p_day)::smallint = ANY (p_cal.weekdays)
	    AND NOT (p_cal.holidays AND EXISTS (SELECT 1 FROM national_holiday
	                                        WHERE day = p_day))
	    AND NOT (p_cal.new_year AND (to_char(p_day, 'MM-DD') >= '12-29'
	                                 OR to_char(p_day, 'MM-DD') <= '01-03')))
$$;

-- Whether the office is open at a moment; an unknown calendar is open.
CREATE FUNCTION calendar_is_open(p_cal text, p_at timestamptz)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_cal calendar;
	v_local timestamp;
BEGIN
	SELECT * INTO v_cal FROM calendar WHERE name = p_cal;
	IF NOT FOUND OR v_cal.always_open THEN
		RETURN true;
	END IF;
	v_local := p_at AT TIME ZONE v_cal.tz;
	RETURN calendar_day_open(v_cal, v_local::date)
	   AND v_local::time >= v_cal.opens AND v_local::time < v_cal.closes;
END
$$;

-- When the office next opens, p_at itself if it is open; NULL if it
-- never opens in the next 400 days.
CREATE FUNCTION calendar_next_open(p_cal text, p_at timestamptz)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_cal calendar;
	v_local timestamp;
	v_at timestamptz;
BEGIN
	IF calendar_is_open(p_cal, p_at) THEN
		RETURN p_at;
	END IF;
	SELECT * INTO v_cal FROM calendar WHERE name = p_cal;
	v_local := p_at AT TIME ZONE v_cal.tz;
	FOR i IN 0 .. 400 LOOP
		IF calendar_day_open(v_cal, v_local::date + i) THEN
			v_at := ((v_local::date + i) + v_cal.opens)
			    AT TIME ZONE v_cal.tz;
			IF v_at > p_at THEN
				RETURN v_at;
			END IF;
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;

-- The member of a team on duty at a moment: a swap covering it, else the
-- rotation's turn; NULL without either.
CREATE FUNCTION team_on_duty(p_team text, p_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
	SELECT coalesce(
	    (SELECT o.contact FROM team_duty_override o
	     WHERE o.team = p_team AND o.starts_at <= p_at
	       AND o.ends_at > p_at
	     ORDER BY o.starts_at DESC LIMIT 1),
	    (SELECT t.duty[1 + (((floor(extract(epoch FROM p_at - t.duty_start)
	                              / extract(epoch FROM t.duty_every))::bigint
	                        % n) + n) % n)::integer]
	     FROM team t, LATERAL (SELECT cardinality(t.duty)::bigint AS n) AS c
	     WHERE t.name = p_team AND c.n > 0 AND t.duty_start IS NOT NULL
	       AND t.duty_every IS NOT NULL))
$$;

-- When a message of a kind and priority goes to a recipient (an element
-- of the recipients list): now, later (the office's opening), or never
-- (NULL: someone else is on duty).  Only a team member's "opened" and
-- "reminder" messages depend on the hour; a recovery follows whoever was
-- told, and an escalation is its caller's choice.
CREATE FUNCTION duty_delivery(p_r jsonb, p_kind text, p_priority smallint)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_team team;
	v_duty text;
BEGIN
	IF p_r->>'team' IS NULL OR p_kind NOT IN ('opened', 'reminder') THEN
		RETURN now();
	END IF;
	SELECT * INTO v_team FROM team WHERE name = p_r->>'team';
	IF NOT FOUND OR calendar_is_open(v_team.calendar, now()) THEN
		RETURN now();
	END IF;
	IF p_priority IS NULL OR p_priority = ANY (v_team.after_hours) THEN
		v_duty := team_on_duty(v_team.name, now());
		RETURN CASE WHEN v_duty IS NULL OR v_duty = p_r->>'name'
		            THEN now() END;
	END IF;
	IF p_kind = 'reminder' THEN
		RETURN NULL;    -- the morning's message is reminder enough
	END IF;
	-- an office that never opens cannot hold a message
	RETURN coalesce(calendar_next_open(v_team.calendar, now()), now());
END
$$;

-- 007's lifecycle_configure keeps its work; this one adds the calendars
-- and the teams.  Teams and calendars not in the configuration go.
ALTER FUNCTION lifecycle_configure(jsonb) RENAME TO lifecycle_configure_007;
CREATE FUNCTION lifecycle_configure(p_conf jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM lifecycle_configure_007(p_conf);
	IF NOT p_conf ? 'calendars' THEN
		RETURN;
	END IF;
	DELETE FROM team;
	DELETE FROM calendar;
	INSERT INTO calendar (name, tz, always_open, weekdays, opens, closes,
	    holidays, new_year, closed_days, open_days)
	SELECT c->>'name', c->>'tz', (c->>'always_open')::boolean,
	    ARRAY(SELECT jsonb_array_elements_text(c->'weekdays'))::smallint[],
	    (c->>'opens')::time, (c->>'closes')::time,
	    (c->>'holidays')::boolean, (c->>'new_year')::boolean,
	    ARRAY(SELECT jsonb_array_elements_text(c->'closed'))::date[],
	    ARRAY(SELECT jsonb_array_elements_text(c->'open'))::date[]
	FROM jsonb_array_elements(p_conf->'calendars') AS c;
	INSERT INTO team (name, calendar, duty, duty_start, duty_every,
	    after_hours)
	SELECT t->>'name', t->>'calendar',
	    ARRAY(SELECT jsonb_array_elements_text(t->'duty')),
	    -- the start is written in the local time of the team's calendar
	    (t->>'duty_start')::timestamp AT TIME ZONE coalesce((SELECT tz
	        FROM calendar WHERE name = t->>'calendar'), 'Asia/Tokyo'),
	    (t->>'duty_every')::interval,
	    ARRAY(SELECT jsonb_array_elements_text(t->'after_hours'))::smallint[]
	FROM jsonb_array_elements(coalesce(p_conf->'teams', '[]')) AS t;
	INSERT INTO team_duty_override (team, starts_at, ends_at, contact)
	SELECT t->>'name',
	    (o->>'from')::timestamp AT TIME ZONE c.tz,
	    (o->>'to')::timestamp AT TIME ZONE c.tz, o->>'contact'
	FROM jsonb_array_elements(coalesce(p_conf->'teams', '[]')) AS t
	CROSS JOIN LATERAL jsonb_array_elements(coalesce(t->'swaps', '[]'))
	    AS o
	CROSS JOIN LATERAL (SELECT coalesce((SELECT tz FROM calendar
	    WHERE name = t->>'calendar'), 'Asia/Tokyo') AS tz) AS c;
END
$$;

-- As in 006, with the channels (email, sms, webhook), the silence of
-- maintenance windows, and the teams' hours and duty.
CREATE OR REPLACE FUNCTION notification_queue(p_inc incident,
    p_ev state_event, p_kind text, p_recipients jsonb)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	v_n integer;
	v_until timestamptz;
BEGIN
	IF p_kind = 'opened' AND p_ev.downtime IS NOT NULL THEN
		SELECT max(ends_at) INTO v_until FROM downtime_window
		WHERE source = p_ev.source AND name = p_ev.downtime
		  AND starts_at <= p_ev.observed_at
		  AND ends_at > p_ev.observed_at;
		-- A window nobody published cannot say when to speak
		-- again: better a message now than none.
		IF v_until IS NOT NULL THEN
			UPDATE incident SET silenced_by = p_ev.downtime,
			    silenced_until = v_until
			WHERE id = p_inc.id;
			INSERT INTO incident_transition (incident_id, actor,
			    role, from_status, to_status, from_phase,
			    to_phase, event_id, reason)
			SELECT p_inc.id, 'incidentd', 'system', i.status,
			    i.status, i.phase, i.phase, p_ev.id,
			    'notifications silenced by maintenance ' ||
			    p_ev.downtime || ' until ' || v_until::text
			FROM incident i WHERE i.id = p_inc.id;
			RETURN 0;
		END IF;
	END IF;
	IF p_kind = 'recovered' AND NOT EXISTS (
	    SELECT 1 FROM notification WHERE incident_id = p_inc.id
	      AND ((kind = 'opened' AND round = p_inc.reopen_count) OR
	           (kind = 'escalated' AND round / 100 = p_inc.reopen_count)))
	THEN
		-- nothing was said of its start: say nothing of its end,
		-- and nothing later either
		UPDATE incident SET silenced_by = NULL, silenced_until = NULL
		WHERE id = p_inc.id;
		RETURN 0;
	END IF;
	INSERT INTO notification (incident_id, kind, round, channel,
	    recipient, recipient_name, lang, next_attempt_at, facts, due_at)
	SELECT p_inc.id, p_kind, p_inc.reopen_count, c.channel, c.address,
	    coalesce(r->>'name', ''), coalesce(r->>'lang', 'ja'),
	    greatest(d.at, now() + CASE WHEN p_kind = 'opened' THEN
	        (SELECT group_window FROM lifecycle_setting) ELSE '0' END,
	        -- an end never overtakes its start held for the morning
	        CASE WHEN p_kind = 'recovered' THEN (SELECT
	            max(x.next_attempt_at) FROM notification x
	            WHERE x.incident_id = p_inc.id AND x.channel = c.channel
	              AND x.recipient = c.address AND x.kind = 'opened'
	              AND x.status = 'pending') END),
	    incident_facts(p_inc, p_ev) || jsonb_build_object('round',
	        p_inc.reopen_count, 'priority', p_inc.priority, 'children',
	        (SELECT count(*) FROM incident_child
	         WHERE incident_id = p_inc.id), 'after_maintenance',
	        p_inc.silenced_by), d.at
	FROM jsonb_array_elements(coalesce(p_recipients, '[]'::jsonb)) AS r
	-- a webhook's address is its contact's name: the URL, which may
	-- hold a token, stays in the configuration
	CROSS JOIN LATERAL (VALUES (1, 'email', r->>'email'),
	    (2, 'sms', r->>'sms'), (3, 'webhook', r->>'webhook'))
	    AS c(ord, channel, address)
	CROSS JOIN LATERAL (SELECT duty_delivery(r, p_kind,
	    p_inc.priority) AS at) AS d
	WHERE coalesce(c.address, '') <> '' AND d.at IS NOT NULL
	  -- the end goes to whoever was told of the start (at once or by
	  -- escalation); the start and reminders to those told at once; an
	  -- escalation to the level its caller chose
	  AND CASE p_kind
	      WHEN 'recovered' THEN EXISTS (SELECT 1 FROM notification x
	          WHERE x.incident_id = p_inc.id AND x.channel = c.channel
	            AND x.recipient = c.address
	            AND ((x.kind = 'opened' AND x.round = p_inc.reopen_count)
	              OR (x.kind = 'escalated'
	                  AND x.round / 100 = p_inc.reopen_count)))
	      WHEN 'escalated' THEN true
	      ELSE coalesce((r->>'after_ms')::bigint, 0) = 0 END
	  -- a contact may want SMS only for some priorities
	  AND (p_kind = 'recovered' OR c.channel <> 'sms'
	       OR r->>'sms_priorities' IS NULL
	       OR p_inc.priority = ANY (string_to_array(
	           r->>'sms_priorities', ',')::smallint[]))
	ORDER BY c.ord
	ON CONFLICT (incident_id, kind, round, channel, recipient)
	DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	RETURN v_n;
END
$$;


-- incidentd, after each attempt: notification_done, and the far end's
-- reference when it accepted the message.
CREATE FUNCTION notification_result(p_id bigint, p_ok boolean, p_error text,
    p_ref text, p_retry_min interval, p_retry_max interval,
    p_max_attempts integer)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF p_ok AND coalesce(p_ref, '') <> '' THEN
		UPDATE notification SET provider_ref = left(p_ref, 200)
		WHERE id = p_id AND status = 'sending';
	END IF;
	RETURN notification_done(p_id, p_ok, p_error, p_retry_min,
	    p_retry_max, p_max_attempts);
END
$$;

-- One-time acknowledgement links (incidentd's /a/<token>): each link names
-- one notification row, so the contact it went to; using it is recorded
-- here once, and acknowledges the incident as that contact.
CREATE TABLE ack_link_use (
	notification_id bigint PRIMARY KEY REFERENCES notification (id),
	used_at         timestamptz NOT NULL DEFAULT now(),
	remote          text NOT NULL DEFAULT ''
);

-- Uses a link.  outcome: 'acknowledged'; 'already' (someone else was
-- first; the link is used up all the same); 'used' (this link was used
-- before); 'missing' (no such row); or 'refused: ...' when the lifecycle
-- refuses the acknowledgement.  With who acknowledged and when.
CREATE FUNCTION incident_ack_link(p_notification bigint, p_remote text,
    p_tz text, OUT outcome text, OUT ref text, OUT acknowledged_by text,
    OUT acknowledged_at text, OUT lang text)
LANGUAGE plpgsql AS $$
DECLARE
	v_row notification;
	v_tz text := coalesce(p_tz, 'Asia/Tokyo');
	v_n integer;
BEGIN
	SELECT * INTO v_row FROM notification WHERE id = p_notification;
	IF NOT FOUND THEN
		outcome := 'missing';
		RETURN;
	END IF;
	lang := v_row.lang;
	INSERT INTO ack_link_use (notification_id, remote)
	VALUES (p_notification, coalesce(p_remote, ''))
	ON CONFLICT (notification_id) DO NOTHING;
	GET DIAGNOSTICS v_n = ROW_COUNT;
	IF v_n = 0 THEN
		outcome := 'used';
	ELSE
		BEGIN
			outcome := CASE WHEN incident_ack(v_row.incident_id,
			    coalesce(nullif(v_row.recipient_name, ''),
			             v_row.recipient), 'operator')
			    THEN 'acknowledged' ELSE 'already' END;
		EXCEPTION WHEN SQLSTATE 'LC001' OR SQLSTATE 'LC003' THEN
			outcome := 'refused: ' || SQLERRM;
		END;
	END IF;
	SELECT i.ref, coalesce(i.acknowledged_by, ''),
	    coalesce(to_char(i.acknowledged_at AT TIME ZONE v_tz,
	        'YYYY-MM-DD HH24:MI'), '')
	INTO ref, acknowledged_by, acknowledged_at
	FROM incident i WHERE i.id = v_row.incident_id;
END
$$;
