-- 017: the national holidays of the years the Cabinet Office has not
-- published yet, worked out by the holiday law (国民の祝日に関する法律) as
-- it stands, so that business hours stay right in a year nobody imported.
-- An import of the Cabinet Office's file replaces them year by year.

-- Japan's national holidays of a year by the law as it stands (since
-- 2020): the fixed days, the Mondays, the equinoxes by the usual formula
-- (good for 1980-2099), a substitute holiday for one on a Sunday, and a
-- day between two holidays.  2025-2027 come out as the Cabinet Office
-- published them.
CREATE FUNCTION national_holidays_by_law(p_year integer)
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

-- Whether a row was worked out by law rather than published.
ALTER TABLE national_holiday ADD COLUMN by_law boolean NOT NULL
    DEFAULT false;

-- The years after the last one known, up to 2099.
INSERT INTO national_holiday (day, name, by_law)
SELECT h.day, h.name, true
FROM generate_series((SELECT coalesce(max(extract(year FROM day)), 2024)
    ::integer + 1 FROM national_holiday), 2099) AS y,
    LATERAL national_holidays_by_law(y) AS h;

-- The import as in 009; what it brings is published.
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
