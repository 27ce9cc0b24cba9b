-- The tool category of each stored event (the filter's classification: recon, exploitation,
-- lateral, collection, exfiltration, benign …), shown in the dashboard's timeline. Events
-- stored before this migration have '' (unknown).

ALTER TABLE events ADD COLUMN category TEXT NOT NULL DEFAULT '';
