-- A deleted account's username stays reserved for 30 days (issue 28), so that nobody takes a name that
-- people still follow, mention or trust in the days after its owner left.
ALTER TABLE users ADD COLUMN former_username TEXT;
CREATE INDEX users_by_former_username ON users(former_username) WHERE former_username IS NOT NULL;
