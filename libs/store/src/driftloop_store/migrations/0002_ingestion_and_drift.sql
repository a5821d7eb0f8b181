-- What ingestion and drift need: a stream's spec, the batch a record arrived in and its
-- arrival order, rejects keyed by their Kafka position, and typed artifacts (reports).

-- The validated experiment spec as JSON; null for a stream registered without one.
ALTER TABLE streams ADD COLUMN spec jsonb;

-- seq: arrival order across the stream (drift reads batches in it); batch_id: the
-- RecordsIngested event that announced the row, so drift can read exactly that batch.
ALTER TABLE records ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE records ADD COLUMN batch_id uuid;
CREATE INDEX records_batch_id_idx ON records (batch_id);
CREATE INDEX records_stream_seq_idx ON records (stream, seq);

-- A redelivered message must not be counted as a second reject: its Kafka position is
-- its identity. Rejects from elsewhere (HTTP) carry no position and are all kept.
ALTER TABLE rejected_records ADD COLUMN source_topic text;
ALTER TABLE rejected_records ADD COLUMN source_partition integer;
ALTER TABLE rejected_records ADD COLUMN source_offset bigint;
CREATE UNIQUE INDEX rejected_records_source_idx
    ON rejected_records (source_topic, source_partition, source_offset);

-- Reports (HTML) live beside model artifacts, content-addressed the same way.
ALTER TABLE artifacts ADD COLUMN media_type text NOT NULL DEFAULT 'application/octet-stream';
