-- The dunning policy set through PUT /v1/settings/dunning (package settings): one row,
-- which overrides the configuration's (PAYORCH_RETRY_SCHEDULE,
-- PAYORCH_DUNNING_BY_ERROR_TYPE). Schedules are stored as Go durations ("15m", "2h"),
-- validated by package dunning before they are written; each payment workflow takes a
-- copy when it starts.
CREATE TABLE dunning_policy (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    default_schedule text[] NOT NULL CHECK (cardinality(default_schedule) BETWEEN 1 AND 10),
    by_error_type    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(by_error_type) = 'object'),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- updated_by is the fingerprint of the API key that set it.
    updated_by       text NOT NULL DEFAULT ''
);

---- create above / drop below ----

DROP TABLE dunning_policy;
