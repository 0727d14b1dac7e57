-- 006: the incident lifecycle.  Every fault goes through detection, first
-- isolation, impact assessment, countermeasure and recovery, fault record,
-- permanent fix and manual update to closed.  The phases, the moves between
-- them with the roles allowed to make them, the fields each phase needs and
-- the priority matrix are tables, not code.  Every change goes through the
-- functions of func/lifecycle.sql, which check it and write an append-only
-- audit row in the same transaction; incidentd and incidentctl both call
-- them.
--
-- Errors raised here carry their own SQLSTATE so that callers can tell them
-- apart: LC001 refused (illegal move, missing field, bad value, role),
-- LC002 conflict (someone else changed the incident first), LC003 no such
-- incident or problem.

CREATE TABLE lifecycle_phase (
	phase   text PRIMARY KEY,
	seq     smallint NOT NULL UNIQUE,
	name_ja text NOT NULL,
	name_en text NOT NULL
);

INSERT INTO lifecycle_phase VALUES
	('detection',     1, '障害検知',         'detection'),
	('isolation',     2, '一次切り分け',     'first isolation'),
	('impact',        3, '影響範囲見極め',   'impact assessment'),
	('recovery',      4, '対処法検討と復旧', 'countermeasure and recovery'),
	('record',        5, '障害記録',         'fault record'),
	('permanent_fix', 6, '恒久措置検討',     'permanent fix'),
	('manual_update', 7, 'マニュアル整備',   'manual update'),
	('closed',        8, '完了',             'closed');

-- Who may act: 'system' is incidentd itself; viewers may only read.
CREATE TABLE lifecycle_role (
	role        text PRIMARY KEY,
	may_change  boolean NOT NULL,
	description text NOT NULL
);

INSERT INTO lifecycle_role VALUES
	('system',        true,  'incidentd, from what monitord reports'),
	('administrator', true,  'IT department staff who approve and close'),
	('operator',      true,  'IT department operators (当番)'),
	('outsourcer',    true,  'the outsourcer, on incidents assigned to it'),
	('viewer',        false, 'may read, never change');

-- The allowed moves.  forward: to the next phase once the current one's
-- fields are filled; back: a correction, with a reason; reopen: the fault
-- came back after its recovery.
CREATE TABLE lifecycle_transition (
	from_phase text NOT NULL REFERENCES lifecycle_phase,
	to_phase   text NOT NULL REFERENCES lifecycle_phase,
	kind       text NOT NULL CHECK (kind IN ('forward', 'back', 'reopen')),
	roles      text[] NOT NULL,
	PRIMARY KEY (from_phase, to_phase)
);

INSERT INTO lifecycle_transition VALUES
	('detection',     'isolation',     'forward',
	    '{operator,outsourcer,administrator}'),
	('isolation',     'impact',        'forward',
	    '{operator,outsourcer,administrator}'),
	('impact',        'recovery',      'forward',
	    '{operator,outsourcer,administrator}'),
	('recovery',      'record',        'forward',
	    '{operator,outsourcer,administrator}'),
	('record',        'permanent_fix', 'forward',
	    '{operator,administrator}'),
	('permanent_fix', 'manual_update', 'forward',
	    '{operator,administrator}'),
	('manual_update', 'closed',        'forward', '{administrator}'),
	('isolation',     'detection',     'back',
	    '{operator,administrator}'),
	('impact',        'isolation',     'back',
	    '{operator,administrator}'),
	('recovery',      'impact',        'back',
	    '{operator,administrator}'),
	-- also the way back when the fault recurs (the system reopens)
	('record',        'recovery',      'back',
	    '{operator,administrator,system}'),
	('permanent_fix', 'record',        'back',
	    '{operator,administrator}'),
	('manual_update', 'permanent_fix', 'back',
	    '{operator,administrator}'),
	('permanent_fix', 'recovery',      'reopen',
	    '{system,administrator}'),
	('manual_update', 'recovery',      'reopen',
	    '{system,administrator}'),
	('closed',        'recovery',      'reopen',
	    '{system,administrator}');

-- The impact x urgency matrix (1 = high); priority 1 is the most urgent.
CREATE TABLE priority_matrix (
	impact   smallint NOT NULL CHECK (impact BETWEEN 1 AND 3),
	urgency  smallint NOT NULL CHECK (urgency BETWEEN 1 AND 3),
	priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
	PRIMARY KEY (impact, urgency)
);

INSERT INTO priority_matrix VALUES
	(1, 1, 1), (1, 2, 2), (1, 3, 3),
	(2, 1, 2), (2, 2, 3), (2, 3, 4),
	(3, 1, 3), (3, 2, 4), (3, 3, 5);

-- Problem records: the cause behind one or more incidents and its
-- permanent fix.
CREATE TABLE problem (
	id            bigserial PRIMARY KEY,
	ref           text GENERATED ALWAYS AS
	                  ('PRB-' || lpad(id::text, 6, '0')) STORED,
	title         text NOT NULL CHECK (title <> ''),
	status        text NOT NULL DEFAULT 'open'
	                  CHECK (status IN ('open', 'known_error', 'resolved',
	                                    'closed')),
	root_cause    text,
	workaround    text,
	permanent_fix text,
	due           date,
	created_at    timestamptz NOT NULL DEFAULT now(),
	created_by    text NOT NULL,
	updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The lifecycle's fields on the incident.
ALTER TABLE incident
	ADD CONSTRAINT incident_phase_known FOREIGN KEY (phase)
	    REFERENCES lifecycle_phase,
	ADD COLUMN origin text NOT NULL DEFAULT 'monitord'
	    CHECK (origin IN ('monitord', 'manual')),
	ADD COLUMN reported_by text,
	ADD COLUMN suspected_component text,
	ADD COLUMN suspected_segment text,
	ADD COLUMN affected_services text[],
	ADD COLUMN affected_departments text[],
	ADD COLUMN impact smallint CHECK (impact BETWEEN 1 AND 3),
	ADD COLUMN urgency smallint CHECK (urgency BETWEEN 1 AND 3),
	ADD COLUMN priority smallint CHECK (priority BETWEEN 1 AND 5),
	ADD COLUMN countermeasure text,
	ADD COLUMN cause text,
	ADD COLUMN action text,
	ADD COLUMN fault_start timestamptz,
	ADD COLUMN fault_end timestamptz,
	ADD COLUMN problem_id bigint REFERENCES problem,
	ADD COLUMN fix_waiver text,
	ADD COLUMN manual_doc text,
	ADD COLUMN manual_rev text,
	ADD COLUMN manual_waiver text,
	ADD COLUMN suggested_problem_id bigint REFERENCES problem,
	ADD COLUMN acknowledged_at timestamptz,
	ADD COLUMN acknowledged_by text,
	ADD COLUMN assignee text,
	ADD COLUMN assignee_kind text
	    CHECK (assignee_kind IN ('person', 'team', 'outsourcer')),
	ADD COLUMN reopen_count integer NOT NULL DEFAULT 0,
	ADD COLUMN closed_at timestamptz,
	ADD CONSTRAINT incident_fault_order
	    CHECK (fault_end IS NULL OR fault_start IS NULL
	           OR fault_end >= fault_start);

CREATE INDEX incident_problem ON incident (problem_id)
	WHERE problem_id IS NOT NULL;

CREATE INDEX incident_host_open ON incident (host) WHERE status = 'open';

CREATE INDEX incident_key_recovered ON incident (dedup_key, recovered_at)
	WHERE status = 'recovered';

-- The fields people (and the system) may set, the phase whose form shows
-- them, and their type.
CREATE TABLE lifecycle_field (
	field    text PRIMARY KEY,
	phase    text NOT NULL REFERENCES lifecycle_phase,
	type     text NOT NULL CHECK (type IN ('text', 'text[]', 'smallint',
	                                       'bigint', 'timestamptz')),
	label_ja text NOT NULL,
	label_en text NOT NULL
);

INSERT INTO lifecycle_field VALUES
	('summary',              'detection',     'text', '件名', 'summary'),
	('suspected_component',  'isolation',     'text', '被疑箇所',
	    'suspected component'),
	('suspected_segment',    'isolation',     'text', '被疑セグメント',
	    'suspected segment'),
	('affected_services',    'impact',        'text[]', '影響業務',
	    'affected services'),
	('affected_departments', 'impact',        'text[]', '影響部署',
	    'affected departments'),
	('impact',               'impact',        'smallint', '影響度',
	    'impact'),
	('urgency',              'impact',        'smallint', '緊急度',
	    'urgency'),
	('countermeasure',       'recovery',      'text', '対処内容',
	    'countermeasure'),
	('recovered_at',         'recovery',      'timestamptz', '復旧日時',
	    'recovery time'),
	('cause',                'record',        'text', '原因', 'cause'),
	('action',               'record',        'text', '処置', 'action'),
	('fault_start',          'record',        'timestamptz', '障害発生日時',
	    'fault start'),
	('fault_end',            'record',        'timestamptz', '障害終了日時',
	    'fault end'),
	('problem_id',           'permanent_fix', 'bigint', '問題管理番号',
	    'problem'),
	('fix_waiver',           'permanent_fix', 'text', '恒久措置不要の理由',
	    'permanent fix waiver'),
	('manual_doc',           'manual_update', 'text', 'マニュアル文書',
	    'manual document'),
	('manual_rev',           'manual_update', 'text', 'マニュアル版数',
	    'manual revision'),
	('manual_waiver',        'manual_update', 'text',
	    'マニュアル改訂不要の理由', 'manual update waiver');

-- What a phase needs before the incident may leave it forward: all of
-- fields, or else all of alt_fields.
CREATE TABLE lifecycle_requirement (
	phase      text NOT NULL REFERENCES lifecycle_phase,
	fields     text[] NOT NULL,
	alt_fields text[],
	PRIMARY KEY (phase, fields)
);

INSERT INTO lifecycle_requirement VALUES
	('isolation',     '{suspected_component}', NULL),
	('isolation',     '{suspected_segment}', NULL),
	('impact',        '{affected_services}', NULL),
	('impact',        '{affected_departments}', NULL),
	('impact',        '{impact}', NULL),
	('impact',        '{urgency}', NULL),
	('recovery',      '{countermeasure}', NULL),
	('recovery',      '{recovered_at}', NULL),
	('record',        '{cause}', NULL),
	('record',        '{action}', NULL),
	('record',        '{fault_start}', NULL),
	('record',        '{fault_end}', NULL),
	('permanent_fix', '{problem_id}', '{fix_waiver}'),
	('manual_update', '{manual_doc,manual_rev}', '{manual_waiver}');

-- Audit: every field change, who, when, old, new and why.
CREATE TABLE incident_field_change (
	id          bigserial PRIMARY KEY,
	incident_id bigint NOT NULL REFERENCES incident (id),
	at          timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor       text NOT NULL,
	role        text NOT NULL,
	field       text NOT NULL,
	old_value   jsonb,
	new_value   jsonb,
	reason      text NOT NULL DEFAULT ''
);

CREATE INDEX incident_field_change_incident
	ON incident_field_change (incident_id);

-- The moves' clock is the statement's, like the field changes', so that a
-- history orders a move after the fields set with it.
ALTER TABLE incident_transition
	ADD COLUMN role text NOT NULL DEFAULT 'system',
	ADD COLUMN kind text,
	ALTER COLUMN at SET DEFAULT clock_timestamp();

-- Notes on an incident, append-only like the audit.
CREATE TABLE incident_note (
	id          bigserial PRIMARY KEY,
	incident_id bigint NOT NULL REFERENCES incident (id),
	at          timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor       text NOT NULL,
	role        text NOT NULL,
	body        text NOT NULL CHECK (body <> '')
);

CREATE INDEX incident_note_incident ON incident_note (incident_id);

-- Changes of problem records.
CREATE TABLE problem_change (
	id         bigserial PRIMARY KEY,
	problem_id bigint NOT NULL REFERENCES problem (id),
	at         timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor      text NOT NULL,
	role       text NOT NULL,
	field      text NOT NULL,
	old_value  jsonb,
	new_value  jsonb,
	reason     text NOT NULL DEFAULT ''
);

-- A storm behind one failed parent is one root incident with its children
-- attached: the checks that were unreachable or suppressed because of it.
CREATE TABLE incident_child (
	incident_id  bigint NOT NULL REFERENCES incident (id),
	host         text NOT NULL,
	check_name   text NOT NULL,
	state        text NOT NULL,
	host_state   text,
	attached_at  timestamptz NOT NULL DEFAULT now(),
	event_id     bigint REFERENCES state_event (id),
	recovered_at timestamptz,
	PRIMARY KEY (incident_id, host, check_name)
);

CREATE INDEX incident_child_open ON incident_child (host, check_name)
	WHERE recovered_at IS NULL;

-- The service map: business services, what they depend on, who uses them
-- and who operates them.  incidentd replaces it from its config.
CREATE TABLE service (
	name       text PRIMARY KEY,
	title      text NOT NULL,
	operator   text NOT NULL CHECK (operator IN ('in-house', 'outsourcer')),
	-- the impact of its failure, as in priority_matrix (1 = high)
	impact     smallint NOT NULL DEFAULT 2 CHECK (impact BETWEEN 1 AND 3),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE service_department (
	service    text NOT NULL REFERENCES service ON DELETE CASCADE,
	department text NOT NULL,
	PRIMARY KEY (service, department)
);

-- check_name '' means any check of the host.
CREATE TABLE service_dependency (
	service    text NOT NULL REFERENCES service ON DELETE CASCADE,
	host       text NOT NULL,
	check_name text NOT NULL DEFAULT '',
	PRIMARY KEY (service, host, check_name)
);

CREATE INDEX service_dependency_host ON service_dependency (host);

-- Settings of the lifecycle that incidentd's config sets.
CREATE TABLE lifecycle_setting (
	id             boolean PRIMARY KEY DEFAULT true CHECK (id),
	reopen_window  interval NOT NULL DEFAULT '1 hour',
	problem_window interval NOT NULL DEFAULT '30 days'
);

INSERT INTO lifecycle_setting DEFAULT VALUES;

-- A recurrence may come back to the incident it recovered from, so the
-- same kind of message can go out again in a later round.
ALTER TABLE notification ADD COLUMN round integer NOT NULL DEFAULT 0;

ALTER TABLE notification
	DROP CONSTRAINT notification_incident_id_kind_channel_recipient_key;

ALTER TABLE notification ADD CONSTRAINT notification_once
	UNIQUE (incident_id, kind, round, channel, recipient);
