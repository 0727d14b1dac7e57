-- 003: SNMP.  Measured values (interface traffic, disk use, CPU load, any
-- polled OID) arrive by COPY in batches; traps that are not state changes
-- are kept as events.

-- One measured value.  No key: COPY cannot skip duplicates, and a batch
-- resent after a lost connection may repeat a few rows, which a graph
-- survives.
CREATE TABLE metric_sample (
	ts         timestamptz NOT NULL,
	host       text NOT NULL,
	check_name text NOT NULL,
	metric     text NOT NULL,
	value      double precision NOT NULL
);

CREATE INDEX metric_sample_series ON metric_sample (host, check_name, metric, ts);

CREATE INDEX metric_sample_ts ON metric_sample (ts);

-- A trap or inform that is kept as it came (those that are state changes
-- also go through monitord_record_changes).
CREATE TABLE trap_event (
	id          bigserial PRIMARY KEY,
	source      text NOT NULL,          -- the monitord instance
	received_at timestamptz NOT NULL,
	sender      inet NOT NULL,          -- where the datagram came from
	host        text,                   -- the configured host, if matched
	version     text NOT NULL,          -- v1, v2c
	inform      boolean NOT NULL DEFAULT false,
	trap_oid    text NOT NULL,
	trap_name   text,                   -- linkDown, coldStart, ...
	varbinds    jsonb NOT NULL DEFAULT '[]'
);

CREATE INDEX trap_event_host ON trap_event (host, received_at);
