-- Ids of DESIGN's 1,024 characters take up to 3,072 bytes in UTF-8, more than a
-- btree entry holds (2,704): the key is unique by its hash instead of by its text.
-- The database encoding is UTF8 for good, so the hash of an id never changes.
CREATE FUNCTION entity_key(id text) RETURNS bytea
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT sha256(convert_to(id, 'UTF8')) $$;
ALTER TABLE entities DROP CONSTRAINT entities_pkey;
CREATE UNIQUE INDEX entities_key ON entities (resource, entity_key(id));
