-- CSAT per person (issue #15): the agent and team a solved ticket had when its survey was scheduled
-- (ticket.solved's assignee_agent_id and team_id), kept on the invitation and copied to its answer, so
-- the CSAT report can be read by agent and by team.
ALTER TABLE invitations ADD COLUMN agent_id text;
ALTER TABLE invitations ADD COLUMN team_id text;
ALTER TABLE answers ADD COLUMN agent_id text;
ALTER TABLE answers ADD COLUMN team_id text;
