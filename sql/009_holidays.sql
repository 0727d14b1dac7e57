-- Japan's national holidays kept up to date from the Cabinet Office's
-- file (incidentctl holidays import): the years a file covers are
-- replaced by what it says, so a holiday that moved (as in 2020 and 2021)
-- moves here too; other years are left as they are.

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
