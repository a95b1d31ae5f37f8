-- Closed rooms' invitations live in the room while it is live (live rooms do not survive a restart), and
-- nothing ever read this table: it goes. When live rooms come to survive restarts, their invitations will
-- be stored with the rest of the room's state.
DROP TABLE room_invites;
