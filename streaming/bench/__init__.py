"""`sems bench ingest`: the real MQTT -> bridge -> Kafka -> Beam job -> QuestDB path under load, with a peer."""
