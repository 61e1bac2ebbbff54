-- PLACEHOLDER in branch portal only: migration 006 belongs to the branch that fixes
-- issue 10 (wt-workflow). tern needs numbers without holes to apply 007 here; when
-- merging, keep the other branch's 006_payment_policy.sql and drop this one.
SELECT 1;

---- create above / drop below ----

SELECT 1;
