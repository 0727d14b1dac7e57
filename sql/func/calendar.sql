-- Calendars: when an office is open (business hours, Japan's national
-- holidays, the New Year closure, extra days), time counted in business
-- hours, and who of a team is on duty.

-- Whether a calendar's office is open on a (local) day.
CREATE OR REPLACE FUNCTION calendar_day_open(p_cal calendar, p_day date)
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
CREATE OR REPLACE FUNCTION calendar_is_open(p_cal text, p_at timestamptz)
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
CREATE OR REPLACE FUNCTION calendar_next_open(p_cal text, p_at timestamptz)
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
CREATE OR REPLACE FUNCTION team_on_duty(p_team text, p_at timestamptz)
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

-- The Cabinet Office's file (incidentctl holidays import): the years a
-- file covers are replaced by what it says, so a holiday that moved (as
-- in 2020 and 2021) moves here too, and the rows worked out by law give
-- way; other years are left as they are.  Takes [{"day": "2027-01-01",
-- "name": "元日"}, ...]; says what changed and which years the file
-- covered.
CREATE OR REPLACE FUNCTION national_holiday_import(p_rows jsonb,
    OUT added integer, OUT removed integer, OUT renamed integer,
    OUT first_year integer, OUT last_year integer)
LANGUAGE plpgsql AS $$
DECLARE
	v_years integer[];
BEGIN
	CREATE TEMP TABLE holiday_in ON COMMIT DROP AS
	SELECT (r->>'day')::date AS day, r->>'name' AS name
	FROM jsonb_array_elements(p_rows) AS r;
	SELECT array_agg(DISTINCT extract(year FROM day)::integer),
	    min(extract(year FROM day))::integer,
	    max(extract(year FROM day))::integer
	INTO v_years, first_year, last_year FROM holiday_in;
	SELECT count(*) INTO added FROM holiday_in i
	WHERE NOT EXISTS (SELECT 1 FROM national_holiday h
	                  WHERE h.day = i.day);
	SELECT count(*) INTO renamed FROM holiday_in i
	JOIN national_holiday h ON h.day = i.day WHERE h.name <> i.name;
	DELETE FROM national_holiday h
	WHERE extract(year FROM h.day)::integer = ANY (v_years)
	  AND NOT EXISTS (SELECT 1 FROM holiday_in i WHERE i.day = h.day);
	GET DIAGNOSTICS removed = ROW_COUNT;
	INSERT INTO national_holiday (day, name, by_law)
	SELECT day, name, false FROM holiday_in
	ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name, by_law = false;
	DROP TABLE holiday_in;
END
$$;

-- The seconds of business time between two moments on a calendar: the
-- overlap of [p_from, p_to) with its opening hours, day by day in its
-- time zone.  A calendar that is always open, or unknown, counts every
-- second; an empty or backward span counts none.
CREATE OR REPLACE FUNCTION calendar_business_seconds(p_cal text, p_from timestamptz,
    p_to timestamptz)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_cal calendar;
	v_day date;
	v_last date;
	v_open timestamptz;
	v_close timestamptz;
	v_sum double precision := 0;
BEGIN
	IF p_to <= p_from THEN
		RETURN 0;
	END IF;
	SELECT * INTO v_cal FROM calendar WHERE name = p_cal;
	IF NOT FOUND OR v_cal.always_open THEN
		RETURN floor(extract(epoch FROM p_to - p_from))::bigint;
	END IF;
	v_day := (p_from AT TIME ZONE v_cal.tz)::date;
	v_last := (p_to AT TIME ZONE v_cal.tz)::date;
	WHILE v_day <= v_last LOOP
		IF calendar_day_open(v_cal, v_day) THEN
			v_open := (v_day + v_cal.opens) AT TIME ZONE v_cal.tz;
			v_close := (v_day + v_cal.closes) AT TIME ZONE v_cal.tz;
			v_sum := v_sum + greatest(0, extract(epoch FROM
			    least(v_close, p_to) - greatest(v_open, p_from)));
		END IF;
		v_day := v_day + 1;
	END LOOP;
	RETURN floor(v_sum)::bigint;
END
$$;

-- A calendar's opening hours within [p_from, p_to); all of it when the
-- calendar is always open or unknown (NULL: 24x7).
CREATE OR REPLACE FUNCTION calendar_ranges(p_cal text, p_from timestamptz,
    p_to timestamptz)
RETURNS tstzmultirange LANGUAGE plpgsql STABLE AS $$
DECLARE
	v_cal calendar;
	v_day date;
	v_out tstzmultirange := '{}';
BEGIN
	IF p_to <= p_from THEN
		RETURN v_out;
	END IF;
	SELECT * INTO v_cal FROM calendar WHERE name = p_cal;
	IF NOT FOUND OR v_cal.always_open THEN
		RETURN tstzmultirange(tstzrange(p_from, p_to));
	END IF;
	v_day := (p_from AT TIME ZONE v_cal.tz)::date;
	WHILE v_day <= (p_to AT TIME ZONE v_cal.tz)::date LOOP
		IF calendar_day_open(v_cal, v_day) THEN
			v_out := v_out + tstzmultirange(tstzrange(
			    (v_day + v_cal.opens) AT TIME ZONE v_cal.tz,
			    (v_day + v_cal.closes) AT TIME ZONE v_cal.tz));
		END IF;
		v_day := v_day + 1;
	END LOOP;
	RETURN v_out * tstzmultirange(tstzrange(p_from, p_to));
END
$$;

-- incidentd's config: the calendars and the teams with their duty
-- rotation and swaps, replaced whole when the config has calendars.
CREATE OR REPLACE FUNCTION lifecycle_configure_calendars(p_conf jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
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

-- Japan's national holidays of a year by the law as it stands (since
-- 2020): the fixed days, the Mondays, the equinoxes by the usual formula
-- (good for 1980-2099), a substitute holiday for one on a Sunday, and a
-- day between two holidays.  2025-2027 come out as the Cabinet Office
-- published them.
CREATE OR REPLACE FUNCTION national_holidays_by_law(p_year integer)
RETURNS TABLE (day date, name text) LANGUAGE sql IMMUTABLE AS $$
	WITH named(day, name) AS (
		SELECT make_date(p_year, f.m, f.d), f.n FROM (VALUES
		    (1, 1, '元日'), (2, 11, '建国記念の日'),
		    (2, 23, '天皇誕生日'), (4, 29, '昭和の日'),
		    (5, 3, '憲法記念日'), (5, 4, 'みどりの日'),
		    (5, 5, 'こどもの日'), (8, 11, '山の日'),
		    (11, 3, '文化の日'), (11, 23, '勤労感謝の日'))
		    AS f(m, d, n)
		UNION ALL
		-- the k-th Monday of a month
		SELECT d1 + (8 - extract(isodow FROM d1)::integer) % 7
		    + 7 * (h.k - 1), h.n
		FROM (VALUES (1, 2, '成人の日'), (7, 3, '海の日'),
		    (9, 3, '敬老の日'), (10, 2, 'スポーツの日')) AS h(m, k, n),
		LATERAL make_date(p_year, h.m, 1) AS d1
		UNION ALL
		SELECT make_date(p_year, e.m, floor(e.c + 0.242194
		    * (p_year - 1980) - (p_year - 1980) / 4)::integer), e.n
		FROM (VALUES (3, 20.8431, '春分の日'), (9, 23.2488, '秋分の日'))
		    AS e(m, c, n)
	), substitute AS (
		-- a holiday on a Sunday: the next day that is none
		SELECT (SELECT min(g)::date FROM generate_series(s.day + 1,
		    s.day + 7, interval '1 day') AS g
		    WHERE g::date NOT IN (SELECT n.day FROM named n)) AS day
		FROM named s WHERE extract(isodow FROM s.day) = 7
	), between_two AS (
		SELECT n.day + 1 AS day FROM named n
		WHERE n.day + 2 IN (SELECT m.day FROM named m)
		  AND n.day + 1 NOT IN (SELECT m.day FROM named m)
	)
	SELECT named.day, named.name FROM named
	UNION
	SELECT substitute.day, '休日' FROM substitute
	UNION
	SELECT between_two.day, '休日' FROM between_two
	ORDER BY 1
$$;
