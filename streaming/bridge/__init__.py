"""The MQTT -> Kafka bridge: validates meter readings at the edge and hands them to Kafka without losing any.

An MQTT message is acknowledged to the broker only after Kafka acknowledged every record
made from it (the readings and any DLQ entries), so a bridge that dies loses nothing: the
broker redelivers what was not acknowledged. See README, "MQTT contract" and "Kafka records".
"""
