-- The language each person reads Stoa in (issue 33 §3): what their web push notifications and calendar feed
-- are written in. The client sets it to the language it shows; English until then.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
