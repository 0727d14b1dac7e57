-- Each row of bins carries the totals of its bins as well: a graph whose
-- step holds whole rows (a month in 3-hour steps of 5-minute rows of an
-- hour, a year in days of hourly rows of a day) reads them without
-- opening the arrays.  NULL where a row has no totals; the reader then
-- adds up its bins.
ALTER TABLE metric_5m ADD COLUMN all_n integer,
    ADD COLUMN all_lo double precision, ADD COLUMN all_hi double precision,
    ADD COLUMN all_sum double precision;
ALTER TABLE metric_1h ADD COLUMN all_n integer,
    ADD COLUMN all_lo double precision, ADD COLUMN all_hi double precision,
    ADD COLUMN all_sum double precision;

-- The rows of the days since 019 (a store is at most days old here).
UPDATE metric_5m SET (all_n, all_lo, all_hi, all_sum) = (
    SELECT sum(u.n)::integer, min(u.lo), max(u.hi), sum(u.sum)
    FROM unnest(metric_5m.n, metric_5m.lo, metric_5m.hi, metric_5m.sum)
        AS u(n, lo, hi, sum)
    WHERE u.n > 0);
UPDATE metric_1h SET (all_n, all_lo, all_hi, all_sum) = (
    SELECT sum(u.n)::integer, min(u.lo), max(u.hi), sum(u.sum)
    FROM unnest(metric_1h.n, metric_1h.lo, metric_1h.hi, metric_1h.sum)
        AS u(n, lo, hi, sum)
    WHERE u.n > 0);
