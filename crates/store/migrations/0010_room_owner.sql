-- Which node runs a live room, and until when its lease holds (Unix milliseconds). One node: always the
-- same. A cluster: the owner renews the lease; when it lapses another node takes the room over.
ALTER TABLE rooms ADD COLUMN owner TEXT;
ALTER TABLE rooms ADD COLUMN lease_until BIGINT;
