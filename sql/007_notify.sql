-- 007: notifications by SMS, and silenced by maintenance.
--
-- A contact may have a mobile number besides (or instead of) a mail
-- address; every notification then goes to each of them, one outbox row
-- per channel, sent, retried and marked alike.  The facts gain the
-- incident's priority, which the SMS text carries.
--
-- Maintenance silences notifications, never monitoring or records.
-- A fault that starts inside a downtime window (monitord marks its state
-- change with the downtime's name) opens its incident as usual but sends
-- no "opened" message; if it is still there when the window ends, the
-- message goes out then.  A "recovered" message goes out exactly when an
-- "opened" one did for that round, inside a window or not, so every
-- started message has its ended one and no ended message comes alone.

-- A storm is one message: an "opened" message waits group_window before
-- it may be sent, and lists the checks attached to its incident by then.
ALTER TABLE lifecycle_setting
	ADD COLUMN group_window interval NOT NULL DEFAULT '10 seconds',
	-- the contacts, for incidentd's own faults (see incident_self_alert)
	ADD COLUMN recipients jsonb NOT NULL DEFAULT '[]',
	-- reminders, the rate limit and escalation (func/notify.sql)
	ADD COLUMN remind_after interval NOT NULL DEFAULT '30 minutes',
	ADD COLUMN remind_max integer NOT NULL DEFAULT 3,
	ADD COLUMN rate_limit integer NOT NULL DEFAULT 0,
	ADD COLUMN rate_window interval NOT NULL DEFAULT '10 minutes',
	ADD COLUMN escalate_priorities smallint[];

ALTER TABLE incident
	ADD COLUMN silenced_by text,
	ADD COLUMN silenced_until timestamptz;

CREATE INDEX incident_silenced ON incident (silenced_until)
	WHERE silenced_by IS NOT NULL;

-- notification_queue, with the channels and the silence of maintenance
-- windows, is in 008_delivery.

-- A channel that keeps failing is a fault of incidentd itself: when a
-- notification is given up on, an incident opens for its channel (host
-- "incidentd", check "notify/<channel>") and is notified over every
-- channel, so a dead mail relay is reported by SMS; the next message that
-- gets through on that channel recovers it.  The contacts it goes to are
-- the ones incidentd last configured.
ALTER TABLE incident DROP CONSTRAINT incident_origin_check;

ALTER TABLE incident ADD CONSTRAINT incident_origin_check
	CHECK (origin IN ('monitord', 'manual', 'incidentd'));

-- Reminders: an incident of priority 1 or 2 that nobody has acknowledged
-- is told again every remind_after, at most remind_max times.  Each
-- reminder is a message of its own kind, numbered by its round.
ALTER TABLE notification DROP CONSTRAINT notification_kind_check;

ALTER TABLE notification ADD CONSTRAINT notification_kind_check
	CHECK (kind IN ('opened', 'recovered', 'reminder', 'escalated'));

-- A rate limit per recipient and channel: a recipient who was sent
-- rate_limit messages within rate_window waits until the oldest of them
-- leaves the window.  Messages are deferred, never dropped, and those of
-- a priority 1 incident never wait.  0 turns it off.
CREATE INDEX notification_sent_to ON notification (channel, recipient,
    sent_at) WHERE status = 'sent';

-- Escalation: a contact with an escalation delay is told of an incident
-- only if it is still unacknowledged that long after its first message
-- (and of a priority that escalates); acknowledging stops it.  Such a
-- message is an "escalated" one whose round is the reopen round times 100
-- plus the level, and its recipients are told of the recovery too.
