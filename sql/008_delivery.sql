-- How and when notifications are delivered.
--
-- Channels beyond mail and the spool: SMS through an HTTP gateway (same
-- 'sms' rows, another way out) and webhooks for chat tools, a channel of
-- their own.  What the far end called a message it accepted (a relay's
-- queue id, a gateway's message id) is kept with the row.
--
-- Teams, their calendars and their duty roster (当番): in business hours
-- every member of a team is told; outside them, an urgent incident (P1 by
-- default, and one whose priority nobody has set yet) goes at once to the
-- member on duty only, and anything less urgent waits, for every member,
-- until the office opens.  Nothing is dropped: a held message is a row
-- whose next attempt is the opening time.

ALTER TABLE notification ADD COLUMN provider_ref text;

-- When a message was first due: its creation, or the opening of the
-- office it was held for.  Escalation counts from here.
ALTER TABLE notification ADD COLUMN due_at timestamptz;

-- Japan's national holidays and substitute holidays (国民の祝日・休日), as
-- the Cabinet Office publishes them; later years are added by migrations
-- or by hand.
CREATE TABLE national_holiday (
	day  date PRIMARY KEY,
	name text NOT NULL
);

INSERT INTO national_holiday (day, name) VALUES
	('2025-01-01', '元日'), ('2025-01-13', '成人の日'),
	('2025-02-11', '建国記念の日'), ('2025-02-23', '天皇誕生日'),
	('2025-02-24', '休日'), ('2025-03-20', '春分の日'),
	('2025-04-29', '昭和の日'), ('2025-05-03', '憲法記念日'),
	('2025-05-04', 'みどりの日'), ('2025-05-05', 'こどもの日'),
	('2025-05-06', '休日'), ('2025-07-21', '海の日'),
	('2025-08-11', '山の日'), ('2025-09-15', '敬老の日'),
	('2025-09-23', '秋分の日'), ('2025-10-13', 'スポーツの日'),
	('2025-11-03', '文化の日'), ('2025-11-23', '勤労感謝の日'),
	('2025-11-24', '休日'),
	('2026-01-01', '元日'), ('2026-01-12', '成人の日'),
	('2026-02-11', '建国記念の日'), ('2026-02-23', '天皇誕生日'),
	('2026-03-20', '春分の日'), ('2026-04-29', '昭和の日'),
	('2026-05-03', '憲法記念日'), ('2026-05-04', 'みどりの日'),
	('2026-05-05', 'こどもの日'), ('2026-05-06', '休日'),
	('2026-07-20', '海の日'), ('2026-08-11', '山の日'),
	('2026-09-21', '敬老の日'), ('2026-09-22', '休日'),
	('2026-09-23', '秋分の日'), ('2026-10-12', 'スポーツの日'),
	('2026-11-03', '文化の日'), ('2026-11-23', '勤労感謝の日'),
	('2027-01-01', '元日'), ('2027-01-11', '成人の日'),
	('2027-02-11', '建国記念の日'), ('2027-02-23', '天皇誕生日'),
	('2027-03-21', '春分の日'), ('2027-03-22', '休日'),
	('2027-04-29', '昭和の日'), ('2027-05-03', '憲法記念日'),
	('2027-05-04', 'みどりの日'), ('2027-05-05', 'こどもの日'),
	('2027-07-19', '海の日'), ('2027-08-11', '山の日'),
	('2027-09-20', '敬老の日'), ('2027-09-23', '秋分の日'),
	('2027-10-11', 'スポーツの日'), ('2027-11-03', '文化の日'),
	('2027-11-23', '勤労感謝の日');

-- When an office is open: hours on some weekdays in a time zone, closed on
-- national holidays and over the New Year (12/29-1/3) unless told
-- otherwise, with extra closed and open days; or always open (24x7).
CREATE TABLE calendar (
	name        text PRIMARY KEY,
	tz          text NOT NULL DEFAULT 'Asia/Tokyo',
	always_open boolean NOT NULL DEFAULT false,
	weekdays    smallint[] NOT NULL DEFAULT '{1,2,3,4,5}', -- ISO, 1 = Mon
	opens       time NOT NULL DEFAULT '08:30',
	closes      time NOT NULL DEFAULT '17:15',
	holidays    boolean NOT NULL DEFAULT true,
	new_year    boolean NOT NULL DEFAULT true,
	closed_days date[] NOT NULL DEFAULT '{}',
	open_days   date[] NOT NULL DEFAULT '{}',
	CHECK (opens < closes)
);

-- A team: its calendar, its duty rotation (one member at a time, each for
-- duty_every from duty_start on, in order) and the priorities that wake
-- the member on duty outside business hours.
CREATE TABLE team (
	name        text PRIMARY KEY,
	calendar    text REFERENCES calendar (name) ON UPDATE CASCADE,
	duty        text[] NOT NULL DEFAULT '{}',
	duty_start  timestamptz,
	duty_every  interval CHECK (duty_every > '0'),
	after_hours smallint[] NOT NULL DEFAULT '{1}'
);

-- Swaps in the rotation: this member is on duty from starts_at to
-- ends_at, whoever the rotation names.  The latest starting one wins.
CREATE TABLE team_duty_override (
	team      text NOT NULL REFERENCES team (name) ON DELETE CASCADE,
	starts_at timestamptz NOT NULL,
	ends_at   timestamptz NOT NULL,
	contact   text NOT NULL,
	CHECK (starts_at < ends_at)
);

CREATE INDEX team_duty_override_team ON team_duty_override (team,
    starts_at);

-- One-time acknowledgement links (incidentd's /a/<token>): each link names
-- one notification row, so the contact it went to; using it is recorded
-- here once, and acknowledges the incident as that contact.
CREATE TABLE ack_link_use (
	notification_id bigint PRIMARY KEY REFERENCES notification (id),
	used_at         timestamptz NOT NULL DEFAULT now(),
	remote          text NOT NULL DEFAULT ''
);
