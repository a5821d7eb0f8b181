-- What a trial's fit and validation cost in CPU time, on its one thread: training's
-- compute, apart from what the training processes spend waiting for work.
ALTER TABLE trials ADD COLUMN cpu_seconds double precision;
