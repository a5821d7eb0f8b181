-- Labels that arrive after their record, as feedback (FeedbackReceived). Kept apart from
-- records so a label that overtakes its record is not lost: readers take
-- COALESCE(records.label, labels.label). The first label given for a record wins, like
-- the first copy of a record.
CREATE TABLE labels (
    stream     text NOT NULL REFERENCES streams (name),
    record_id  text NOT NULL,
    label      jsonb NOT NULL,
    event_id   text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, record_id)
);
