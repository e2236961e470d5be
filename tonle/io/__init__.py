"""I/O the stages share: MQTT, the durable spool, InfluxDB reads and writes, the clock."""
