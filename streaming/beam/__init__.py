"""The Beam streaming job's building blocks: Kafka offset-range source, reading transforms, QuestDB sinks.

`pipeline.build` composes them; `streaming.beam_job` runs one bounded pipeline per batch
of Kafka offset ranges and commits the offsets only after QuestDB acknowledged the writes.
"""
