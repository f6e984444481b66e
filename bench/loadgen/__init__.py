"""The benchmark dataset's generators: patients and timelines (`patients`), care plans, tasks and
outbox rows (`followups`), over one COPY plumbing (`bulk_copy`)."""
