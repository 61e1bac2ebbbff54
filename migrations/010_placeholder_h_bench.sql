-- Placeholder on branch h-bench only, so tern (which refuses gaps) reaches 012 here.
-- At merge: delete this file (the lead's own 010 takes its number) and renumber 012.
SELECT 1;

---- create above / drop below ----

SELECT 1;
