"""Singer target that loads any tap's streams into InfluxDB."""
