-- 019: measured values kept for as long as their retention says, and no
-- longer.  Every table below is partitioned by time, so that expiring data
-- is dropping a partition (sql/func/metrics.sql keeps them: partitions made
-- ahead, closed ones folded, old ones dropped).
--
--   metric_incoming  what monitord COPYs, a row a sample, in 10-minute
--                    partitions; an hour's are folded and dropped once the
--                    hour is over.  Its DEFAULT partition catches samples
--                    that come late (a batch resent after an outage).
--   metric_series    one integer per host, check and metric.
--   metric_raw       every sample, a row per series per hour: offsets in
--                    ms from the hour and the values, as two arrays (about
--                    12 bytes a sample against 150 a row: bench/README.md).
--   metric_5m        per series and hour, twelve 5-minute bins: count,
--                    lowest, highest, sum and last value (and when).
--   metric_1h        per series and day, 24 hourly bins, the same figures.
--
-- An hour folded twice (samples that came late) has two rows; readers take
-- every row of a bin.
CREATE TABLE metric_series (
	id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	host       text NOT NULL,
	check_name text NOT NULL,
	metric     text NOT NULL,
	UNIQUE (host, check_name, metric)
);

CREATE TABLE metric_incoming (
	ts         timestamptz NOT NULL,
	host       text NOT NULL,
	check_name text NOT NULL,
	metric     text NOT NULL,
	value      double precision NOT NULL
) PARTITION BY RANGE (ts);

CREATE TABLE metric_incoming_late PARTITION OF metric_incoming DEFAULT;

-- the same key as metric_sample's, so that the recent hour of one host
-- reads quickly
CREATE INDEX metric_incoming_series ON metric_incoming
    (host, check_name, metric, ts);

CREATE TABLE metric_raw (
	series integer NOT NULL,
	start  timestamptz NOT NULL,
	t      integer[] NOT NULL,
	v      double precision[] NOT NULL
) PARTITION BY RANGE (start);

CREATE TABLE metric_raw_late PARTITION OF metric_raw DEFAULT;

CREATE INDEX metric_raw_series ON metric_raw (series, start);

CREATE TABLE metric_5m (
	series integer NOT NULL,
	start  timestamptz NOT NULL,
	n      integer[] NOT NULL,          -- samples in each bin, 0 for none
	lo     double precision[] NOT NULL,
	hi     double precision[] NOT NULL,
	sum    double precision[] NOT NULL,
	last   double precision[] NOT NULL,
	last_t integer[] NOT NULL           -- ms after start of each last
) PARTITION BY RANGE (start);

CREATE TABLE metric_5m_late PARTITION OF metric_5m DEFAULT;

CREATE INDEX metric_5m_series ON metric_5m (series, start);

CREATE TABLE metric_1h (LIKE metric_5m) PARTITION BY RANGE (start);

CREATE TABLE metric_1h_late PARTITION OF metric_1h DEFAULT;

CREATE INDEX metric_1h_series ON metric_1h (series, start);

-- What each partitioned table keeps: the span of a partition, how far
-- ahead partitions are made, and how long data stays (incidentd.yaml's
-- retention, through metric_configure).
CREATE TABLE metric_tier (
	tier   text PRIMARY KEY,
	tbl    text NOT NULL UNIQUE,
	col    text NOT NULL,               -- the partition key
	span   interval NOT NULL,
	ahead  interval NOT NULL,
	keep   interval                     -- NULL: until folded (incoming)
);

INSERT INTO metric_tier VALUES
	('incoming', 'metric_incoming', 'ts', '10 minutes', '3 hours', NULL),
	('raw', 'metric_raw', 'start', '1 day', '2 days', '14 days'),
	('5m', 'metric_5m', 'start', '7 days', '14 days', '90 days'),
	('1h', 'metric_1h', 'start', '28 days', '56 days', '1095 days'),
	('traps', 'trap_event', 'received_at', '28 days', '56 days',
	    '365 days');

-- The partitions made so far and the samples each holds.
CREATE TABLE metric_partition (
	name    text PRIMARY KEY,
	tier    text NOT NULL REFERENCES metric_tier,
	lo      timestamptz NOT NULL,
	hi      timestamptz NOT NULL,
	samples bigint NOT NULL DEFAULT 0,
	UNIQUE (tier, lo)
);

-- How far folding has gone: metric_raw and metric_5m hold every hour
-- before hour_done, metric_1h every day before day_done; legacy_next is
-- where the rows kept from metric_sample are folded up to.
CREATE TABLE metric_fold (
	one         boolean PRIMARY KEY DEFAULT true CHECK (one),
	hour_done   timestamptz NOT NULL,
	day_done    timestamptz NOT NULL,
	legacy_next timestamptz,
	last_fold   jsonb NOT NULL DEFAULT '{}'
);

-- The rows of metric_sample stay where they are, as metric_legacy, and are
-- folded an hour at a time, oldest first; the table goes when the last is.
ALTER TABLE metric_sample RENAME TO metric_legacy;
ALTER INDEX metric_sample_series RENAME TO metric_legacy_series;
ALTER INDEX metric_sample_ts RENAME TO metric_legacy_ts;

INSERT INTO metric_fold (hour_done, day_done, legacy_next)
SELECT date_trunc('hour', now(), 'UTC'), date_trunc('day', now(), 'UTC'),
    (SELECT min(ts) FROM metric_legacy);

-- Traps by the month too.  The id stays unique through its sequence.
ALTER TABLE trap_event RENAME TO trap_event_legacy;
ALTER INDEX trap_event_host RENAME TO trap_event_legacy_host;

CREATE TABLE trap_event (
	id          bigint NOT NULL DEFAULT nextval('trap_event_id_seq'),
	source      text NOT NULL,
	received_at timestamptz NOT NULL,
	sender      inet NOT NULL,
	host        text,
	version     text NOT NULL,
	inform      boolean NOT NULL DEFAULT false,
	trap_oid    text NOT NULL,
	trap_name   text,
	varbinds    jsonb NOT NULL DEFAULT '[]',
	PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);

CREATE TABLE trap_event_late PARTITION OF trap_event DEFAULT;

CREATE INDEX trap_event_host ON trap_event (host, received_at);

-- kept ones move to the default partition, which the first pass of
-- metric_maintain sorts into monthly ones
INSERT INTO trap_event SELECT * FROM trap_event_legacy;

ALTER SEQUENCE trap_event_id_seq OWNED BY trap_event.id;

DROP TABLE trap_event_legacy;

-- Every sample that is kept, as rows, for a person at psql: the recent
-- ones, the folded ones and those not yet folded from metric_sample.
CREATE VIEW metric_sample AS
	SELECT i.ts, i.host, i.check_name, i.metric, i.value
	FROM metric_incoming i
	UNION ALL
	SELECT r.start + u.t * interval '1 millisecond', s.host,
	    s.check_name, s.metric, u.v
	FROM metric_raw r JOIN metric_series s ON s.id = r.series
	CROSS JOIN LATERAL unnest(r.t, r.v) AS u(t, v)
	UNION ALL
	SELECT l.ts, l.host, l.check_name, l.metric, l.value
	FROM metric_legacy l, metric_fold f
	WHERE l.ts >= f.legacy_next;
