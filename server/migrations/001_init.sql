-- Every entity of every resource, live or deleted (a deleted one stays as a
-- tombstone so the delta feed can report it).
CREATE TABLE entities (
  resource text NOT NULL,
  id text NOT NULL,
  -- The entity exactly as served, including its id and version.
  data jsonb NOT NULL,
  version integer NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  -- Change sequence number of the entity's last write: the delta cursor.
  seq bigint NOT NULL,
  PRIMARY KEY (resource, id)
);
-- Owned by the column so that TRUNCATE ... RESTART IDENTITY restarts it.
CREATE SEQUENCE change_seq OWNED BY entities.seq;
CREATE INDEX entities_delta ON entities (resource, seq);

-- The first answer to every idempotent write, per user and key.
CREATE TABLE idempotency_keys (
  user_name text NOT NULL,
  key text NOT NULL,
  -- sha256 of method, path, canonical body and If-Match.
  fingerprint text NOT NULL,
  status integer NOT NULL,
  -- JSON text, not jsonb: a replay must be byte-identical to the first answer.
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_name, key)
);

-- Every applied write: the test oracle for "each change applied once".
CREATE TABLE ledger (
  seq bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  resource text NOT NULL,
  entity_id text,
  op text NOT NULL,
  idempotency_key text,
  version_before integer,
  version_after integer,
  body jsonb,
  user_name text NOT NULL
);
CREATE INDEX ledger_resource ON ledger (resource, seq);

-- Last server-assigned id per resource (serverIds mode and seeding).
CREATE TABLE id_counters (
  resource text PRIMARY KEY,
  last bigint NOT NULL
);
