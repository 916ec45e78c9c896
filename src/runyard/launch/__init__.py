"""Running a job: the supervisor, the per-node agent, data and environment preparation."""
