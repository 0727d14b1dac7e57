-- 021: the hourly bins of SNMP interface traffic kept longer than the
-- others when the department asks (incidentd.yaml's retention.interfaces).
-- Before a partition of metric_1h past its retention is dropped, the rows
-- of those series (metric_series_long) are copied into metric_1h_long,
-- which is partitioned the same way and dropped past its own retention.
-- No partitions are made ahead for it (ahead 0): rows come only from old
-- partitions of metric_1h.
CREATE TABLE metric_1h_long (LIKE metric_1h) PARTITION BY RANGE (start);

CREATE TABLE metric_1h_long_late PARTITION OF metric_1h_long DEFAULT;

CREATE INDEX metric_1h_long_series ON metric_1h_long (series, start);

INSERT INTO metric_tier VALUES
	('1h_long', 'metric_1h_long', 'start', '28 days', '0', '1095 days');
