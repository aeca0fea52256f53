"""The Beam streaming job service: a driver that runs bounded Beam pipelines over Kafka offset ranges back to back."""
