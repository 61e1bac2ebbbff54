-- Placeholder on branch h-dunning only, so tern (which refuses gaps) reaches 012 here.
-- At merge: delete this file (the other branch's 011 takes its number).
SELECT 1;

---- create above / drop below ----

SELECT 1;
