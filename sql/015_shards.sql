-- 015: several monitord share the hosts.  A host belongs to a network
-- segment that one poller is pinned to (a separated network only it can
-- reach), or else to one of 256 hash shards.  Each poller's session holds
-- a shared "member" advisory lock and an exclusive advisory lock per shard
-- it probes; PostgreSQL releases them the moment a session ends, so a dead
-- poller's shards are free at once.  Every few seconds each poller calls
-- poller_sync, which takes free shards or gives back extra ones until it
-- holds its share, ceil(256 / live members), preferring shards by a hash of
-- its name and the shard so that the split is stable.  No consensus of our
-- own: the locks are the whole protocol.

CREATE TABLE poller_member (
	instance     text PRIMARY KEY,
	pid          integer NOT NULL,          -- its database session
	pinned       text[] NOT NULL DEFAULT '{}',
	shards       integer[] NOT NULL DEFAULT '{}',
	started_at   timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now()
);
