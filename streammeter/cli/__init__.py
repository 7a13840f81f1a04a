"""The `streammeter` command line."""
