-- What experiments, training, evaluation and serving need: snapshots stored as artifacts,
-- trial deadlines and where each configuration came from, the knowledge that seeded an
-- experiment, holdouts as rows, online checkpoints, and events already handled.

-- A snapshot's rows are an artifact (gzip of canonical JSON) under the snapshot's hash, so
-- a trial reads exactly what it was given, however the records table changes later.
ALTER TABLE snapshots ADD CONSTRAINT snapshots_artifact_fk
    FOREIGN KEY (hash) REFERENCES artifacts (sha256);

ALTER TABLE trials ADD CONSTRAINT trials_status_check
    CHECK (status IN ('requested', 'completed', 'failed'));
-- number: the order of asking within the experiment; deadline: when the timeout sweep
-- re-queues it (attempt 2) or fails it; source: the optimiser asked for it, or it repeats a
-- prior experiment's best configuration (seeded_from names that prior trial).
ALTER TABLE trials ADD COLUMN number integer NOT NULL DEFAULT 0 CHECK (number >= 0);
ALTER TABLE trials ADD COLUMN deadline timestamptz;
ALTER TABLE trials ADD COLUMN source text NOT NULL DEFAULT 'search'
    CHECK (source IN ('search', 'seed'));
ALTER TABLE trials ADD COLUMN seeded_from text REFERENCES trials (id);
CREATE UNIQUE INDEX trials_experiment_number_idx ON trials (experiment_id, number);
CREATE INDEX trials_open_deadline_idx ON trials (deadline) WHERE status = 'requested';

-- What knowledge an experiment started from, and from where: archived models re-scored on
-- its window, prior experiments' best configurations enqueued as first trials, and prior
-- trials given to the optimiser as observations.
CREATE TABLE experiment_seeds (
    experiment_id        text NOT NULL REFERENCES experiments (id),
    kind                 text NOT NULL
                         CHECK (kind IN ('rescored_model', 'prior_config', 'prior_observation')),
    -- a model id for rescored_model, else the prior trial's id
    source_id            text NOT NULL,
    source_experiment_id text REFERENCES experiments (id),
    distance             double precision,
    score                double precision,
    detail               jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (experiment_id, kind, source_id)
);

ALTER TABLE experiments ADD COLUMN wall_deadline timestamptz;
ALTER TABLE experiments ADD COLUMN best_trial_id text REFERENCES trials (id);
-- an archived model that answered the experiment without training (a recurring concept)
ALTER TABLE experiments ADD COLUMN candidate_model_id text REFERENCES models (id);

-- A holdout's rows are an artifact too; definition says which rows (snapshot tail, or
-- fresh records newer than a snapshot once the old one's reuse budget was spent).
ALTER TABLE holdouts ADD CONSTRAINT holdouts_artifact_fk
    FOREIGN KEY (hash) REFERENCES artifacts (sha256);
ALTER TABLE holdouts ADD COLUMN definition jsonb NOT NULL DEFAULT '{}';
ALTER TABLE holdouts ADD COLUMN row_count bigint NOT NULL DEFAULT 0 CHECK (row_count >= 0);

-- Decisions name the trial and the approver when there is one.
ALTER TABLE decisions ADD COLUMN decided_by text;
ALTER TABLE decisions ADD COLUMN decided_at timestamptz;

-- Serving history says which decision or human action appointed a model.
ALTER TABLE serving_history ADD COLUMN decision_id text REFERENCES decisions (id);

-- An online model's learned state, saved by serving so that a restart resumes it.
CREATE TABLE online_checkpoints (
    stream          text NOT NULL REFERENCES streams (name),
    model_id        text NOT NULL,
    artifact_sha256 text NOT NULL REFERENCES artifacts (sha256),
    learned         bigint NOT NULL CHECK (learned >= 0),
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, model_id),
    FOREIGN KEY (stream, model_id) REFERENCES models (stream, id)
);

-- Events are delivered at least once: a consumer records each event id it acted on, in
-- the transaction of its effects, and skips an id it finds here.
CREATE TABLE handled_events (
    consumer   text NOT NULL,
    event_id   text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
