-- Calendars, continued: Japan's national holidays kept up to date from
-- the Cabinet Office's file, and time counted in business hours (what
-- time-to-acknowledge and time-to-restore targets are measured in).

-- The Cabinet Office's file (incidentctl holidays import): the years a
-- file covers are replaced by what it says, so a holiday that moved (as
-- in 2020 and 2021) moves here too; other years are left as they are.

-- Imports holidays given as [{"day": "2027-01-01", "name": "元日"}, ...];
-- says what changed and which years the file covered.
CREATE FUNCTION national_holiday_import(p_rows jsonb, OUT added integer,
    OUT removed integer, OUT renamed integer, OUT first_year integer,
    OUT last_year integer)
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
	INSERT INTO national_holiday (day, name)
	SELECT day, name FROM holiday_in
	ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name;
	DROP TABLE holiday_in;
END
$$;

-- The seconds of business time between two moments on a calendar: the
-- overlap of [p_from, p_to) with its opening hours, day by day in its
-- time zone.  A calendar that is always open, or unknown, counts every
-- second; an empty or backward span counts none.
CREATE FUNCTION calendar_business_seconds(p_cal text, p_from timestamptz,
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
