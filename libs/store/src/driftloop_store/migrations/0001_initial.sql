-- The knowledge base's first schema: streams and their records, snapshots, experiments
-- and trials, artifacts and models, what served when, drift, decisions, people, alerts.
--
-- Entity ids (experiments, trials, models, decisions, drift events) are text holding the
-- UUID strings the events carry, so rows join to events without casts. Logs that only
-- this database names (serving history, human actions, alerts, rejects) use identities.
-- Enumerations mirror driftloop_contracts; a new value there needs a migration here.

CREATE TABLE streams (
    name        text PRIMARY KEY,
    -- feature name -> type
    schema      jsonb NOT NULL CHECK (jsonb_typeof(schema) = 'object'),
    target      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Ingestion COPYs into a staging table and inserts ON CONFLICT DO NOTHING, so the
-- primary key is what makes redelivered records harmless.
CREATE TABLE records (
    stream      text NOT NULL REFERENCES streams (name),
    record_id   text NOT NULL,
    event_time  timestamptz NOT NULL,
    features    jsonb NOT NULL,
    label       jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, record_id)
);
CREATE INDEX records_stream_event_time_idx ON records (stream, event_time);

-- No foreign key on stream: a record for a stream nobody registered is itself a reject.
-- The payload is text because a rejected message may not be JSON at all.
CREATE TABLE rejected_records (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream      text,
    record_id   text,
    field       text,
    reason      text NOT NULL,
    payload     text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_records_stream_at_idx ON rejected_records (stream, at);

CREATE TABLE snapshots (
    hash              text PRIMARY KEY,
    stream            text NOT NULL REFERENCES streams (name),
    window_definition jsonb NOT NULL,
    row_count         bigint NOT NULL CHECK (row_count >= 0),
    meta_features     jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX snapshots_stream_created_at_idx ON snapshots (stream, created_at);

CREATE TABLE experiments (
    id             text PRIMARY KEY,
    stream         text NOT NULL REFERENCES streams (name),
    trigger        text NOT NULL CHECK (trigger IN ('drift', 'schedule', 'manual')),
    -- what caused it, e.g. the drift event id; not a foreign key since schedules have none
    trigger_ref    text,
    spec           jsonb NOT NULL,
    budget_trials  integer NOT NULL CHECK (budget_trials >= 1),
    budget_seconds double precision NOT NULL CHECK (budget_seconds > 0),
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'paused', 'completed', 'stopped', 'failed')),
    seeded_from    jsonb NOT NULL DEFAULT '[]',
    -- null until the experiment has taken its snapshot
    snapshot_hash  text REFERENCES snapshots (hash),
    requested_by   text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    ended_at       timestamptz,
    reason         text NOT NULL DEFAULT ''
);
CREATE INDEX experiments_stream_created_at_idx ON experiments (stream, created_at);
CREATE INDEX experiments_snapshot_hash_idx ON experiments (snapshot_hash);
CREATE INDEX experiments_active_idx ON experiments (stream)
    WHERE status IN ('pending', 'running', 'paused');

CREATE TABLE artifacts (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes       bytea NOT NULL,
    size        bigint NOT NULL CHECK (size = octet_length(bytes)),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Trial status is the scheduler's to define, so it is not constrained here yet.
CREATE TABLE trials (
    id               text PRIMARY KEY,
    experiment_id    text NOT NULL REFERENCES experiments (id),
    family           text NOT NULL,
    params           jsonb NOT NULL DEFAULT '{}',
    seed             bigint NOT NULL,
    status           text NOT NULL DEFAULT 'requested',
    attempt          integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    metrics          jsonb,
    duration_seconds double precision CHECK (duration_seconds >= 0),
    artifact_sha256  text REFERENCES artifacts (sha256),
    code_version     text,
    library_versions jsonb,
    worker           text,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX trials_experiment_id_idx ON trials (experiment_id);
CREATE INDEX trials_family_idx ON trials (family);

CREATE TABLE models (
    id              text PRIMARY KEY,
    stream          text NOT NULL REFERENCES streams (name),
    version         integer NOT NULL CHECK (version >= 1),
    trial_id        text REFERENCES trials (id),
    artifact_sha256 text NOT NULL REFERENCES artifacts (sha256),
    family          text NOT NULL,
    params          jsonb NOT NULL DEFAULT '{}',
    metrics         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream, version),
    -- the target of (stream, model_id) foreign keys: a stream serves only its own models
    UNIQUE (stream, id)
);
CREATE INDEX models_trial_id_idx ON models (trial_id);

CREATE TABLE serving_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream      text NOT NULL REFERENCES streams (name),
    model_id    text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    reason      text NOT NULL,
    actor       text NOT NULL,
    FOREIGN KEY (stream, model_id) REFERENCES models (stream, id),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- The open row is the champion; two would mean two champions.
CREATE UNIQUE INDEX serving_history_one_open_idx ON serving_history (stream)
    WHERE ended_at IS NULL;
CREATE INDEX serving_history_stream_started_at_idx ON serving_history (stream, started_at);
CREATE INDEX serving_history_model_id_idx ON serving_history (model_id);

CREATE TABLE pins (
    stream      text PRIMARY KEY REFERENCES streams (name),
    model_id    text NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (stream, model_id) REFERENCES models (stream, id)
);

CREATE TABLE drift_events (
    event_id     text PRIMARY KEY,
    stream       text NOT NULL REFERENCES streams (name),
    source       text NOT NULL CHECK (source IN ('features', 'errors', 'report')),
    detector     text NOT NULL,
    features     text[] NOT NULL DEFAULT '{}',
    statistic    double precision NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    report_uri   text,
    evidence     jsonb NOT NULL DEFAULT '{}',
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX drift_events_stream_at_idx ON drift_events (stream, at);

CREATE TABLE holdouts (
    hash        text PRIMARY KEY,
    stream      text NOT NULL REFERENCES streams (name),
    uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE decisions (
    id              text PRIMARY KEY,
    stream          text NOT NULL REFERENCES streams (name),
    experiment_id   text REFERENCES experiments (id),
    model_id        text NOT NULL REFERENCES models (id),
    champion_id     text REFERENCES models (id),
    verdict         text NOT NULL CHECK (verdict IN ('promote', 'await_approval', 'reject')),
    metric          text NOT NULL,
    candidate_score double precision NOT NULL,
    champion_score  double precision,
    test            text NOT NULL,
    statistic       double precision,
    p_value         double precision CHECK (p_value BETWEEN 0 AND 1),
    alpha           double precision NOT NULL,
    min_gain        double precision NOT NULL,
    holdout_hash    text NOT NULL REFERENCES holdouts (hash),
    status          text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'final')),
    reason          text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_stream_at_idx ON decisions (stream, at);
CREATE INDEX decisions_model_id_idx ON decisions (model_id);
CREATE INDEX decisions_experiment_id_idx ON decisions (experiment_id);
CREATE INDEX decisions_pending_idx ON decisions (stream) WHERE status = 'pending';

-- target_id is text whatever the target, so one log covers streams, models and experiments.
CREATE TABLE human_actions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor       text NOT NULL,
    action      text NOT NULL,
    target_kind text NOT NULL,
    target_id   text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    payload     jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX human_actions_target_idx ON human_actions (target_kind, target_id, at);
CREATE INDEX human_actions_actor_at_idx ON human_actions (actor, at);

CREATE TABLE alerts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL,
    stream       text REFERENCES streams (name),
    url          text NOT NULL,
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   text,
    at           timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX alerts_pending_idx ON alerts (at) WHERE status = 'pending';
CREATE INDEX alerts_stream_at_idx ON alerts (stream, at);
